// Package events delivers the events of the store's outbox (SPEC §9) to
// the channels serve is given: a command (--on-event CMD, the event's JSON
// on stdin) and an HTTPS webhook (--event-webhook URL, signed with
// HMAC-SHA256 under the key of --event-webhook-secret-file).
//
// Delivery is at least once: an event is marked delivered only after its
// receiver accepted it (exit status 0, an HTTP 2xx), so a receiver that
// accepted an event whose acknowledgement was then lost (a timeout, the
// process killed between the two) gets it again, with the same Id, and must
// deduplicate by it. Events are never lost: they are committed with the
// change they describe (db.Tx.AddEvent) and stay in the outbox until every
// channel delivered them, across restarts and kill -9. Each channel goes at
// its own pace; on a channel, a secret's events arrive in commit order (the
// next is sent only once the previous was accepted), while other secrets
// go on. Failed deliveries are retried with capped exponential backoff
// (Backoff: about 1 s doubling up to 5 min, jittered), forever: `kmsconsole
// events list` shows what waits, and why.
//
// Several processes may deliver from one store (serve replicas on
// PostgreSQL): each event is claimed by one of them for the length of a
// delivery, so they do not send it twice unless a claim runs out.
package events

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"kmsconsole/db"
)

// Defaults of Config.
const (
	DefaultCommandTimeout = 30 * time.Second
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultPollInterval bounds how long an event committed by another
	// process (a CLI command, another replica) waits to be noticed; this
	// process's own commits call Notify.
	DefaultPollInterval = 2 * time.Second
	DefaultBatch        = 32
	// DefaultRetention is how long delivered events stay listable before
	// they are pruned.
	DefaultRetention = 7 * 24 * time.Hour
	// claimMargin is added to a channel's timeout to make the claim of a
	// delivery: the time another process waits before it concludes the
	// deliverer died and sends the event again.
	claimMargin = 30 * time.Second
	// pruneEvery is how often Run prunes delivered events.
	pruneEvery = time.Hour
	// minWait keeps a worker that found nothing to claim from spinning.
	minWait = 50 * time.Millisecond
)

// Backoff bounds: the first retry after about BackoffMin, doubling with
// every failed attempt up to BackoffMax.
const (
	BackoffMin = time.Second
	BackoffMax = 5 * time.Minute
)

// Backoff is the default wait after attempts failed deliveries of one
// event: BackoffMin·2^(attempts-1), capped at BackoffMax, with equal jitter
// (uniform in [d/2, d)) so that receivers coming back are not hit by every
// retry at once.
func Backoff(attempts int) time.Duration {
	d := BackoffMax
	if attempts < 1 {
		attempts = 1
	}
	if attempts <= 20 {
		d = min(BackoffMin<<(attempts-1), BackoffMax)
	}
	return d/2 + rand.N(d/2)
}

// Config says where events go and how. At least one of Command and
// WebhookURL must be set.
type Config struct {
	// Command, when set, is run as /bin/sh -c Command for each event, with
	// the event's JSON and a newline on stdin (never in its arguments or
	// environment); exit status 0 means accepted.
	Command string
	// CommandTimeout bounds one run (DefaultCommandTimeout if zero); the
	// command's whole process group is killed when it runs out.
	CommandTimeout time.Duration
	// CommandOutput receives the command's stdout and stderr (nil:
	// discarded; the end of it is kept in the error of a failed run).
	CommandOutput io.Writer

	// WebhookURL, when set, receives each event as an HTTPS POST of its
	// JSON, signed (see Sign) under WebhookKey; a 2xx answer means
	// accepted. http:// is refused except to a loopback address.
	WebhookURL string
	// WebhookKey is the HMAC-SHA256 key (LoadWebhookKey reads it from
	// --event-webhook-secret-file). Required with WebhookURL.
	WebhookKey []byte
	// WebhookTimeout bounds one request (DefaultWebhookTimeout if zero).
	WebhookTimeout time.Duration
	// TLSConfig is the TLS client configuration of the webhook (nil: the
	// system's roots). Certificates are always verified.
	TLSConfig *tls.Config

	// Now is the clock (time.Now if nil): it stamps deliveries and decides
	// what is due. Tests move it to simulate hours in milliseconds.
	Now func() time.Time
	// Backoff is the wait after a failed delivery, given the attempts made
	// so far (Backoff if nil).
	Backoff func(attempts int) time.Duration
	// After waits for d (time.After if nil); tests make it move Now.
	After func(d time.Duration) <-chan time.Time
	// PollInterval bounds the wait for events that no Notify announces
	// (DefaultPollInterval if zero).
	PollInterval time.Duration
	// Batch is how many events of one channel are delivered at once, each
	// of another secret (DefaultBatch if zero).
	Batch int
	// Retention is how long delivered events are kept (DefaultRetention
	// if zero; negative: never pruned).
	Retention time.Duration
	// Log hears one line per failed delivery, per recovery and per store
	// error (never a value; events hold none).
	Log func(line string)
}

// channel is one way out for events.
type channel struct {
	name    string // db.ChannelCommand, db.ChannelWebhook
	timeout time.Duration
	deliver func(ctx context.Context, ev *db.OutboxEvent) error
	wake    chan struct{}
}

// Worker delivers the outbox of one store to its channels.
type Worker struct {
	store    *db.Store
	cfg      Config
	channels []*channel
}

// New checks cfg and prepares a worker; nothing is sent before Run or
// DeliverDue.
func New(store *db.Store, cfg Config) (*Worker, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	w := &Worker{store: store, cfg: cfg}
	if cfg.Command != "" {
		c := &commandChannel{cmd: cfg.Command, out: cfg.CommandOutput}
		timeout := cfg.CommandTimeout
		if timeout <= 0 {
			timeout = DefaultCommandTimeout
		}
		w.channels = append(w.channels, &channel{name: db.ChannelCommand, timeout: timeout, deliver: c.deliver})
	}
	if cfg.WebhookURL != "" {
		timeout := cfg.WebhookTimeout
		if timeout <= 0 {
			timeout = DefaultWebhookTimeout
		}
		h, err := newWebhook(cfg.WebhookURL, cfg.WebhookKey, cfg.TLSConfig, timeout, cfg.Batch)
		if err != nil {
			return nil, err
		}
		w.channels = append(w.channels, &channel{name: db.ChannelWebhook, timeout: timeout, deliver: h.deliver})
	} else if len(cfg.WebhookKey) > 0 {
		return nil, errors.New("events: a webhook key without a webhook URL (--event-webhook-secret-file needs --event-webhook)")
	}
	if len(w.channels) == 0 {
		return nil, errors.New("events: no channel to deliver to (--on-event or --event-webhook)")
	}
	for _, ch := range w.channels {
		ch.wake = make(chan struct{}, 1)
	}
	return w, nil
}

// Channels names the worker's channels (db.ChannelCommand, db.ChannelWebhook).
func (w *Worker) Channels() []string {
	var out []string
	for _, ch := range w.channels {
		out = append(out, ch.name)
	}
	return out
}

// Notify tells a running worker that events were just committed, so it
// looks now instead of at its next poll. It never blocks; call it after a
// commit that added events (a call before the commit may find nothing).
func (w *Worker) Notify() {
	for _, ch := range w.channels {
		select {
		case ch.wake <- struct{}{}:
		default:
		}
	}
}

// Round is what one pass over the channels did.
type Round struct {
	Delivered int // events accepted by their receiver
	Failed    int // deliveries that failed (to be retried)
	// Next is when a pass has something to do again: the current time
	// when this one delivered or tried something (more may be due at
	// once), the earliest retry otherwise, zero when nothing is
	// undelivered on any channel.
	Next time.Time
}

// DeliverDue makes one pass: on each channel it claims the events due now
// (at most Batch, each the oldest undelivered of its secret), delivers them
// concurrently and records each outcome. Run calls it in a loop; tests call
// it directly, moving the clock to Next between passes.
func (w *Worker) DeliverDue(ctx context.Context) (Round, error) {
	var total Round
	var errs []error
	for _, ch := range w.channels {
		r, err := w.pass(ctx, ch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		total.Delivered += r.Delivered
		total.Failed += r.Failed
		if !r.Next.IsZero() && (total.Next.IsZero() || r.Next.Before(total.Next)) {
			total.Next = r.Next
		}
	}
	return total, errors.Join(errs...)
}

// pass does one channel's part of DeliverDue.
func (w *Worker) pass(ctx context.Context, ch *channel) (Round, error) {
	now := w.cfg.Now()
	var next time.Time
	var pending bool
	err := w.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		next, pending, err = tx.NextEventDue(ch.name)
		return err
	})
	if err != nil {
		return Round{}, fmt.Errorf("events on %s: %w", ch.name, err)
	}
	if !pending {
		return Round{}, nil
	}
	if next.After(now) {
		return Round{Next: next}, nil
	}
	// The read said something is due: claim it for this process. The
	// claim runs for the channel's timeout and a margin, so that a
	// process that dies holding it leaves the event to another.
	var evs []db.OutboxEvent
	err = w.store.Write(ctx, func(tx *db.Tx) error {
		var err error
		evs, err = tx.ClaimEvents(ch.name, now, now.Add(ch.timeout+claimMargin), w.cfg.Batch)
		return err
	})
	if err != nil {
		return Round{}, fmt.Errorf("claim events on %s: %w", ch.name, err)
	}
	if len(evs) == 0 {
		// Another process claimed them between the read and the write.
		return Round{Next: now.Add(minWait)}, nil
	}
	errs := make([]error, len(evs))
	var wg sync.WaitGroup
	for i := range evs {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, ch.timeout)
			defer cancel()
			errs[i] = ch.deliver(dctx, &evs[i])
			if errs[i] != nil && ctx.Err() != nil {
				errs[i] = fmt.Errorf("interrupted: kmsconsole is stopping (%v)", errs[i])
			}
		})
	}
	wg.Wait()
	return w.record(ctx, ch, evs, errs)
}

// record marks each delivery's outcome in one transaction. It runs even
// when ctx ended (a shutdown interrupting deliveries): what was accepted is
// marked delivered, and an interrupted delivery is due again at once, for
// the next process, rather than after its claim.
func (w *Worker) record(ctx context.Context, ch *channel, evs []db.OutboxEvent, errs []error) (Round, error) {
	at := w.cfg.Now()
	var r Round
	var delivered []string
	type failure struct {
		id     string
		next   time.Time
		reason string
	}
	var failed []failure
	for i := range evs {
		ev := &evs[i]
		d := ev.Delivery(ch.name)
		if errs[i] == nil {
			delivered = append(delivered, ev.Id)
			if d.Attempts > 1 {
				w.cfg.Log(fmt.Sprintf("event %s (%s of %q) delivered to %s after %d attempts", ev.Id, ev.Type, ev.SecretName, ch.name, d.Attempts))
			}
			continue
		}
		next := at.Add(w.cfg.Backoff(d.Attempts))
		if ctx.Err() != nil {
			next = at
		}
		failed = append(failed, failure{ev.Id, next, errs[i].Error()})
		w.cfg.Log(fmt.Sprintf("event %s (%s of %q) to %s: attempt %d failed: %v; next attempt in %s",
			ev.Id, ev.Type, ev.SecretName, ch.name, d.Attempts, errs[i], next.Sub(at).Round(time.Millisecond)))
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := w.store.Write(wctx, func(tx *db.Tx) error {
		if err := tx.MarkDelivered(ch.name, at, delivered...); err != nil {
			return err
		}
		for _, f := range failed {
			if err := tx.MarkFailed(ch.name, f.id, f.next, f.reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The receivers have them; the claims run out and they are sent
		// again: duplicates, never a loss.
		return Round{}, fmt.Errorf("record %d deliveries on %s (they will be sent again): %w", len(evs), ch.name, err)
	}
	r.Delivered, r.Failed = len(delivered), len(failed)
	r.Next = at
	return r, nil
}

// Run delivers until ctx ends: on each channel, a pass whenever Notify is
// called, an event falls due or PollInterval passes, and again at once
// after a pass that delivered something. It also prunes events delivered
// on every channel of the worker once they are older than Retention. It
// returns when ctx ends, after recording the deliveries under way.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ch := range w.channels {
		wg.Go(func() { w.runChannel(ctx, ch) })
	}
	if w.cfg.Retention > 0 {
		wg.Go(func() { w.runPrune(ctx) })
	}
	wg.Wait()
}

func (w *Worker) runChannel(ctx context.Context, ch *channel) {
	var lastErr string
	for ctx.Err() == nil {
		r, err := w.pass(ctx, ch)
		wait := w.cfg.PollInterval
		switch {
		case err != nil:
			// A store that is down fails every pass: say so once.
			if msg := err.Error(); msg != lastErr && ctx.Err() == nil {
				w.cfg.Log(msg)
				lastErr = msg
			}
		case r.Delivered+r.Failed > 0:
			lastErr = ""
			continue
		case !r.Next.IsZero():
			lastErr = ""
			wait = min(max(r.Next.Sub(w.cfg.Now()), minWait), w.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
		case <-ch.wake:
		case <-w.cfg.After(wait):
		}
	}
}

func (w *Worker) runPrune(ctx context.Context) {
	for {
		var n int64
		err := w.store.Write(ctx, func(tx *db.Tx) error {
			var err error
			n, err = tx.PruneEvents(w.cfg.Now().Add(-w.cfg.Retention), w.Channels())
			return err
		})
		if err != nil && ctx.Err() == nil {
			w.cfg.Log("prune delivered events: " + err.Error())
		} else if n > 0 {
			w.cfg.Log(fmt.Sprintf("pruned %d delivered events older than %s", n, w.cfg.Retention))
		}
		select {
		case <-ctx.Done():
			return
		case <-w.cfg.After(pruneEvery):
		}
	}
}

// clip shortens text from outside (a receiver's answer, a command's
// output) for an error message: one line, printable, at most n bytes.
func clip(text string, n int) string {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.TrimSpace(text))
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > n {
		cut := n
		for cut > 0 && !utf8Start(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }
