package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/events"
	"kmsconsole/model"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// The webhook gets each event as its JSON, byte for byte what was
// committed, signed under the key; Notify wakes the worker at once.
func TestWebhookDeliversSignedEvents(t *testing.T) {
	s, _ := openStore(t)
	rcv := newReceiver(t, testKey)
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL + "/hooks/kms?token=t0ken", WebhookKey: testKey, TLSConfig: rcv.tls(),
		PollInterval: time.Hour}) // only Notify can wake it in time
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The first pass runs at start; these come after it.
	time.Sleep(100 * time.Millisecond)
	commit(t, s, event("app/db", 1), model.Event{Type: model.EventSecretCreated, SecretName: "app/web", Operator: "alice", VersionId: "v1"}, event("app/db", 2))
	w.Notify()
	waitFor(t, 10*time.Second, "three deliveries, recorded", func() bool {
		return len(rcv.receipts()) == 3 && undelivered(t, s, db.ChannelWebhook) == 0
	})
	rcv.check()
	var stored []db.OutboxEvent
	if err := s.Read(ctx, func(tx *db.Tx) error {
		var err error
		stored, err = tx.ListEvents(db.EventFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := rcv.receipts()
	var dbOrder []string
	for _, r := range got {
		if r.ev.SecretName == "app/db" {
			dbOrder = append(dbOrder, r.ev.Detail)
		}
	}
	if strings.Join(dbOrder, " ") != "1 2" {
		t.Fatalf("app/db's events arrived in the order %v", dbOrder)
	}
	for _, r := range got {
		i := slices.IndexFunc(stored, func(e db.OutboxEvent) bool { return e.Id == r.ev.Id })
		if i < 0 || !bytes.Equal(stored[i].Body, r.body) {
			t.Fatalf("received %s, not the committed body", r.body)
		}
		if d := stored[i].Delivery(db.ChannelWebhook); d.Delivered.IsZero() || d.Attempts != 1 {
			t.Fatalf("delivery of %s: %+v", r.ev.Id, d)
		}
	}
	if n := undelivered(t, s, db.ChannelWebhook); n != 0 {
		t.Fatalf("%d undelivered", n)
	}
	if !events.Verify(testKey, got[0].body, events.Sign(testKey, got[0].body)) || events.Verify([]byte("other"), got[0].body, events.Sign(testKey, got[0].body)) {
		t.Fatal("Verify")
	}
}

// A receiver that checks signatures refuses events signed under another
// key; they stay in the outbox with the receiver's answer as their error.
func TestWebhookSignatureUnderAnotherKeyIsRefused(t *testing.T) {
	s, _ := openStore(t)
	rcv := newReceiver(t, testKey)
	c := &clock{now: t0}
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: []byte("not the receiver's key"), TLSConfig: rcv.tls(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, event("a", 1))
	r, err := w.DeliverDue(context.Background())
	if err != nil || r.Failed != 1 || r.Delivered != 0 {
		t.Fatalf("round %+v %v", r, err)
	}
	if len(rcv.receipts()) != 0 || undelivered(t, s, db.ChannelWebhook) != 1 {
		t.Fatal("an event with a wrong signature was taken")
	}
	var list []db.OutboxEvent
	s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		list, err = tx.ListEvents(db.EventFilter{Undelivered: true})
		return err
	})
	if d := list[0].Delivery(db.ChannelWebhook); !strings.Contains(d.LastError, "401") || strings.Contains(d.LastError, "t0ken") {
		t.Fatalf("last error %q", d.LastError)
	}
}

// The webhook's URL is checked when the worker is made, and TLS is always
// verified: a receiver whose certificate the worker cannot verify gets
// nothing.
func TestWebhookURLAndTLSChecks(t *testing.T) {
	s, _ := openStore(t)
	for _, c := range []struct {
		url, wantErr string
		key          []byte
	}{
		{"http://hooks.example.com/x", "plain HTTP", testKey},
		{"ftp://hooks.example.com/x", "must be https", testKey},
		{"hooks.example.com/x", "not a URL", testKey},
		{"https://hooks.example.com/x", "signing key", nil},
		{"http://127.0.0.1:9/x", "", testKey},
		{"http://localhost:9/x", "", testKey},
		{"http://[::1]:9/x", "", testKey},
	} {
		_, err := events.New(s, events.Config{WebhookURL: c.url, WebhookKey: c.key})
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: %v, want %q", c.url, err, c.wantErr)
		}
	}
	if _, err := events.New(s, events.Config{}); err == nil {
		t.Error("a worker without a channel")
	}
	if _, err := events.New(s, events.Config{Command: "true", WebhookKey: testKey}); err == nil {
		t.Error("a webhook key without a webhook")
	}

	rcv := newReceiver(t, testKey)
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey}) // the system's roots
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, event("a", 1))
	if r, err := w.DeliverDue(context.Background()); err != nil || r.Failed != 1 {
		t.Fatalf("round %+v %v", r, err)
	}
	if len(rcv.receipts()) != 0 {
		t.Fatal("delivered to an unverified receiver")
	}
	var list []db.OutboxEvent
	s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		list, err = tx.ListEvents(db.EventFilter{})
		return err
	})
	if d := list[0].Delivery(db.ChannelWebhook); !strings.Contains(d.LastError, "certificate") {
		t.Fatalf("last error %q", d.LastError)
	}
}

// The command gets the event's JSON on stdin, and nowhere else.
func TestCommandGetsTheEventOnStdin(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	t.Setenv("EVDIR", dir)
	cmd := `f=$(mktemp "$EVDIR/ev.XXXXXX") && cat > "$f" && { env; printf '%s\n' "$0" "$@"; } > "$f.env"`
	c := &clock{now: t0}
	var out bytes.Buffer
	w, err := events.New(s, events.Config{Command: cmd, Now: c.Now, CommandOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, event("a", 1), event("b", 1), event("a", 2))
	drain(t, w, c, t0.Add(time.Minute))
	files, _ := filepath.Glob(filepath.Join(dir, "ev.??????"))
	if len(files) != 3 {
		t.Fatalf("%d runs, want 3", len(files))
	}
	var stored []db.OutboxEvent
	s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		stored, err = tx.ListEvents(db.EventFilter{})
		return err
	})
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var ev model.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("stdin %q: %v", b, err)
		}
		i := slices.IndexFunc(stored, func(e db.OutboxEvent) bool { return e.Id == ev.Id })
		if i < 0 || string(b) != string(stored[i].Body)+"\n" {
			t.Fatalf("stdin %q, want the committed body and a newline", b)
		}
		env, _ := os.ReadFile(f + ".env")
		if strings.Contains(string(env), ev.Id) || strings.Contains(string(env), "RotationSucceeded") {
			t.Fatalf("the event is in the command's environment or arguments:\n%s", env)
		}
	}
	if n := undelivered(t, s, db.ChannelCommand); n != 0 {
		t.Fatalf("%d undelivered", n)
	}
}

// A command that fails or hangs is a failed delivery, retried after its
// backoff; a hung one is killed, its children with it.
func TestCommandFailureAndTimeout(t *testing.T) {
	s, _ := openStore(t)
	c := &clock{now: t0}
	w, err := events.New(s, events.Config{Command: `echo "no pager today" >&2; exit 3`, Now: c.Now,
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, event("a", 1), event("a", 2))
	r, err := w.DeliverDue(context.Background())
	if err != nil || r.Failed != 1 {
		t.Fatalf("round %+v %v", r, err)
	}
	r, err = w.DeliverDue(context.Background())
	if err != nil || r.Failed != 0 || !r.Next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("during the backoff: %+v %v", r, err)
	}
	var list []db.OutboxEvent
	var counts db.EventCounts
	s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		if list, err = tx.ListEvents(db.EventFilter{Channels: []string{db.ChannelCommand}, Undelivered: true}); err != nil {
			return err
		}
		counts, err = tx.EventCounts(db.ChannelCommand)
		return err
	})
	d := list[0].Delivery(db.ChannelCommand)
	if !strings.Contains(d.LastError, "exit status 3") || !strings.Contains(d.LastError, "no pager today") || d.Attempts != 1 {
		t.Fatalf("delivery %+v", d)
	}
	if counts.Undelivered != 2 || counts.Failing != 1 {
		t.Fatalf("counts %+v", counts)
	}

	// A command that hangs, with a child that would outlive the shell.
	s2, _ := openStore(t)
	dir := t.TempDir()
	w, err = events.New(s2, events.Config{Command: fmt.Sprintf(`sleep 30 & echo $! > %s/pid; wait`, dir), CommandTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s2, event("a", 1))
	start := time.Now()
	r, err = w.DeliverDue(context.Background())
	// Well before the child's 30 s: the delivery did not wait for it. (The
	// timeout leaves a loaded machine time to start the shell and write
	// the pid: 300 ms did not, in one run of fifty.)
	if err != nil || r.Failed != 1 || time.Since(start) > 25*time.Second {
		t.Fatalf("round %+v %v after %s", r, err, time.Since(start))
	}
	pid := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dir, "pid")))))
	waitFor(t, 5*time.Second, "the command's child "+pid+" to die", func() bool {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	})
	s2.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		list, err = tx.ListEvents(db.EventFilter{})
		return err
	})
	if d := list[0].Delivery(db.ChannelCommand); !strings.Contains(d.LastError, "timed out") {
		t.Fatalf("delivery %+v", d)
	}
}

// The receiver is down for 10 minutes (simulated) while events keep being
// committed; once it is back it gets every one, in order per secret, and
// none twice except those whose acknowledgement it lost.
func TestReceiverDownTenMinutes(t *testing.T) {
	s, _ := openStore(t)
	c := &clock{now: t0}
	rcv := newReceiver(t, testKey)
	up := t0.Add(10 * time.Minute)
	lost := map[string]bool{}
	refused := 0
	rcv.setAnswer(c.Now, func(ev model.Event) int {
		if c.Now().Before(up) {
			refused++
			return http.StatusServiceUnavailable
		}
		// The first three accepted after the outage lose their answer.
		if len(lost) < 3 && !lost[ev.Id] {
			lost[ev.Id] = true
			return 0
		}
		return http.StatusOK
	})
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"app/db", "app/web", "ops/ci", "ops/backup", "team/x"}
	want := map[string]int{}
	// One event of some secret every 20 s of the outage, delivery passes
	// in between as the worker would make them.
	for i := 0; c.Now().Before(up); i++ {
		name := secrets[i%len(secrets)]
		want[name]++
		commit(t, s, event(name, want[name]))
		stop := c.Now().Add(20 * time.Second)
		for {
			r, err := w.DeliverDue(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Next.IsZero() || !r.Next.Before(stop) {
				break
			}
			c.Set(r.Next)
		}
		c.Set(stop)
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if len(rcv.receipts()) != 0 || undelivered(t, s, db.ChannelWebhook) != total || refused == 0 {
		t.Fatalf("during the outage: %d received, %d undelivered of %d, %d refused", len(rcv.receipts()), undelivered(t, s, db.ChannelWebhook), total, refused)
	}
	// Back up: every secret's queue moves again within the largest
	// backoff; an event whose answer was lost waits one more backoff.
	drain(t, w, c, up.Add(2*events.BackoffMax+time.Minute))
	rcv.inflight.Wait()
	rcv.check()
	got := rcv.receipts()
	dups := checkOrder(t, got, want)
	slices.Sort(dups)
	var lostIds []string
	for id := range lost {
		lostIds = append(lostIds, id)
	}
	slices.Sort(lostIds)
	if !slices.Equal(dups, lostIds) {
		t.Fatalf("duplicates %v, want exactly the lost acknowledgements %v", dups, lostIds)
	}
	if n := undelivered(t, s, db.ChannelWebhook); n != 0 {
		t.Fatalf("%d undelivered", n)
	}
	last := got[len(got)-1].at
	t.Logf("%d events over a 10 min outage (%d refused attempts) all delivered %s after the receiver came back",
		total, refused, last.Sub(up).Round(time.Second))
}

// Run itself, on simulated time: backoff, retries and recovery without a
// test driving the passes.
func TestRunRetriesThroughAnOutage(t *testing.T) {
	s, _ := openStore(t)
	c := &clock{now: t0}
	rcv := newReceiver(t, testKey)
	up := t0.Add(10 * time.Minute)
	rcv.setAnswer(c.Now, func(model.Event) int {
		if c.Now().Before(up) {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(),
		Now: c.Now, After: c.After, Retention: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 5, "b": 3, "c": 1}
	for name, n := range want {
		for i := 1; i <= n; i++ {
			commit(t, s, event(name, i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitFor(t, 30*time.Second, "9 deliveries, recorded", func() bool { return len(rcv.receipts()) >= 9 && undelivered(t, s, db.ChannelWebhook) == 0 })
	cancel()
	<-done
	rcv.check()
	got := rcv.receipts()
	if dups := checkOrder(t, got, want); len(dups) > 0 {
		t.Fatalf("duplicates %v", dups)
	}
	if first := got[0].at; first.Before(up) || first.After(up.Add(events.BackoffMax)) {
		t.Fatalf("first delivery at %s, the receiver was back at %s", first, up)
	}
}

// Each channel goes at its own pace: a webhook that is down holds up
// nothing of the command's.
func TestChannelsAreIndependent(t *testing.T) {
	s, _ := openStore(t)
	c := &clock{now: t0}
	rcv := newReceiver(t, testKey)
	rcv.setAnswer(nil, func(model.Event) int { return http.StatusInternalServerError })
	dir := t.TempDir()
	t.Setenv("EVDIR", dir)
	w, err := events.New(s, events.Config{Command: `cat > "$(mktemp "$EVDIR/ev.XXXXXX")"`, WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Channels(); !slices.Equal(got, []string{db.ChannelCommand, db.ChannelWebhook}) {
		t.Fatalf("channels %v", got)
	}
	commit(t, s, event("a", 1), event("a", 2), event("b", 1))
	for i := 0; i < 20; i++ {
		r, err := w.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.Set(r.Next)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "ev.*"))
	if len(files) != 3 || undelivered(t, s, db.ChannelCommand) != 0 || undelivered(t, s, db.ChannelWebhook) != 3 {
		t.Fatalf("%d commands run; undelivered: command %d, webhook %d", len(files), undelivered(t, s, db.ChannelCommand), undelivered(t, s, db.ChannelWebhook))
	}
}

// Events committed by a process that never delivered them (it died, or
// it had no worker) are delivered by the next process on the store.
func TestEventsOfAProcessThatStoppedAreDeliveredAfterRestart(t *testing.T) {
	loc := func() string { _, l := openStore(t); return l }()
	first, err := db.Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	// A worker that never runs: the process ends between commit and delivery.
	rcv := newReceiver(t, testKey)
	if _, err := events.New(first, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls()}); err != nil {
		t.Fatal(err)
	}
	commit(t, first, event("a", 1), event("b", 1), event("a", 2))
	first.Close()

	second, err := db.Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	w, err := events.New(second, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	waitFor(t, 10*time.Second, "3 deliveries, recorded", func() bool { return len(rcv.receipts()) >= 3 && undelivered(t, second, db.ChannelWebhook) == 0 })
	cancel()
	wg.Wait()
	checkOrder(t, rcv.receipts(), map[string]int{"a": 2, "b": 1})
}

func TestLoadWebhookKey(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "k")
	os.WriteFile(f, []byte("  s3cret-key\n"), 0o600)
	if k, err := events.LoadWebhookKey(f); err != nil || string(k) != "s3cret-key" {
		t.Fatalf("key %q %v", k, err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	if _, err := events.LoadWebhookKey(f); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty key: %v", err)
	}
	os.WriteFile(f, bytes.Repeat([]byte("k"), 5000), 0o600)
	if _, err := events.LoadWebhookKey(f); err == nil {
		t.Fatal("a 5000-byte key file")
	}
	if _, err := events.LoadWebhookKey(filepath.Join(dir, "none")); err == nil {
		t.Fatal("a missing key file")
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 200: 5 * time.Minute} {
		for i := 0; i < 50; i++ {
			if d := events.Backoff(n); d < want/2 || d >= want {
				t.Fatalf("Backoff(%d) = %s, want in [%s, %s)", n, d, want/2, want)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Two workers on one store (two replicas, or serve and a console): each
// event is claimed by one of them, so none arrives twice, and each secret
// stays in order whichever worker sends its events.
func TestTwoWorkersShareTheOutbox(t *testing.T) {
	s1, loc := openStore(t)
	s2, err := db.Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rcv := newReceiver(t, testKey)
	want := map[string]int{}
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("s%d", i%6)
		want[name]++
		commit(t, s1, event(name, want[name]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []*db.Store{s1, s2} {
		w, err := events.New(s, events.Config{WebhookURL: rcv.srv.URL, WebhookKey: testKey, TLSConfig: rcv.tls(), Batch: 4, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { w.Run(ctx) })
	}
	waitFor(t, 30*time.Second, "60 deliveries, recorded", func() bool {
		return len(rcv.receipts()) >= 60 && undelivered(t, s1, db.ChannelWebhook) == 0
	})
	cancel()
	wg.Wait()
	rcv.check()
	if dups := checkOrder(t, rcv.receipts(), want); len(dups) > 0 {
		t.Fatalf("sent twice by two workers: %v", dups)
	}
}

// Stopping the worker (serve shutting down) interrupts a delivery under
// way; it is recorded as failed and due again at once, so the next process
// does not wait out a claim or a backoff.
func TestStopInterruptsAndRequeues(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	w, err := events.New(s, events.Config{Command: fmt.Sprintf("touch %s/started; sleep 30", dir)})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, event("a", 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitFor(t, 10*time.Second, "the command to start", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	stopped := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	var list []db.OutboxEvent
	s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		list, err = tx.ListEvents(db.EventFilter{})
		return err
	})
	d := list[0].Delivery(db.ChannelCommand)
	if !d.Delivered.IsZero() || d.Attempts != 1 || !strings.Contains(d.LastError, "interrupted") || d.NextAttempt.After(time.Now()) || d.NextAttempt.Before(stopped.Add(-time.Second)) {
		t.Fatalf("after the stop: %+v", d)
	}
}
