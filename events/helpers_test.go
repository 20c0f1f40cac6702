package events_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/events"
	"kmsconsole/model"
)

var t0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// openStore opens a fresh store on the run's backend.
func openStore(t testing.TB) (*db.Store, string) {
	t.Helper()
	loc := dbtest.Locator(t)
	s, err := db.Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, loc
}

// event n of secret: its number is in Detail.
func event(secret string, n int) model.Event {
	return model.Event{Type: model.EventRotationSucceeded, Time: t0.Add(time.Duration(n) * time.Second),
		SecretName: secret, VersionId: "v" + strconv.Itoa(n), Operator: "scheduler", Detail: strconv.Itoa(n)}
}

// commit adds each event in a transaction of its own, as the service does.
func commit(t testing.TB, s *db.Store, evs ...model.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Write(context.Background(), func(tx *db.Tx) error { return tx.AddEvent(e) }); err != nil {
			t.Fatal(err)
		}
	}
}

func undelivered(t testing.TB, s *db.Store, channel string) int {
	t.Helper()
	var n int
	if err := s.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		n, err = tx.UndeliveredCount(channel)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// clock is a test clock; After moves it instead of waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// receipt is one request the receiver got.
type receipt struct {
	ev   model.Event
	body []byte
	at   time.Time // the test clock's time, when there is one
}

// receiver is an HTTPS endpoint that checks every request's signature, as
// a real receiver must, and records what it got. answer, when set, decides
// the answer: an HTTP status, or 0 to drop the connection after recording
// (the acknowledgement lost).
type receiver struct {
	t   testing.TB
	srv *httptest.Server
	key []byte
	now func() time.Time
	mu  sync.Mutex
	got []receipt
	bad []string
	// answer is called for one request at a time (it may block).
	answer   func(ev model.Event) int
	answerMu sync.Mutex
	inflight sync.WaitGroup
}

func newReceiver(t testing.TB, key []byte) *receiver {
	r := &receiver{t: t, key: key}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// Workers that give up on a handshake (a test of TLS verification)
	// are not news.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.inflight.Add(1)
	defer r.inflight.Done()
	body, _ := io.ReadAll(req.Body)
	// The signature, computed here independently of package events.
	m := hmac.New(sha256.New, r.key)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	sig := req.Header.Get("X-Kmsconsole-Signature")
	if !hmac.Equal([]byte(sig), []byte(want)) {
		r.mu.Lock()
		r.bad = append(r.bad, "bad signature "+sig)
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev model.Event
	if err := json.Unmarshal(body, &ev); err != nil || req.Method != http.MethodPost ||
		req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Kmsconsole-Event-Id") != ev.Id || ev.Id == "" {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("bad request %s %q %v", req.Method, body, req.Header))
		r.mu.Unlock()
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	status := http.StatusNoContent
	r.answerMu.Lock()
	if r.answer != nil {
		status = r.answer(ev)
	}
	r.answerMu.Unlock()
	if status >= 200 && status < 300 || status == 0 {
		r.mu.Lock()
		rc := receipt{ev: ev, body: body}
		if r.now != nil {
			rc.at = r.now()
		}
		r.got = append(r.got, rc)
		r.mu.Unlock()
	}
	if status == 0 {
		panic(http.ErrAbortHandler) // the event arrived; its answer never does
	}
	w.WriteHeader(status)
}

// setAnswer sets answer and the clock that stamps receipts (nil: none).
func (r *receiver) setAnswer(now func() time.Time, answer func(ev model.Event) int) {
	r.answerMu.Lock()
	r.answer = answer
	r.answerMu.Unlock()
	r.mu.Lock()
	r.now = now
	r.mu.Unlock()
}

func (r *receiver) receipts() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.got...)
}

func (r *receiver) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Fatalf("the receiver refused requests: %v", r.bad)
	}
}

// tls trusts the receiver's certificate only (verification stays on).
func (r *receiver) tls() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// waitFor polls cond for up to d of real time.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkOrder checks that the receipts hold every event of want (secret →
// count) in order per secret, counting first receipts only, and returns
// the ids received more than once.
func checkOrder(t testing.TB, got []receipt, want map[string]int) (dups []string) {
	t.Helper()
	seen := map[string]bool{}
	next := map[string]int{}
	for _, r := range got {
		if seen[r.ev.Id] {
			dups = append(dups, r.ev.Id)
			continue
		}
		seen[r.ev.Id] = true
		next[r.ev.SecretName]++
		if r.ev.Detail != strconv.Itoa(next[r.ev.SecretName]) {
			t.Fatalf("secret %s: event %s arrived as number %d", r.ev.SecretName, r.ev.Detail, next[r.ev.SecretName])
		}
	}
	for name, n := range want {
		if next[name] != n {
			t.Fatalf("secret %s: %d of %d events arrived", name, next[name], n)
		}
	}
	if len(next) != len(want) {
		t.Fatalf("events of %d secrets arrived, want %d", len(next), len(want))
	}
	return dups
}

// drain runs passes, moving the clock to each pass's Next, until nothing
// is undelivered or the clock passes limit.
func drain(t testing.TB, w *events.Worker, c *clock, limit time.Time) {
	t.Helper()
	for c.Now().Before(limit) {
		r, err := w.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Next.IsZero() {
			return
		}
		c.Set(r.Next)
	}
	t.Fatalf("events still undelivered at %s", limit.Format(time.RFC3339))
}
