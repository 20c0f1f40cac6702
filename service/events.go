package service

import (
	"context"
	"time"

	"kmsconsole/db"
	"kmsconsole/events"
	"kmsconsole/model"
)

// emit puts an event about a change into the outbox, in the change's own
// transaction (SPEC §9): it is delivered if and only if the change
// commits, and survives a crash between the commit and the delivery. Call
// it last in the transaction (db.Tx.AddEvent says why). The delivery worker
// is woken once the transaction has committed.
func (s *Service) emit(tx *db.Tx, ev model.Event) error {
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	if ev.Operator == "" {
		ev.Operator = s.Actor().Name
	}
	if err := tx.AddEvent(ev); err != nil {
		return err
	}
	if wake := s.run.wakeEvents; wake != nil {
		tx.OnCommit(wake)
	}
	return nil
}

// SetEventNotifier has fn called after each commit that queued an event
// (serve wakes its delivery worker with it).
func (s *Service) SetEventNotifier(fn func()) { s.run.wakeEvents = fn }

// EventsRequest selects events for `kmsconsole events list`.
type EventsRequest struct {
	All        bool   // delivered ones too (default: undelivered only)
	SecretName string // one secret's events ("" = all)
	Limit      int    // the oldest Limit (0 = all)
}

// Events lists the outbox: by default the events some channel still owes,
// oldest first, with each channel's attempts and last error. Only the
// channels a delivery has been tried on count (the store does not know
// serve's flags); with none yet, both are shown.
func (s *Service) Events(ctx context.Context, req EventsRequest) (out []db.OutboxEvent, channels []string, err error) {
	err = s.store.Read(ctx, func(tx *db.Tx) error {
		if channels, err = tx.EventChannelsInUse(); err != nil {
			return err
		}
		if len(channels) == 0 {
			channels = db.EventChannels
		}
		out, err = tx.ListEvents(db.EventFilter{Channels: channels, Undelivered: !req.All, SecretName: req.SecretName, Limit: req.Limit})
		return err
	})
	return out, channels, model.Wrap(err)
}

// StuckEvents counts the undelivered events whose last delivery attempt
// failed, over the channels in use, and the oldest of them: the console
// header shows them, since a receiver that is down loses nothing but
// on-call hears nothing either.
func (s *Service) StuckEvents(ctx context.Context) (n int, oldest time.Time, err error) {
	err = s.store.Read(ctx, func(tx *db.Tx) error {
		channels, err := tx.EventChannelsInUse()
		if err != nil {
			return err
		}
		for _, ch := range channels {
			c, err := tx.EventCounts(ch)
			if err != nil {
				return err
			}
			n += c.Failing
			if c.Failing > 0 && (oldest.IsZero() || c.Oldest.Before(oldest)) {
				oldest = c.Oldest
			}
		}
		return nil
	})
	return n, oldest, err
}

// EventWorker makes the delivery worker of this store's outbox (serve runs
// it) and has every commit that queues an event wake it.
func (s *Service) EventWorker(cfg events.Config) (*events.Worker, error) {
	w, err := events.New(s.store, cfg)
	if err != nil {
		return nil, err
	}
	s.SetEventNotifier(w.Notify)
	return w, nil
}
