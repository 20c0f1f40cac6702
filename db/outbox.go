package db

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"kmsconsole/model"
)

// The event outbox (SPEC §9). A change and the event that describes it are
// committed together (Tx.AddEvent in the change's own transaction), so an
// event exists exactly when its change does, whatever dies afterwards.
// Package events delivers them, at least once, to each channel on its own:
// it claims the due events of a channel (ClaimEvents), hands them to the
// receiver, and marks each delivered only once the receiver accepted it
// (MarkDelivered), or failed with the time of the next attempt
// (MarkFailed). Within one secret, an event is handed out only after every
// earlier event of that secret was delivered on that channel, so each
// receiver sees a secret's events in commit order; different secrets do
// not wait for each other.

// Delivery channels: each has its own columns in the events table (its
// name is their prefix), so a receiver that is down holds up only itself.
const (
	ChannelCommand = "command" // serve --on-event CMD
	ChannelWebhook = "webhook" // serve --event-webhook URL
)

// EventChannels lists the channels, in a fixed order.
var EventChannels = []string{ChannelCommand, ChannelWebhook}

// maxEventError bounds the last error kept for a delivery.
const maxEventError = 1000

// pgEventLockClass is the first key of the PostgreSQL advisory locks that
// order one secret's events (the second is a hash of the secret's name).
const pgEventLockClass = 0x6b6d65 // "kme"

// Delivery is where one event stands on one channel.
type Delivery struct {
	Channel string
	// Attempts counts the deliveries started, the one under way included.
	Attempts int
	// NextAttempt is when the event may be handed out again: after a
	// failure, the end of its backoff; while a delivery runs, the end of
	// its claim. Zero: at once.
	NextAttempt time.Time
	// LastError is why the last attempt failed ("" once delivered).
	LastError string
	// Delivered is when the receiver accepted it; zero while it has not.
	Delivered time.Time
}

// OutboxEvent is an event as the outbox holds it.
type OutboxEvent struct {
	// Seq is the commit order of the outbox (per secret, the delivery order).
	Seq int64
	model.Event
	// Body is the event's JSON exactly as committed: what every delivery
	// sends, byte for byte (and what a webhook signature covers).
	Body []byte
	// Deliveries: one per channel asked about (ClaimEvents: the claimed
	// channel; ListEvents: the filter's channels), in that order.
	Deliveries []Delivery
}

// Delivery is the event's state on channel (nil when it was not read).
func (e *OutboxEvent) Delivery(channel string) *Delivery {
	for i := range e.Deliveries {
		if e.Deliveries[i].Channel == channel {
			return &e.Deliveries[i]
		}
	}
	return nil
}

// checkChannel makes sure channel names one of the column sets: it is
// spliced into the SQL.
func checkChannel(channel string) error {
	if !slices.Contains(EventChannels, channel) {
		return fmt.Errorf("unknown event channel %q (known: %s)", channel, strings.Join(EventChannels, ", "))
	}
	return nil
}

// chCols renders a query for one channel: every {ch} becomes its column prefix.
func chCols(q, channel string) string { return strings.ReplaceAll(q, "{ch}", channel) }

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// AddEvent appends events to the outbox, in this order, inside the
// transaction of the change they describe: they commit with it or not at
// all. An event without an Id gets a new UUID, one without a Time the
// store's clock. Call it last in the transaction, after the change itself:
// on PostgreSQL it takes a lock per secret, held to the commit, so that a
// secret's events are numbered in the order their transactions commit.
func (t *Tx) AddEvent(evs ...model.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if _, ok := t.s.b.(*postgresBackend); ok {
		// The identity column hands numbers out at insert time, not at
		// commit: without this lock a later transaction of the same secret
		// could commit a higher seq first, and a worker could deliver it
		// before the lower one appears. Sorted, so that two transactions
		// with several secrets take their locks in the same order.
		var names []string
		for _, e := range evs {
			names = append(names, e.SecretName)
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			if _, err := t.exec(fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(?))", pgEventLockClass), n); err != nil {
				return fmt.Errorf("order the events of %s: %w", n, err)
			}
		}
	}
	for _, e := range evs {
		if e.Id == "" {
			e.Id = uuid.NewString()
		}
		if e.Time.IsZero() {
			e.Time = timeNow()
		}
		e.Time = e.Time.UTC()
		if err := e.Validate(); err != nil {
			return fmt.Errorf("add event: %w", err)
		}
		body, err := json.Marshal(&e)
		if err != nil {
			return fmt.Errorf("add event %s of %s: %w", e.Type, e.SecretName, err)
		}
		if _, err := t.exec("INSERT INTO events (id, time, type, secret_name, version_id, operator, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
			e.Id, millis(e.Time), e.Type, e.SecretName, e.VersionId, e.Operator, string(body)); err != nil {
			return fmt.Errorf("add event %s of %s: %w", e.Type, e.SecretName, err)
		}
	}
	return nil
}

// eventColumns are read by scanEvent, followed by one channel's columns.
const eventColumns = "e.seq, e.body"

const deliveryColumns = "e.{ch}_attempts, e.{ch}_next, e.{ch}_error, e.{ch}_delivered"

// scanEvent reads eventColumns and the delivery columns of channels.
func scanEvent(sc interface{ Scan(...any) error }, channels []string) (*OutboxEvent, error) {
	var ev OutboxEvent
	var body string
	dest := []any{&ev.Seq, &body}
	ds := make([]struct {
		attempts, next, delivered int64
		lastErr                   string
	}, len(channels))
	for i := range channels {
		dest = append(dest, &ds[i].attempts, &ds[i].next, &ds[i].lastErr, &ds[i].delivered)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	ev.Body = []byte(body)
	if err := json.Unmarshal(ev.Body, &ev.Event); err != nil {
		return nil, fmt.Errorf("event %d of the outbox does not decode: %w", ev.Seq, err)
	}
	for i, ch := range channels {
		ev.Deliveries = append(ev.Deliveries, Delivery{Channel: ch, Attempts: int(ds[i].attempts),
			NextAttempt: fromMillis(ds[i].next), LastError: ds[i].lastErr, Delivered: fromMillis(ds[i].delivered)})
	}
	return &ev, nil
}

// headCondition holds for an event of e that no earlier event of the same
// secret awaits delivery on the channel: the head of its secret's queue.
// (One pass over the channel's partial index, whatever the backlog; a
// NOT EXISTS probe per undelivered event made a long queue quadratic.)
const headCondition = "e.seq IN (SELECT min(p.seq) FROM events p WHERE p.{ch}_delivered = 0 GROUP BY p.secret_name)"

// PendingEvents returns the events that may be handed to channel at now, in
// commit order, at most limit (0 = all): those not delivered there whose
// next attempt is due and that are the earliest undelivered event of their
// secret. So at most one per secret: the next of a secret becomes pending
// once this one is marked delivered.
func (t *Tx) PendingEvents(channel string, now time.Time, limit int) ([]OutboxEvent, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	q := "SELECT " + eventColumns + ", " + deliveryColumns + " FROM events e WHERE e.{ch}_delivered = 0 AND e.{ch}_next <= ? AND " + headCondition + " ORDER BY e.seq"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := t.query(chCols(q, channel), millis(now))
	if err != nil {
		return nil, fmt.Errorf("read the events pending on %s: %w", channel, err)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		ev, err := scanEvent(rows, []string{channel})
		if err != nil {
			return nil, err
		}
		out = append(out, *ev)
	}
	return out, rows.Err()
}

// ClaimEvents takes the events PendingEvents returns for a delivery on
// channel: each counts one more attempt and is not handed out again before
// until, by this process or another sharing the store, unless it is marked
// failed sooner. A deliverer that dies with a claim leaves the event to
// whoever claims it after until: the event is delivered again (at least
// once). Run it in a write transaction.
func (t *Tx) ClaimEvents(channel string, now, until time.Time, limit int) ([]OutboxEvent, error) {
	evs, err := t.PendingEvents(channel, now, limit)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	seqs := make([]any, 0, len(evs)+1)
	seqs = append(seqs, millis(until))
	for _, ev := range evs {
		seqs = append(seqs, ev.Seq)
	}
	q := "UPDATE events SET {ch}_attempts = {ch}_attempts + 1, {ch}_next = ? WHERE {ch}_delivered = 0 AND seq IN (" + placeholders(len(evs)) + ")"
	if _, err := t.exec(chCols(q, channel), seqs...); err != nil {
		return nil, fmt.Errorf("claim %d events for %s: %w", len(evs), channel, err)
	}
	for i := range evs {
		d := &evs[i].Deliveries[0]
		d.Attempts++
		d.NextAttempt = until
	}
	return evs, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// MarkDelivered records that channel's receiver accepted the events (by Id)
// at at. Marking an event delivered twice keeps the first time.
func (t *Tx) MarkDelivered(channel string, at time.Time, ids ...string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	args := []any{millis(at)}
	for _, id := range ids {
		args = append(args, id)
	}
	q := "UPDATE events SET {ch}_delivered = ?, {ch}_error = '' WHERE {ch}_delivered = 0 AND id IN (" + placeholders(len(ids)) + ")"
	if _, err := t.exec(chCols(q, channel), args...); err != nil {
		return fmt.Errorf("mark %d events delivered on %s: %w", len(ids), channel, err)
	}
	return nil
}

// MarkFailed records a failed delivery of event id on channel: why, and
// that it is not to be tried again before next. An event delivered in the
// meantime (by another process, after this one's claim ran out) stays so.
func (t *Tx) MarkFailed(channel, id string, next time.Time, reason string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if len(reason) > maxEventError {
		reason = reason[:maxEventError]
	}
	if reason == "" {
		reason = "failed"
	}
	q := "UPDATE events SET {ch}_next = ?, {ch}_error = ? WHERE {ch}_delivered = 0 AND id = ?"
	if _, err := t.exec(chCols(q, channel), millis(next), reason, id); err != nil {
		return fmt.Errorf("mark event %s failed on %s: %w", id, channel, err)
	}
	return nil
}

// NextEventDue is when the next event of channel may be handed out: the
// earliest next attempt of the events PendingEvents would return at some
// time (zero or past: one is due now); ok is false when nothing at all is
// undelivered on channel.
func (t *Tx) NextEventDue(channel string) (next time.Time, ok bool, err error) {
	if err := checkChannel(channel); err != nil {
		return time.Time{}, false, err
	}
	var n, earliest int64
	err = t.row(chCols("SELECT count(*), COALESCE(min(e.{ch}_next), 0) FROM events e WHERE e.{ch}_delivered = 0 AND "+headCondition, channel)).Scan(&n, &earliest)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the next event due on %s: %w", channel, err)
	}
	return fromMillis(earliest), n > 0, nil
}

// UndeliveredCount counts the events not yet delivered on channel.
func (t *Tx) UndeliveredCount(channel string) (int, error) {
	c, err := t.EventCounts(channel)
	return c.Undelivered, err
}

// EventCounts is the state of one channel's queue.
type EventCounts struct {
	Channel     string
	Undelivered int
	// Failing counts the undelivered events whose last attempt failed:
	// more than zero means the receiver is down or refuses them (stuck).
	Failing int
	// Oldest is the time of the oldest undelivered event (zero: none).
	Oldest time.Time
}

// EventCounts returns how many events wait on channel, and how many of them
// failed their last attempt.
func (t *Tx) EventCounts(channel string) (EventCounts, error) {
	c := EventCounts{Channel: channel}
	if err := checkChannel(channel); err != nil {
		return c, err
	}
	var oldest int64
	err := t.row(chCols("SELECT count(*), COALESCE(sum(CASE WHEN {ch}_error <> '' THEN 1 ELSE 0 END), 0), COALESCE(min(time), 0) FROM events WHERE {ch}_delivered = 0", channel)).
		Scan(&c.Undelivered, &c.Failing, &oldest)
	if err != nil {
		return c, fmt.Errorf("count the events undelivered on %s: %w", channel, err)
	}
	c.Oldest = fromMillis(oldest)
	return c, nil
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	// Channels whose delivery state is read (nil: EventChannels).
	Channels []string
	// Undelivered keeps only events not yet delivered on one of Channels.
	Undelivered bool
	// SecretName keeps only the events of one secret ("" = all).
	SecretName string
	// Since keeps only events at or after it (zero = all).
	Since time.Time
	// Limit: the oldest Limit events that match (0 = all).
	Limit int
}

// ListEvents returns the events of the outbox that match f, oldest first,
// with their delivery state on f.Channels: what `kmsconsole events list`
// shows.
func (t *Tx) ListEvents(f EventFilter) ([]OutboxEvent, error) {
	channels := f.Channels
	if len(channels) == 0 {
		channels = EventChannels
	}
	cols := []string{eventColumns}
	var undelivered []string
	for _, ch := range channels {
		if err := checkChannel(ch); err != nil {
			return nil, err
		}
		cols = append(cols, chCols(deliveryColumns, ch))
		undelivered = append(undelivered, chCols("e.{ch}_delivered = 0", ch))
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM events e WHERE 1 = 1"
	var args []any
	if f.Undelivered {
		q += " AND (" + strings.Join(undelivered, " OR ") + ")"
	}
	if f.SecretName != "" {
		q += " AND e.secret_name = ?"
		args = append(args, f.SecretName)
	}
	if !f.Since.IsZero() {
		q += " AND e.time >= ?"
		args = append(args, millis(f.Since))
	}
	q += " ORDER BY e.seq"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		ev, err := scanEvent(rows, channels)
		if err != nil {
			return nil, err
		}
		out = append(out, *ev)
	}
	return out, rows.Err()
}

// EventChannelsInUse lists the channels some process has tried to deliver
// on (an attempt recorded), in EventChannels order: what an operator's
// `events list` should count as owed when it does not know serve's flags.
func (t *Tx) EventChannelsInUse() ([]string, error) {
	var out []string
	for _, ch := range EventChannels {
		var used bool
		err := t.row(chCols("SELECT EXISTS (SELECT 1 FROM events WHERE {ch}_attempts > 0)", ch)).Scan(&used)
		if err != nil {
			return nil, fmt.Errorf("read the event channels in use: %w", err)
		}
		if used {
			out = append(out, ch)
		}
	}
	return out, nil
}

// PruneEvents deletes the events older than before that were delivered on
// every one of channels, and returns how many went. With no channels, every
// event older than before goes: nobody receives them.
func (t *Tx) PruneEvents(before time.Time, channels []string) (int64, error) {
	if before.IsZero() {
		return 0, errors.New("prune events: no cut-off time")
	}
	q := "DELETE FROM events WHERE time < ?"
	for _, ch := range channels {
		if err := checkChannel(ch); err != nil {
			return 0, err
		}
		q += chCols(" AND {ch}_delivered <> 0", ch)
	}
	res, err := t.exec(q, millis(before))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
