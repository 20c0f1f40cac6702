package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// openOutbox opens a fresh store on the run's backend (SQLite, or
// PostgreSQL with KMSCONSOLE_TEST_BACKEND=postgres).
func openOutbox(t *testing.T) *Store {
	t.Helper()
	s, err := Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var outboxT0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

func ev(secret string, n int) model.Event {
	return model.Event{Type: model.EventRotationSucceeded, Time: outboxT0.Add(time.Duration(n) * time.Second),
		SecretName: secret, VersionId: fmt.Sprintf("v%d", n), Operator: "scheduler", Detail: fmt.Sprint(n)}
}

func addEvents(t *testing.T, s *Store, evs ...model.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Write(context.Background(), func(tx *Tx) error { return tx.AddEvent(e) }); err != nil {
			t.Fatal(err)
		}
	}
}

// details names events by secret and number: "a1 b1".
func details(evs []OutboxEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.SecretName+e.Detail)
	}
	return strings.Join(out, " ")
}

func pending(t *testing.T, s *Store, channel string, now time.Time) []OutboxEvent {
	t.Helper()
	var evs []OutboxEvent
	err := s.Read(context.Background(), func(tx *Tx) error {
		var err error
		evs, err = tx.PendingEvents(channel, now, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func write(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// An event commits with its change or not at all, with an id, its JSON as
// committed, and nothing of a value.
func TestOutboxEventCommitsWithItsChange(t *testing.T) {
	s := openOutbox(t)
	ctx := context.Background()
	// The change fails after the event was added: neither stays.
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx *Tx) error {
		if err := tx.AddEvent(ev("a", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	// An event the outbox cannot take fails the whole transaction.
	row := &SecretRow{Secret: model.Secret{Name: "a", Type: model.Generic, RegionId: "r", DataType: model.DataText, CreateTime: outboxT0, UpdateTime: outboxT0}}
	err = s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.InsertSecret(row); err != nil {
			return err
		}
		return tx.AddEvent(model.Event{Type: "SecretExploded", SecretName: "a"})
	})
	if err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Fatalf("bad type: %v", err)
	}
	var n int
	write(t, s, func(tx *Tx) error {
		var err error
		n, err = tx.UndeliveredCount(ChannelWebhook)
		if err != nil {
			return err
		}
		if r, err := tx.SecretByName("a"); err == nil && r != nil {
			return fmt.Errorf("the secret of the refused event was created")
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("%d events after two rolled back transactions", n)
	}

	// Committed with the change: id, time and JSON.
	write(t, s, func(tx *Tx) error {
		var err error
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, "v1", "s3cr3t-value", model.DataText, outboxT0); err != nil {
			return err
		}
		return tx.AddEvent(model.Event{Type: model.EventSecretCreated, Time: outboxT0, SecretName: "a", VersionId: "v1", Operator: "alice", RequestId: "req-1"})
	})
	var list []OutboxEvent
	if err := s.Read(ctx, func(tx *Tx) error {
		var err error
		list, err = tx.ListEvents(EventFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("events %v", list)
	}
	e := list[0]
	if len(e.Id) != 36 || e.Type != model.EventSecretCreated || !e.Time.Equal(outboxT0) || e.Operator != "alice" || e.VersionId != "v1" {
		t.Fatalf("event %+v", e.Event)
	}
	if strings.Contains(string(e.Body), "s3cr3t") {
		t.Fatalf("the event carries the value: %s", e.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Id", "Type", "Time", "SecretName", "VersionId", "Operator", "RequestId"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the JSON has no %s: %s", k, e.Body)
		}
	}
	if m["Time"] != "2026-11-22T02:00:00Z" {
		t.Errorf("Time %v", m["Time"])
	}
	if len(e.Deliveries) != 2 || e.Delivery(ChannelCommand).Attempts != 0 || !e.Delivery(ChannelWebhook).Delivered.IsZero() {
		t.Fatalf("deliveries %+v", e.Deliveries)
	}
	err = s.Read(ctx, func(tx *Tx) error { _, err := tx.UndeliveredCount("pager"); return err })
	if err == nil || !strings.Contains(err.Error(), "unknown event channel") {
		t.Fatalf("unknown channel: %v", err)
	}
}

// Per channel, a secret's events are handed out one at a time, in commit
// order; other secrets do not wait; the channels do not wait for each other.
func TestOutboxOrderPerSecretAndChannel(t *testing.T) {
	s := openOutbox(t)
	addEvents(t, s, ev("a", 1), ev("b", 1), ev("a", 2), ev("a", 3), ev("b", 2), ev("c", 1))
	now := outboxT0.Add(time.Hour)
	if got := details(pending(t, s, ChannelWebhook, now)); got != "a1 b1 c1" {
		t.Fatalf("pending %q", got)
	}
	deliver := func(channel string, evs ...string) {
		t.Helper()
		var ids []string
		for _, e := range pending(t, s, channel, now) {
			for _, want := range evs {
				if e.SecretName+e.Detail == want {
					ids = append(ids, e.Id)
				}
			}
		}
		if len(ids) != len(evs) {
			t.Fatalf("%v are not all pending on %s", evs, channel)
		}
		write(t, s, func(tx *Tx) error { return tx.MarkDelivered(channel, now, ids...) })
	}
	deliver(ChannelWebhook, "a1", "c1")
	if got := details(pending(t, s, ChannelWebhook, now)); got != "b1 a2" {
		t.Fatalf("pending after a1, c1: %q", got)
	}
	// The command channel has delivered nothing yet.
	if got := details(pending(t, s, ChannelCommand, now)); got != "a1 b1 c1" {
		t.Fatalf("command pending %q", got)
	}
	deliver(ChannelWebhook, "b1", "a2")
	deliver(ChannelWebhook, "a3", "b2")
	if got := details(pending(t, s, ChannelWebhook, now)); got != "" {
		t.Fatalf("pending after all: %q", got)
	}
	var wc, cc EventCounts
	write(t, s, func(tx *Tx) error {
		var err error
		if wc, err = tx.EventCounts(ChannelWebhook); err != nil {
			return err
		}
		cc, err = tx.EventCounts(ChannelCommand)
		return err
	})
	if wc.Undelivered != 0 || cc.Undelivered != 6 || !cc.Oldest.Equal(outboxT0.Add(time.Second)) {
		t.Fatalf("counts %+v %+v", wc, cc)
	}
}

// A claim hides an event from every deliverer until it runs out (the
// deliverer died) or the outcome is recorded; a failure waits for its
// backoff, and holds up the secret's later events.
func TestOutboxClaimFailAndRetry(t *testing.T) {
	s := openOutbox(t)
	addEvents(t, s, ev("a", 1), ev("a", 2), ev("b", 1))
	now := outboxT0.Add(time.Hour)
	until := now.Add(time.Minute)
	var claimed []OutboxEvent
	write(t, s, func(tx *Tx) error {
		var err error
		claimed, err = tx.ClaimEvents(ChannelWebhook, now, until, 0)
		return err
	})
	if details(claimed) != "a1 b1" || claimed[0].Deliveries[0].Attempts != 1 || !claimed[0].Deliveries[0].NextAttempt.Equal(until) {
		t.Fatalf("claimed %q %+v", details(claimed), claimed[0].Deliveries)
	}
	if got := details(pending(t, s, ChannelWebhook, until.Add(-time.Millisecond))); got != "" {
		t.Fatalf("claimed events pending again before the claim ran out: %q", got)
	}
	if got := details(pending(t, s, ChannelWebhook, until)); got != "a1 b1" {
		t.Fatalf("after the claim ran out: %q", got)
	}
	var next time.Time
	var ok bool
	write(t, s, func(tx *Tx) error {
		var err error
		next, ok, err = tx.NextEventDue(ChannelWebhook)
		return err
	})
	if !ok || !next.Equal(until) {
		t.Fatalf("next due %v %v, want %v", next, ok, until)
	}

	retry := now.Add(5 * time.Second)
	write(t, s, func(tx *Tx) error {
		if err := tx.MarkDelivered(ChannelWebhook, now, claimed[1].Id); err != nil {
			return err
		}
		return tx.MarkFailed(ChannelWebhook, claimed[0].Id, retry, "POST https://hooks.example: the receiver answered 503")
	})
	if got := details(pending(t, s, ChannelWebhook, retry.Add(-time.Millisecond))); got != "" {
		t.Fatalf("pending during the backoff: %q (a2 must wait for a1)", got)
	}
	if got := details(pending(t, s, ChannelWebhook, retry)); got != "a1" {
		t.Fatalf("pending after the backoff: %q", got)
	}
	var c EventCounts
	var list []OutboxEvent
	write(t, s, func(tx *Tx) error {
		var err error
		if c, err = tx.EventCounts(ChannelWebhook); err != nil {
			return err
		}
		list, err = tx.ListEvents(EventFilter{Channels: []string{ChannelWebhook}, Undelivered: true})
		return err
	})
	if c.Undelivered != 2 || c.Failing != 1 {
		t.Fatalf("counts %+v", c)
	}
	if details(list) != "a1 a2" {
		t.Fatalf("undelivered list %q", details(list))
	}
	d := list[0].Delivery(ChannelWebhook)
	if d.Attempts != 1 || !strings.Contains(d.LastError, "503") || !d.NextAttempt.Equal(retry) {
		t.Fatalf("delivery %+v", d)
	}
	// A late failure never undoes a delivery (another process delivered
	// after this one's claim ran out).
	write(t, s, func(tx *Tx) error {
		if err := tx.MarkDelivered(ChannelWebhook, retry, claimed[0].Id); err != nil {
			return err
		}
		return tx.MarkFailed(ChannelWebhook, claimed[0].Id, retry.Add(time.Hour), "late")
	})
	if got := details(pending(t, s, ChannelWebhook, retry)); got != "a2" {
		t.Fatalf("after a1 was delivered: %q", got)
	}
}

// Two transactions add events of one secret; the first holds its commit.
// The second's event must not become visible, and so deliverable, before
// the first's: per secret, commit order is delivery order (on PostgreSQL,
// where numbers are handed out at insert time, AddEvent's lock sees to it).
func TestOutboxCommitOrderIsDeliveryOrder(t *testing.T) {
	s := openOutbox(t)
	ctx := context.Background()
	added := make(chan struct{})
	release := make(chan struct{})
	var once, releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(open) // before the store closes, which waits for the transaction
	first := make(chan error, 1)
	go func() {
		first <- s.Write(ctx, func(tx *Tx) error {
			if err := tx.AddEvent(ev("a", 1)); err != nil {
				return err
			}
			once.Do(func() { close(added) })
			<-release
			return nil
		})
	}()
	<-added
	second := make(chan error, 1)
	go func() { second <- s.Write(ctx, func(tx *Tx) error { return tx.AddEvent(ev("a", 2)) }) }()
	// Let the second reach its insert (or the lock before it).
	time.Sleep(200 * time.Millisecond)
	now := outboxT0.Add(time.Hour)
	if got := details(pending(t, s, ChannelWebhook, now)); got != "" {
		t.Fatalf("pending while the first transaction is open: %q", got)
	}
	open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	var all []OutboxEvent
	write(t, s, func(tx *Tx) error {
		var err error
		all, err = tx.ListEvents(EventFilter{})
		return err
	})
	if details(all) != "a1 a2" {
		t.Fatalf("order %q", details(all))
	}
}

// Many writers adding events of a few secrets at once: each secret's
// events come out in the order they were committed (the order a counter
// updated in the same transactions says).
func TestOutboxConcurrentWritersKeepSecretOrder(t *testing.T) {
	s := openOutbox(t)
	ctx := context.Background()
	secrets := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 10; i++ {
				name := secrets[(w+i)%len(secrets)]
				err := s.Write(ctx, func(tx *Tx) error {
					// The counter row serialises the transactions of
					// one secret: its value is their commit order.
					var n int
					err := tx.row("SELECT CAST(value AS INTEGER) FROM meta WHERE name = ?", "evtest:"+name).Scan(&n)
					if err != nil && !errors.Is(err, sql.ErrNoRows) {
						return err
					}
					n++
					if _, err := tx.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", "evtest:"+name, fmt.Sprint(n)); err != nil {
						return err
					}
					return tx.AddEvent(ev(name, n))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Deliver everything, one head per secret per round, and check the
	// order each secret came out in.
	now := outboxT0.Add(time.Hour)
	got := map[string][]string{}
	for round := 0; ; round++ {
		evs := pending(t, s, ChannelWebhook, now)
		if len(evs) == 0 {
			break
		}
		var ids []string
		for _, e := range evs {
			got[e.SecretName] = append(got[e.SecretName], e.Detail)
			ids = append(ids, e.Id)
		}
		write(t, s, func(tx *Tx) error { return tx.MarkDelivered(ChannelWebhook, now, ids...) })
	}
	total := 0
	for name, ns := range got {
		for i, n := range ns {
			if n != fmt.Sprint(i+1) {
				t.Fatalf("secret %s delivered in the order %v", name, ns)
			}
		}
		total += len(ns)
	}
	if total != 80 {
		t.Fatalf("%d events delivered, want 80", total)
	}
}

// Pruning removes old events delivered on every channel asked about, and
// nothing that one of them still owes.
func TestOutboxPrune(t *testing.T) {
	s := openOutbox(t)
	addEvents(t, s, ev("a", 1), ev("a", 2), ev("b", 1))
	now := outboxT0.Add(time.Hour)
	all := pending(t, s, ChannelWebhook, now)
	write(t, s, func(tx *Tx) error {
		if err := tx.MarkDelivered(ChannelWebhook, now, all[0].Id, all[1].Id); err != nil { // a1, b1
			return err
		}
		return tx.MarkDelivered(ChannelCommand, now, all[0].Id)
	})
	var n1, n2, n3 int64
	var left []OutboxEvent
	var inUse []string
	write(t, s, func(tx *Tx) error {
		var err error
		if n1, err = tx.PruneEvents(outboxT0, []string{ChannelWebhook}); err != nil { // nothing is older
			return err
		}
		if n2, err = tx.PruneEvents(now, EventChannels); err != nil { // a1 only
			return err
		}
		if n3, err = tx.PruneEvents(now, []string{ChannelWebhook}); err != nil { // b1
			return err
		}
		if left, err = tx.ListEvents(EventFilter{}); err != nil {
			return err
		}
		inUse, err = tx.EventChannelsInUse()
		return err
	})
	if n1 != 0 || n2 != 1 || n3 != 1 || details(left) != "a2" {
		t.Fatalf("pruned %d %d %d, left %q", n1, n2, n3, details(left))
	}
	if len(inUse) != 0 {
		t.Fatalf("channels in use without an attempt: %v", inUse)
	}
	// New events after a prune still come after the old ones.
	addEvents(t, s, ev("a", 3))
	write(t, s, func(tx *Tx) error {
		if _, err := tx.ClaimEvents(ChannelCommand, now, now, 0); err != nil {
			return err
		}
		var err error
		if left, err = tx.ListEvents(EventFilter{SecretName: "a"}); err != nil {
			return err
		}
		inUse, err = tx.EventChannelsInUse()
		return err
	})
	if details(left) != "a2 a3" || left[0].Seq >= left[1].Seq {
		t.Fatalf("after a prune: %q", details(left))
	}
	if strings.Join(inUse, ",") != ChannelCommand {
		t.Fatalf("channels in use %v", inUse)
	}
}
