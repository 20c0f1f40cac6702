package serve

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmsconsole/model"
)

// The events of SPEC §9 end to end, with the built binary as an operator
// runs it: `kmsconsole serve --event-webhook URL --event-webhook-secret-file
// F` (or --on-event CMD) in one process, changes made by `kmsconsole kms ...`
// in others (their values on stdin), `kmsconsole events list` to see what is
// owed, kill -9 and restarts in between.
//
// How serve trusts the test receiver: the webhook verifies certificates
// against the system roots (events.Config.TLSConfig is nil from the command
// line) and nothing turns verification off. Go reads the system roots from
// SSL_CERT_FILE when it is set, so the test gives serve the receiver's
// self-signed certificate that way, exactly as an operator would trust a
// private CA; TestBinaryEventsWebhookSigned first shows that without it the
// receiver is refused.

// kmsBinary is the kmsconsole binary, built once per test process and
// removed by TestMain.
var kmsBinary struct {
	once       sync.Once
	dir, path  string
	err        error
	buildTaken time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kmsBinary.dir != "" {
		os.RemoveAll(kmsBinary.dir)
	}
	os.Exit(code)
}

// builtBinary builds kmsconsole (once) and returns its path.
func builtBinary(t *testing.T) string {
	t.Helper()
	kmsBinary.once.Do(func() {
		start := time.Now()
		if kmsBinary.dir, kmsBinary.err = os.MkdirTemp("", "kmsserve-bin-"); kmsBinary.err != nil {
			return
		}
		kmsBinary.path = filepath.Join(kmsBinary.dir, "kmsconsole")
		if out, err := exec.Command("go", "build", "-o", kmsBinary.path, "kmsconsole").CombinedOutput(); err != nil {
			kmsBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		kmsBinary.buildTaken = time.Since(start)
	})
	if kmsBinary.err != nil {
		t.Fatal(kmsBinary.err)
	}
	return kmsBinary.path
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// kmsProcess runs the binary on one store (a SQLite file in a directory of
// the test), with the environment the test chose and nothing of the
// caller's KMSCONSOLE_* or SSL_CERT_* variables.
type kmsProcess struct {
	t      *testing.T
	bin    string
	dir    string // the test's directory
	dbPath string
	env    []string
	value  string // the secret value of the test: never printed
}

func newKMSProcess(t *testing.T) *kmsProcess {
	t.Helper()
	k := &kmsProcess{t: t, bin: builtBinary(t), dir: t.TempDir()}
	k.dbPath = filepath.Join(k.dir, "state", "kms.db")
	k.value = "value-" + randomHex(16)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KMSCONSOLE_") || strings.HasPrefix(kv, "SSL_CERT_") {
			continue
		}
		k.env = append(k.env, kv)
	}
	k.env = append(k.env, "KMSCONSOLE_DB="+k.dbPath, "KMSCONSOLE_REGION=cn-hangzhou")
	return k
}

// scrub hides the test's secret value in what a failure prints: if a bug
// ever put it somewhere, the test output must not spread it further.
func (k *kmsProcess) scrub(s string) string {
	return strings.ReplaceAll(s, k.value, "<the secret value>")
}

func (k *kmsProcess) command(extraEnv []string, args ...string) *exec.Cmd {
	c := exec.Command(k.bin, args...)
	c.Env = append(append([]string(nil), k.env...), extraEnv...)
	c.Dir = k.dir
	return c
}

// run runs one command line with stdin and returns its output and exit
// status.
func (k *kmsProcess) run(stdin string, args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	c := k.command(nil, args...)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		k.t.Fatalf("%s: %v", args[0], err)
	}
	return out.String(), errb.String(), code
}

// mustRun runs a command that must succeed and returns its JSON answer.
func (k *kmsProcess) mustRun(stdin string, args ...string) map[string]any {
	k.t.Helper()
	out, errOut, code := k.run(stdin, args...)
	if code != 0 {
		k.t.Fatalf("kmsconsole %s: exit %d: %s", strings.Join(args[:min(2, len(args))], " "), code, k.scrub(errOut))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		k.t.Fatalf("kmsconsole %s: not JSON: %s", strings.Join(args[:min(2, len(args))], " "), k.scrub(out))
	}
	return m
}

// createSecret creates a generic secret holding the test's value, given on
// stdin, and returns the answer's RequestId.
func (k *kmsProcess) createSecret(name string) string {
	k.t.Helper()
	ans := k.mustRun(k.value, "kms", "CreateSecret", "--SecretName", name, "--VersionId", "v1", "--SecretData", "-")
	rid, _ := ans["RequestId"].(string)
	if rid == "" {
		k.t.Fatalf("CreateSecret %s: no RequestId in %v", name, ans)
	}
	return rid
}

// listedEvent is one event of `kmsconsole events list`.
type listedEvent struct {
	model.Event
	Deliveries []struct {
		Channel     string
		Attempts    int
		Delivered   string
		NextAttempt string
		LastError   string
	}
}

// eventsList is `kmsconsole events list` (--all for delivered events too).
func (k *kmsProcess) eventsList(all bool) []listedEvent {
	k.t.Helper()
	args := []string{"events", "list"}
	if all {
		args = append(args, "--all")
	}
	out, errOut, code := k.run("", args...)
	if code != 0 {
		k.t.Fatalf("events list: exit %d: %s", code, k.scrub(errOut))
	}
	if strings.Contains(out, k.value) {
		k.t.Fatal("events list prints the secret value")
	}
	var ans struct{ Events []listedEvent }
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		k.t.Fatalf("events list: not JSON (%v): %s", err, out)
	}
	return ans.Events
}

// serve starts `kmsconsole serve` on a free port with the given flags.
func (k *kmsProcess) serve(extraEnv []string, flags ...string) *binaryServe {
	k.t.Helper()
	p := startBinary(k.t, k.command(extraEnv, append([]string{"serve", "--listen", "127.0.0.1:0"}, flags...)...))
	k.t.Cleanup(func() {
		if k.t.Failed() {
			k.t.Logf("serve log (pid %d):\n%s", p.cmd.Process.Pid, k.scrub(p.logText()))
		}
	})
	return p
}

// kill9 kills serve with SIGKILL, as a crash or the OOM killer does.
func (k *kmsProcess) kill9(p *binaryServe) {
	k.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		k.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		k.t.Fatal("serve did not die of SIGKILL")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		k.t.Fatalf("serve ended with %v, not by SIGKILL", p.cmd.ProcessState)
	}
}

// stop ends serve with SIGTERM, which must exit 0, and checks its log
// holds no value.
func (k *kmsProcess) stop(p *binaryServe) {
	k.t.Helper()
	code, log := p.terminate(k.t)
	if code != 0 {
		k.t.Fatalf("serve exited %d after SIGTERM:\n%s", code, k.scrub(log))
	}
	if strings.Contains(log, k.value) {
		k.t.Error("serve's log holds the secret value")
	}
}

// waitUntil polls cond every 100 ms until it holds, or fails the test
// after limit (a bound for a stuck run, not a timing assertion).
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// localOperator is who the CLI acts as: the OS user (service.LocalActor).
func localOperator(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// ---- the receiver

// webhookReceiver is an HTTPS endpoint that checks each request's
// X-Kmsconsole-Signature (HMAC-SHA256 over the raw body, computed here, not
// with package events) and records every request, in arrival order.
type webhookReceiver struct {
	t       *testing.T
	srv     *httptest.Server
	key     []byte // the bytes of the key file without the newline, as serve reads it
	keyFile string
	caFile  string // the receiver's certificate: SSL_CERT_FILE for serve
	url     string // with a path and a token, which serve must never print
	token   string

	mu       sync.Mutex
	status   int // the answer; 0 holds the request until release
	requests []receivedEvent
	problems []string

	holding     chan string // ids of the requests being held
	release     chan struct{}
	releaseOnce sync.Once
}

type receivedEvent struct {
	id, typ string
	body    []byte
	header  http.Header
	status  int // what the receiver answered (0: held, answer lost or late)
}

func newWebhookReceiver(t *testing.T, dir string) *webhookReceiver {
	t.Helper()
	r := &webhookReceiver{t: t, status: http.StatusOK, holding: make(chan string, 64), release: make(chan struct{}),
		token: "tok-" + randomHex(8)}
	// The key file as `openssl rand -hex 32 > file` makes it: serve signs
	// with its text, trailing newline trimmed.
	keyText := randomHex(32)
	r.key = []byte(keyText)
	r.keyFile = filepath.Join(dir, "webhook.key")
	if err := os.WriteFile(r.keyFile, []byte(keyText+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serveHTTP))
	// Handshakes serve refuses (the certificate not trusted) are logged
	// with the test, not on the test binary's stderr.
	r.srv.Config.ErrorLog = log.New(testLogWriter{t}, "receiver: ", 0)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.releaseHeld) // before Close, which waits for handlers
	r.caFile = filepath.Join(dir, "receiver-ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	if err := os.WriteFile(r.caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	r.url = r.srv.URL + "/hooks/kms?token=" + r.token
	return r
}

func (r *webhookReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	signed := hmac.Equal([]byte(req.Header.Get("X-Kmsconsole-Signature")), []byte(want))
	var ev struct{ Id, Type string }
	decodeErr := json.Unmarshal(body, &ev)

	r.mu.Lock()
	var bad []string
	if req.Method != http.MethodPost || req.URL.Path != "/hooks/kms" || req.URL.Query().Get("token") != r.token {
		bad = append(bad, fmt.Sprintf("%s %s", req.Method, req.URL.Path))
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		bad = append(bad, "Content-Type "+ct)
	}
	if !signed {
		bad = append(bad, "the signature does not verify")
	}
	if decodeErr != nil {
		bad = append(bad, "the body is not JSON")
	}
	if req.Header.Get("X-Kmsconsole-Event-Id") != ev.Id || req.Header.Get("X-Kmsconsole-Event-Type") != ev.Type {
		bad = append(bad, "the id/type headers do not match the body")
	}
	if len(bad) > 0 {
		// Never the body: the test decides elsewhere whether it is clean.
		r.problems = append(r.problems, fmt.Sprintf("event %s: %s", ev.Id, strings.Join(bad, "; ")))
	}
	status := r.status
	if len(bad) > 0 {
		status = http.StatusUnauthorized
	}
	r.requests = append(r.requests, receivedEvent{id: ev.Id, typ: ev.Type, body: body, header: req.Header.Clone(), status: status})
	i := len(r.requests) - 1
	r.mu.Unlock()

	if status == 0 {
		r.holding <- ev.Id
		<-r.release
		status = http.StatusOK // to a connection that may be gone
	}
	if status != http.StatusOK {
		http.Error(w, "not now", status)
		return
	}
	r.mu.Lock()
	r.requests[i].status = status
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// testLogWriter writes a logger's lines to the test's log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// answer sets what the receiver answers from now on (0: hold).
func (r *webhookReceiver) answer(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// releaseHeld lets held requests answer 200, and answers 200 from now on.
func (r *webhookReceiver) releaseHeld() {
	r.answer(http.StatusOK)
	r.releaseOnce.Do(func() { close(r.release) })
}

// received is a copy of every request so far.
func (r *webhookReceiver) received() []receivedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// accepted is what a receiver that deduplicates by id keeps: each id
// answered 200, once, in the order first accepted.
func (r *webhookReceiver) accepted() []receivedEvent {
	var out []receivedEvent
	seen := map[string]bool{}
	for _, e := range r.received() {
		if e.status == http.StatusOK && !seen[e.id] {
			seen[e.id] = true
			out = append(out, e)
		}
	}
	return out
}

func (r *webhookReceiver) acceptedIds() []string {
	var ids []string
	for _, e := range r.accepted() {
		ids = append(ids, e.id)
	}
	return ids
}

// check fails the test for any bad request, any body or header holding the
// value, any body that is not exactly a model.Event, and any id delivered
// twice with different bodies.
func (r *webhookReceiver) check(k *kmsProcess) {
	r.t.Helper()
	r.mu.Lock()
	problems := slices.Clone(r.problems)
	r.mu.Unlock()
	for _, p := range problems {
		r.t.Error("receiver: " + p)
	}
	first := map[string][]byte{}
	for _, e := range r.received() {
		if bytes.Contains(e.body, []byte(k.value)) {
			r.t.Errorf("event %s (%s): the body holds the secret value", e.id, e.typ)
		}
		for name, vs := range e.header {
			for _, v := range vs {
				if strings.Contains(v, k.value) {
					r.t.Errorf("event %s: header %s holds the secret value", e.id, name)
				}
			}
		}
		var ev model.Event
		dec := json.NewDecoder(bytes.NewReader(e.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			r.t.Errorf("event %s: the body is not a model.Event: %v", e.id, err)
		}
		if b, ok := first[e.id]; ok && !bytes.Equal(b, e.body) {
			r.t.Errorf("event %s was delivered twice with different bodies", e.id)
		}
		first[e.id] = e.body
	}
}

// decodeEvent is the event of a received body.
func decodeEvent(t *testing.T, body []byte) model.Event {
	t.Helper()
	var ev model.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("an event body does not decode: %v", err)
	}
	return ev
}

// webhookFlags are serve's flags for the receiver.
func (r *webhookReceiver) flags() []string {
	return []string{"--event-webhook", r.url, "--event-webhook-secret-file", r.keyFile}
}

// trust is the environment that makes serve trust the receiver.
func (r *webhookReceiver) trust() []string { return []string{"SSL_CERT_FILE=" + r.caFile} }

// webhookDelivery is the webhook channel's line of a listed event.
func webhookDelivery(e listedEvent) (attempts int, delivered, lastError string) {
	for _, d := range e.Deliveries {
		if d.Channel == "webhook" {
			return d.Attempts, d.Delivered, d.LastError
		}
	}
	return 0, "", ""
}

// ---- the tests

// TestBinaryEventsWebhookSigned: the real serve posts SecretCreated,
// SecretDeleted and SecretRestored, made by the real CLI in other
// processes, to an HTTPS receiver that verifies each signature with the key
// file's key; each event carries its id, the secret, the operator and the
// request id of the CLI's answer, in commit order, and never the value.
// Before that, a serve that does not trust the receiver's certificate
// delivers nothing (certificates are verified) and says why in events list.
func TestBinaryEventsWebhookSigned(t *testing.T) {
	t.Parallel()
	start := time.Now()
	k := newKMSProcess(t)
	rcv := newWebhookReceiver(t, k.dir)
	const name = "app/db-password"
	me := localOperator(t)

	// Not trusted: the TLS handshake fails, nothing reaches the receiver.
	untrusted := k.serve(nil, rcv.flags()...)
	createRID := k.createSecret(name)
	var certErr string
	waitUntil(t, 2*time.Minute, "a failed delivery in events list", func() bool {
		evs := k.eventsList(false)
		if len(evs) != 1 {
			return false
		}
		attempts, _, lastErr := webhookDelivery(evs[0])
		certErr = lastErr
		return attempts >= 1 && lastErr != ""
	})
	if !strings.Contains(certErr, "certificate") {
		t.Errorf("undelivered for another reason than the certificate: %s", k.scrub(certErr))
	}
	if strings.Contains(certErr, rcv.token) || strings.Contains(untrusted.logText(), rcv.token) {
		t.Error("the webhook URL's token appears in events list or the log")
	}
	if n := len(rcv.received()); n != 0 {
		t.Fatalf("an untrusted receiver got %d requests", n)
	}
	k.stop(untrusted)

	// Trusted through SSL_CERT_FILE: the event waiting is delivered, and
	// the next ones.
	p := k.serve(rcv.trust(), rcv.flags()...)
	waitUntil(t, 2*time.Minute, "SecretCreated delivered", func() bool { return len(rcv.accepted()) >= 1 })
	deleteRID, _ := k.mustRun("", "kms", "DeleteSecret", "--SecretName", name, "--RecoveryWindowInDays", "7")["RequestId"].(string)
	restoreRID, _ := k.mustRun("", "kms", "RestoreSecret", "--SecretName", name)["RequestId"].(string)
	waitUntil(t, 2*time.Minute, "three events delivered", func() bool { return len(rcv.accepted()) >= 3 })
	waitUntil(t, time.Minute, "events list to show nothing owed", func() bool { return len(k.eventsList(false)) == 0 })

	listed := k.eventsList(true)
	got := rcv.accepted()
	if len(got) != 3 || len(listed) != 3 {
		t.Fatalf("accepted %d events, events list --all shows %d; want 3 and 3", len(got), len(listed))
	}
	want := []struct{ typ, rid string }{
		{model.EventSecretCreated, createRID}, {model.EventSecretDeleted, deleteRID}, {model.EventSecretRestored, restoreRID},
	}
	for i, w := range want {
		ev := decodeEvent(t, got[i].body)
		switch {
		case ev.Type != w.typ:
			t.Errorf("event %d is %s, want %s (commit order)", i+1, ev.Type, w.typ)
		case ev.Id != listed[i].Id || len(ev.Id) != 36:
			t.Errorf("%s: id %q, events list has %q", w.typ, ev.Id, listed[i].Id)
		case ev.SecretName != name:
			t.Errorf("%s: secret %q", w.typ, ev.SecretName)
		case ev.Operator != me:
			t.Errorf("%s: operator %q, want %q (the CLI's OS user)", w.typ, ev.Operator, me)
		case w.rid == "" || ev.RequestId != w.rid:
			t.Errorf("%s: RequestId %q, the CLI answered %q", w.typ, ev.RequestId, w.rid)
		case ev.Time.IsZero():
			t.Errorf("%s: no time", w.typ)
		}
		if _, delivered, _ := webhookDelivery(listed[i]); delivered == "" {
			t.Errorf("%s: events list --all does not show it delivered", w.typ)
		}
	}
	if ev := decodeEvent(t, got[0].body); ev.VersionId != "v1" {
		t.Errorf("SecretCreated: VersionId %q, want v1", ev.VersionId)
	}
	if ev := decodeEvent(t, got[1].body); !strings.HasPrefix(ev.Detail, "deletion planned for ") {
		t.Errorf("SecretDeleted: Detail %q", ev.Detail)
	}
	rcv.check(k)
	k.stop(p)
	t.Logf("%d requests for 3 events; took %v (binary built in %v)", len(rcv.received()), time.Since(start).Round(time.Millisecond), kmsBinary.buildTaken.Round(time.Millisecond))
}

// TestBinaryEventsSurviveKill9: an event committed while the receiver
// refuses (503) is listed as owed, survives kill -9 of serve, and is
// delivered with the same id after the restart, as is one committed while
// no serve ran at all. Then the acknowledgement is lost: serve is killed
// while the receiver holds the request, and after the next restart the same
// event (same id, same bytes) comes again: at least once, deduplicated by
// id.
func TestBinaryEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	start := time.Now()
	k := newKMSProcess(t)
	rcv := newWebhookReceiver(t, k.dir)

	rcv.answer(http.StatusServiceUnavailable)
	p1 := k.serve(rcv.trust(), rcv.flags()...)
	k.createSecret("app/one")
	var owed []listedEvent
	waitUntil(t, 2*time.Minute, "a refused delivery in events list", func() bool {
		owed = k.eventsList(false)
		if len(owed) != 1 {
			return false
		}
		attempts, _, lastErr := webhookDelivery(owed[0])
		return attempts >= 1 && strings.Contains(lastErr, "503")
	})
	first := owed[0]
	if first.Type != model.EventSecretCreated || first.SecretName != "app/one" {
		t.Fatalf("owed: %+v", first.Event)
	}
	if _, _, lastErr := webhookDelivery(first); strings.Contains(lastErr, rcv.token) {
		t.Error("events list shows the webhook URL's token")
	}
	if !slices.ContainsFunc(rcv.received(), func(e receivedEvent) bool { return e.id == first.Id && e.status == http.StatusServiceUnavailable }) {
		t.Fatal("the receiver never refused the event events list shows refused")
	}
	k.kill9(p1)

	// Committed while no serve runs.
	k.createSecret("app/two")
	owed = k.eventsList(false)
	if len(owed) != 2 || owed[0].Id != first.Id || owed[1].SecretName != "app/two" {
		t.Fatalf("after kill -9, events list shows %d events, want app/one's (%s) and app/two's", len(owed), first.Id)
	}
	second := owed[1]

	rcv.answer(http.StatusOK)
	p2 := k.serve(rcv.trust(), rcv.flags()...)
	waitUntil(t, 3*time.Minute, "both events delivered after the restart", func() bool { return len(rcv.accepted()) >= 2 })
	if ids := rcv.acceptedIds(); !slices.Contains(ids, first.Id) || !slices.Contains(ids, second.Id) {
		t.Fatalf("accepted %v, want %s and %s", ids, first.Id, second.Id)
	}
	waitUntil(t, time.Minute, "events list to show nothing owed", func() bool { return len(k.eventsList(false)) == 0 })

	// The acknowledgement lost: serve dies while the receiver holds the
	// request (it has the event; serve never hears 200).
	rcv.answer(0)
	k.mustRun("", "kms", "DeleteSecret", "--SecretName", "app/one", "--RecoveryWindowInDays", "7")
	var heldId string
	select {
	case heldId = <-rcv.holding:
	case <-time.After(2 * time.Minute):
		t.Fatal("SecretDeleted never reached the receiver")
	}
	k.kill9(p2)
	rcv.releaseHeld()
	owed = k.eventsList(false)
	if len(owed) != 1 || owed[0].Id != heldId || owed[0].Type != model.EventSecretDeleted {
		t.Fatalf("after kill -9 with the request held, events list shows %d events, want SecretDeleted %s", len(owed), heldId)
	}
	p3 := k.serve(rcv.trust(), rcv.flags()...)
	// The dead process's claim runs out first (webhook timeout + 30 s).
	waitUntil(t, 3*time.Minute, "the held event delivered again", func() bool {
		n := 0
		for _, e := range rcv.received() {
			if e.id == heldId {
				n++
			}
		}
		return n >= 2 && len(k.eventsList(false)) == 0
	})
	if ids := rcv.acceptedIds(); len(ids) != 3 || ids[2] != heldId {
		t.Errorf("accepted (deduplicated by id) %v, want %s, %s, %s", ids, first.Id, second.Id, heldId)
	}
	rcv.check(k)
	k.stop(p3)
	t.Logf("%d requests for 3 events; took %v", len(rcv.received()), time.Since(start).Round(time.Millisecond))
}

// TestBinaryEventsOnEventCommand: serve --on-event CMD runs CMD with the
// event's JSON and a newline on stdin; a run that exits non-zero is not an
// acknowledgement, and the same event (same id) comes again.
func TestBinaryEventsOnEventCommand(t *testing.T) {
	t.Parallel()
	start := time.Now()
	k := newKMSProcess(t)
	out := filepath.Join(k.dir, "hook-out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	// The first run keeps what it read and fails; later runs write stdin
	// to a file of their own (renamed when complete) and their
	// environment and arguments beside it.
	hook := filepath.Join(k.dir, "on-event.sh")
	script := `#!/bin/sh
out=` + shellQuote(out) + `
if [ ! -e "$out/refused" ]; then
	cat > "$out/refused.tmp" && mv "$out/refused.tmp" "$out/refused"
	exit 3
fi
f=$(mktemp "$out/event.XXXXXX")
env > "$f.env"
printf '%s\n' "$0" "$@" > "$f.argv"
cat > "$f" && mv "$f" "$f.json"
`
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := k.serve(nil, "--on-event", hook)
	rid := k.createSecret("app/hooked")
	var files []string
	waitUntil(t, 2*time.Minute, "the hook to record an event", func() bool {
		files, _ = filepath.Glob(filepath.Join(out, "*.json"))
		return len(files) >= 1
	})
	waitUntil(t, time.Minute, "events list to show nothing owed", func() bool { return len(k.eventsList(false)) == 0 })

	refused, err := os.ReadFile(filepath.Join(out, "refused"))
	if err != nil {
		t.Fatal(err)
	}
	listed := k.eventsList(true)
	if len(listed) != 1 {
		t.Fatalf("events list --all shows %d events, want 1", len(listed))
	}
	ids := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, refused) {
			t.Errorf("%s: the retried run read other bytes than the refused one", filepath.Base(f))
		}
		if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("%s: stdin is not one JSON line and a newline", filepath.Base(f))
		}
		var ev model.Event
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("%s: not a model.Event: %v", filepath.Base(f), err)
		}
		ids[ev.Id] = true
		if ev.Type != model.EventSecretCreated || ev.SecretName != "app/hooked" || ev.VersionId != "v1" ||
			ev.Operator != localOperator(t) || ev.RequestId != rid || ev.Id != listed[0].Id {
			t.Errorf("the hook got %+v; want SecretCreated of app/hooked, v1, by %s, request %s, id %s", ev, localOperator(t), rid, listed[0].Id)
		}
		for _, side := range []string{f, strings.TrimSuffix(f, ".json") + ".env", strings.TrimSuffix(f, ".json") + ".argv"} {
			if b, err := os.ReadFile(side); err != nil {
				t.Error(err)
			} else if bytes.Contains(b, []byte(k.value)) {
				t.Errorf("%s holds the secret value", filepath.Base(side))
			}
		}
	}
	if len(ids) != 1 {
		t.Errorf("the hook recorded %d distinct ids, want 1", len(ids))
	}
	for _, d := range listed[0].Deliveries {
		if d.Channel == "command" && (d.Attempts < 2 || d.Delivered == "") {
			t.Errorf("command channel: %d attempts, delivered %q; want at least 2 and delivered", d.Attempts, d.Delivered)
		}
	}
	k.stop(p)
	t.Logf("%d hook runs acknowledged; took %v", len(files), time.Since(start).Round(time.Millisecond))
}
