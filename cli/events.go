package cli

import (
	"strconv"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// eventsCommand is `kmsconsole events list`: the outbox of SPEC §9, for an
// operator who wants to know what serve's --on-event or --event-webhook
// still owes, and why.
func eventsCommand() *Command {
	return &Command{
		Name:    "events",
		Summary: "The events serve delivers (--on-event, --event-webhook): which are still owed, and why.",
		Remote:  true,
		Subs: []*Command{{
			Name: "list", Summary: "List the events not yet delivered (all with --all), oldest first, with each channel's attempts and last error.",
			Run: eventsList,
			Flags: []Flag{
				{Name: "all", Switch: true, Usage: "delivered events too"},
				{Name: "secret", Value: "NAME", Usage: "only the events of one secret"},
				{Name: "limit", Value: "N", Usage: "at most the N oldest"},
			},
			Help: `Every change that has an event (rotation succeeded, failed or settled; secret
created, deleted, restored, purged) writes it to the store in the change's own
transaction; serve delivers it at least once, retrying with backoff, and
marks it delivered when the receiver accepts it. Events are never lost to a
crash: whatever is listed here is still to be delivered. Receivers
deduplicate by Id. No event holds a value.
`,
		}},
	}
}

// eventJSON is one event as `events list` prints it.
type eventJSON struct {
	model.Event
	Deliveries []deliveryJSON
}

type deliveryJSON struct {
	Channel     string
	Attempts    int
	Delivered   string `json:",omitempty"`
	NextAttempt string `json:",omitempty"`
	LastError   string `json:",omitempty"`
}

func eventsList(env *Env, a *Args) int {
	req := service.EventsRequest{All: a.Switch("all"), SecretName: a.Value("secret")}
	if v := a.Value("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return env.Fail(model.InvalidParam("limit", "--limit takes a whole number of at least 1, not %q", v))
		}
		req.Limit = n
	}
	if req.SecretName != "" {
		if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
			return env.Fail(err)
		}
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.WithService(func(svc *service.Service) error {
		evs, channels, err := svc.Events(ctx, req)
		if err != nil {
			return err
		}
		out := make([]eventJSON, 0, len(evs))
		for _, e := range evs {
			j := eventJSON{Event: e.Event}
			for _, d := range e.Deliveries {
				j.Deliveries = append(j.Deliveries, deliveryOf(d))
			}
			out = append(out, j)
		}
		writeJSON(env.Stdout, map[string]any{"Channels": channels, "Events": out})
		return nil
	})
}

func deliveryOf(d db.Delivery) deliveryJSON {
	j := deliveryJSON{Channel: d.Channel, Attempts: d.Attempts, LastError: d.LastError}
	if !d.Delivered.IsZero() {
		j.Delivered = model.FormatTime(d.Delivered)
	} else if !d.NextAttempt.IsZero() {
		j.NextAttempt = model.FormatTime(d.NextAttempt)
	}
	return j
}
