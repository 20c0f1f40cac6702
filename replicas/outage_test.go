package replicas

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/serve"
	"kmsconsole/service"
)

// perSecret writes go to one generic secret before the next: with its
// initial version it stays within model.MaxVersions, so nothing is evicted
// and every write must still be there at the end.
const perSecret = model.MaxVersions - 1

// write is one PutSecretValue of a stream, retried with the same VersionId
// until acknowledged.
type write struct {
	secret, vid, data string
	attempts          int
	acked             bool
	errors            []string // what each failed attempt said
}

// stream issues PutSecretValue calls one after another until stopped.
type stream struct {
	name   string
	put    func(secret, vid, data string) (stdout, stderr string, code int)
	mu     sync.Mutex
	writes []*write
}

func streamSecret(stream string, i int) string {
	return fmt.Sprintf("stream/%s/%02d", stream, i/perSecret)
}

// run writes until stop closes; a write in progress is retried (same
// VersionId, same data) until acknowledged or giveUp closes.
func (s *stream) run(stop, giveUp <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		wr := &write{secret: streamSecret(s.name, i), vid: fmt.Sprintf("%s-%04d", s.name, i)}
		wr.data = "data-of-" + wr.vid
		s.mu.Lock()
		s.writes = append(s.writes, wr)
		s.mu.Unlock()
		for !wr.acked {
			out, stderr, code := s.put(wr.secret, wr.vid, wr.data)
			s.mu.Lock()
			wr.attempts++
			if code == 0 {
				var resp struct{ VersionId string }
				if json.Unmarshal([]byte(out), &resp) == nil && resp.VersionId == wr.vid {
					wr.acked = true
				} else {
					wr.errors = append(wr.errors, "exit 0 with an unexpected answer: "+out)
				}
			} else {
				wr.errors = append(wr.errors, fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr)))
			}
			s.mu.Unlock()
			if wr.acked {
				break
			}
			select {
			case <-giveUp:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// sshClient runs commands over SSH against a serve replica, as an operator.
type sshClient struct {
	args []string
}

func newSSHClient(t *testing.T, w *world, r *replica, keyFile string) *sshClient {
	t.Helper()
	pemBytes, err := os.ReadFile(serve.DefaultHostKeyPath(r.dir))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	if err := os.WriteFile(kh, []byte("[127.0.0.1]:"+r.port+" "+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &sshClient{args: []string{"-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "UserKnownHostsFile=" + kh, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", r.port, "127.0.0.1"}}
}

// loginBanner is what serve tells an SSH client whose login fails because
// the store cannot be reached.
const loginBanner = "the secret store cannot be reached; logins fail until it is back"

func (c *sshClient) run(command string) (stdout, stderr string, code int) {
	return c.runIn("", command)
}

// runIn is run with stdin, how values travel (never in argv).
func (c *sshClient) runIn(stdin, command string) (stdout, stderr string, code int) {
	cmd := exec.Command("ssh", append(append([]string(nil), c.args...), command)...)
	cmd.Stdin = strings.NewReader(stdin)
	outC, errC := newCapture("stdout of ssh "+command), newCapture("stderr of ssh "+command)
	cmd.Stdout, cmd.Stderr = outC, errC
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errC.Write([]byte(err.Error()))
	}
	return outC.String(), errC.String(), code
}

// storeError checks that a failure names the store by its URL without the
// password and says it cannot be reached (or that a commit's fate is
// unknown).
func (w *world) storeError(what, text string) bool {
	w.t.Helper()
	if strings.Contains(text, w.password) {
		w.t.Errorf("%s: the message holds the database password", what)
		return false
	}
	return strings.Contains(text, "PostgreSQL store "+w.redacted) &&
		(strings.Contains(text, "cannot be reached") || strings.Contains(text, "may or may not have been made"))
}

// TestPostgresRestartWhileWorking: a serve replica (scheduler on, rotations
// due), the console in tmux and two streams of PutSecretValue with distinct
// VersionIds (one through the CLI, one over SSH through serve) run while
// PostgreSQL is restarted (pg-cluster restart) and then crashes (immediate
// stop) and stays down 6 s, longer than a write waits to reconnect (5 s).
// During the outage the CLI and the console say the store (by its URL,
// without password) cannot be reached; afterwards both work again, serve
// never exits. Every write, retried with its VersionId until acknowledged,
// is in the store exactly once with its data and one successful audit
// record; no rotation is left pending and the host accepts every ACSCurrent.
func TestPostgresRestartWhileWorking(t *testing.T) {
	requireAll(t)
	requireTmux(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ssh not installed (CI=true: not skipping)")
		}
		t.Skip("ssh not installed")
	}
	t.Parallel()
	prebuild()
	c := ownCluster(t)
	w := newWorld(t, c, false)
	f := w.newFleet("i-pg", 4)
	// chpasswd answers a second after it changed the host: rotations last
	// over a second, so the outages catch some half-way.
	f.watchAdmin(t, 1)
	initial := map[string]string{}
	for _, s := range f.secrets {
		initial[s] = w.mustState(s).labels[model.StageCurrent]
	}
	ctx := context.Background()
	for _, name := range []string{"cli", "ssh"} {
		for i := 0; i < 40; i++ {
			if _, err := w.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: streamSecret(name, i*perSecret),
				SecretData: "initial", VersionId: "v0"}); err != nil {
				t.Fatal(scrub(err, w.password))
			}
		}
	}
	pub, priv := sshdtest.GenerateKey(t, "ed25519")
	keyDir := privateDir(t, "operator")
	keyFile, pubFile := filepath.Join(keyDir, "key"), filepath.Join(keyDir, "key.pub")
	os.WriteFile(keyFile, priv, 0o600)
	os.WriteFile(pubFile, []byte(pub+" ops@test\n"), 0o644)
	cliDir := w.dataDir("cli")
	if out, stderr, code := w.cli(cliDir, "", "operator", "add", "--name", "ops", "--key", pubFile, "--role", "admin"); code != 0 {
		t.Fatalf("operator add: exit %d %s %s", code, out, scrub(stderr, w.password))
	}
	r := w.startReplica("serve", "", schedFlags...)
	ssh := newSSHClient(t, w, r, keyFile)
	con := w.startConsole(w.dataDir("console"))
	if s, ok := con.waitFor(30*time.Second, "Secrets [", "stream/cli/00"); !ok {
		t.Fatalf("the console did not show the secrets:\n%s", scrub(s, w.password))
	}

	cliStream := &stream{name: "cli", put: func(secret, vid, data string) (string, string, int) {
		return w.cli(cliDir, data, "kms", "PutSecretValue", "--SecretName", secret, "--VersionId", vid, "--SecretData", "-")
	}}
	sshStream := &stream{name: "ssh", put: func(secret, vid, data string) (string, string, int) {
		return ssh.runIn(data, "kms PutSecretValue --SecretName "+secret+" --VersionId "+vid+" --SecretData -")
	}}
	stop, giveUp := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range []*stream{cliStream, sshStream} {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(stop, giveUp) }()
	}
	defer func() {
		close(giveUp)
		wg.Wait()
	}()
	w.makeDue(f.secrets...)
	start := time.Now()

	// 1. A restart: pg-cluster restart (fast shutdown, start).
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	c.restart(t)
	restartTook := time.Since(t0)

	// 2. A crash and 6 s down.
	time.Sleep(2 * time.Second)
	c.crash(t)
	down := time.Now()
	out, stderr, code := w.cli(cliDir, "", "kms", "ListSecrets")
	if code != 1 || out != "" || !w.storeError("kms ListSecrets while PostgreSQL is down", stderr) {
		t.Errorf("kms ListSecrets while PostgreSQL is down: exit %d, stdout %q, stderr %s", code, out, scrub(stderr, w.password))
	}
	cliMessage := stderr
	_, sshStderr, sshCode := ssh.run("kms ListSecrets")
	con.keys("C-r")
	screen, ok := con.waitFor(10*time.Second, "the PostgreSQL store "+w.redacted+" cannot be reached")
	if !ok || !strings.Contains(screen, "Could not reach the store") || strings.Contains(screen, "reach the instance") {
		t.Errorf("the console does not say the store cannot be reached:\n%s", scrub(screen, w.password))
	}
	outageScreen := screen
	if d := 6*time.Second - time.Since(down); d > 0 {
		time.Sleep(d)
	}
	c.start(t)
	outage := time.Since(down)

	// 3. Recovery: the same requests work again, without a restart of any
	// process.
	time.Sleep(3 * time.Second)
	if out, stderr, code := w.cli(cliDir, "", "kms", "ListSecrets"); code != 0 || !strings.Contains(out, `"TotalCount"`) {
		t.Errorf("kms ListSecrets after recovery: exit %d %s %s", code, out, scrub(stderr, w.password))
	}
	if out, stderr, code := ssh.run("kms ListSecrets"); code != 0 || !strings.Contains(out, `"TotalCount"`) {
		t.Errorf("ssh kms ListSecrets after recovery: exit %d %s %s", code, out, scrub(stderr, w.password))
	}
	con.keys("C-r")
	if screen, ok := con.waitFor(10*time.Second, "Secrets [", "stream/cli/00"); !ok || strings.Contains(screen, "cannot be reached") {
		t.Errorf("the console did not recover:\n%s", scrub(screen, w.password))
	}
	close(stop)
	wg.Wait()
	streamsTook := time.Since(start)

	// No rotation left half-way: each due secret rotated, none pending.
	settled := func() bool {
		for _, s := range f.secrets {
			st, err := w.state(s)
			if err != nil || st.labels[model.StagePending] != "" || st.labels[model.StageCurrent] == initial[s] {
				return false
			}
		}
		return true
	}
	if !waitFor(60*time.Second, 100*time.Millisecond, settled) {
		for _, s := range f.secrets {
			st, _ := w.state(s)
			t.Errorf("%s: labels %v", s, st.labels)
		}
		t.Fatalf("rotations not settled a minute after the outage; serve:\n%s", scrub(r.log.String(), w.password))
	}
	rotationsSettled := time.Since(start)
	rotVersions := 0
	for _, s := range f.secrets {
		st := w.mustState(s)
		rotVersions += len(st.versions)
		if len(st.versions) != 2 || st.labels[model.StagePrevious] != initial[s] {
			t.Errorf("%s: %d versions, labels %v: want one rotation over %s\n%s", s, len(st.versions), st.labels, initial[s], w.history(s, r))
		}
	}
	accepted := hostsAccept(t, w, f)

	// Every write is there exactly once, with its data and one audit
	// record of its success.
	audited := map[string]int{}
	for _, e := range w.audit("PutSecretValue") {
		// A retry after an answer was lost (the commit reached the
		// database, its reply did not) is recorded as a no-op.
		if e.Action == "PutSecretValue" && e.Result == "Success" && !strings.Contains(e.Detail, "no-op") {
			audited[e.VersionId]++
		}
	}
	var total, acked, retried, failures, clear int
	var unclear []string
	perSecretWrites := map[string]int{}
	for _, s := range []*stream{cliStream, sshStream} {
		for _, wr := range s.writes {
			total++
			perSecretWrites[wr.secret]++
			if wr.acked {
				acked++
			} else {
				t.Errorf("%s: never acknowledged (%d attempts): %v", wr.vid, wr.attempts, scrub(wr.errors, w.password))
			}
			if wr.attempts > 1 {
				retried++
			}
			for _, e := range wr.errors {
				failures++
				switch {
				case w.storeError("a failed write", e):
					clear++
				case s == cliStream:
					t.Errorf("a failed write through the CLI does not say the store cannot be reached: %s", scrub(e, w.password))
				case strings.Contains(e, loginBanner):
					// Over SSH, serve reads the operator registry at each
					// login: with the store down the login itself is
					// refused, and the banner says why.
					clear++
				default:
					unclear = append(unclear, s.name+": "+e)
				}
			}
			if got := w.value(wr.secret, wr.vid); got != wr.data {
				t.Errorf("%s: holds %q, wrote %q", wr.vid, got, wr.data)
			}
			if audited[wr.vid] != 1 {
				t.Errorf("%s: %d successful PutSecretValue audit records, want 1 (attempts %d)", wr.vid, audited[wr.vid], wr.attempts)
			}
		}
	}
	for sec, n := range perSecretWrites {
		if st := w.mustState(sec); len(st.versions) != 1+n {
			t.Errorf("%s: %d versions, want %d (v0 and %d writes)", sec, len(st.versions), 1+n, n)
		}
	}
	if total < 20 {
		t.Errorf("only %d writes in %v: the streams did not run", total, streamsTook)
	}
	if !r.alive() {
		t.Errorf("serve exited:\n%s", scrub(r.log.String(), w.password))
	}
	// Leave the console as a user does.
	con.keys("q")
	if s, ok := con.waitFor(30*time.Second, "EXIT=0"); !ok {
		t.Errorf("the console did not quit cleanly:\n%s", scrub(s, w.password))
	}
	cliFailures, sshFailures := 0, 0
	for _, wr := range cliStream.writes {
		cliFailures += len(wr.errors)
	}
	for _, wr := range sshStream.writes {
		sshFailures += len(wr.errors)
	}
	t.Logf("restart took %v; outage %v; %d writes (cli %d, ssh %d) in %v, all %d acknowledged once, %d retried; "+
		"%d failed attempts (cli %d, ssh %d), %d naming the store; rotations settled %v after the start (%d versions over %d secrets, %d/%d ACSCurrent log in)",
		restartTook.Round(10*time.Millisecond), outage.Round(10*time.Millisecond), total, len(cliStream.writes), len(sshStream.writes),
		streamsTook.Round(10*time.Millisecond), acked, retried, failures, cliFailures, sshFailures, clear,
		rotationsSettled.Round(10*time.Millisecond), rotVersions, len(f.secrets), accepted, len(f.secrets))
	t.Logf("during the outage: kms ListSecrets said %s", scrub(firstLine(cliMessage), w.password))
	t.Logf("during the outage: ssh kms ListSecrets exit %d: %s", sshCode, scrub(firstLine(sshStderr), w.password))
	t.Logf("during the outage the console showed:\n%s", scrub(errorLines(outageScreen), w.password))
	if sshCode != 0 && !strings.Contains(sshStderr, loginBanner) && !w.storeError("ssh kms ListSecrets while PostgreSQL is down", sshStderr) {
		t.Errorf("ssh kms ListSecrets while PostgreSQL is down: exit %d without saying the store cannot be reached: %s", sshCode, scrub(sshStderr, w.password))
	}
	if len(unclear) > 0 {
		t.Errorf("%d failed attempts over SSH do not name the store, e.g. %s", len(unclear), scrub(unclear[0], w.password))
	}
	noPasswordIn(t, w.password, c.serverLog(), f.srv.LogPath, filepath.Join(f.cmdDir, "cmd.*"))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	var m struct{ Message string }
	if json.Unmarshal([]byte(s), &m) == nil && m.Message != "" {
		return m.Message
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// errorLines are the screen's lines that say something went wrong.
func errorLines(screen string) string {
	var out []string
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, "store") || strings.Contains(l, "reach") || strings.Contains(l, "PostgreSQL") || strings.Contains(l, "InternalFailure") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

// TestPostgresDownAtStart: with PostgreSQL down, serve, the CLI and the
// console stop at once with a message that names the store by its URL
// without the password (also when the password is a URL parameter); a
// wrong password is refused without being echoed. Once PostgreSQL is up,
// the same environment works: the message was about the outage.
func TestPostgresDownAtStart(t *testing.T) {
	requireAll(t)
	t.Parallel()
	prebuild()
	c := ownCluster(t)
	w := newWorld(t, c, false)
	if _, err := w.svc.CreateSecret(context.Background(), service.CreateSecretRequest{SecretName: "app/db", SecretData: "v", VersionId: "v1"}); err != nil {
		t.Fatal(scrub(err, w.password))
	}
	dir := w.dataDir("r")
	binary(t)
	c.crash(t)

	check := func(what, stdout, stderr string, code int, redacted string) {
		t.Helper()
		if code != 1 || strings.TrimSpace(stdout) != "" {
			t.Errorf("%s: exit %d, stdout %q", what, code, scrub(stdout, w.password))
		}
		var e struct{ Code, Message string }
		if err := json.Unmarshal([]byte(stderr), &e); err != nil {
			t.Errorf("%s: not a JSON error: %s", what, scrub(stderr, w.password))
		}
		if !strings.Contains(e.Message, "the PostgreSQL store "+redacted+" cannot be reached") || !strings.Contains(e.Message, "connection refused") {
			t.Errorf("%s: the message does not name %s as unreachable: %s", what, redacted, scrub(e.Message, w.password))
		}
		if strings.Contains(stdout+stderr, w.password) {
			t.Errorf("%s: the password is in the output", what)
		}
	}

	t0 := time.Now()
	cmd := exec.Command(binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, schedFlags...)...)
	cmd.Env = w.env(dir)
	outC, errC := newCapture("stdout of serve, PostgreSQL down"), newCapture("stderr of serve, PostgreSQL down")
	cmd.Stdout, cmd.Stderr = outC, errC
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve kept running with PostgreSQL down:\n%s", scrub(errC.String(), w.password))
	}
	serveTook := time.Since(t0)
	check("serve", outC.String(), errC.String(), cmd.ProcessState.ExitCode(), w.redacted)
	serveMessage := errC.String()

	for _, args := range [][]string{{"kms", "ListSecrets"}, {"kms", "GetSecretValue", "--SecretName", "app/db"},
		{"kms", "PutSecretValue", "--SecretName", "app/db", "--VersionId", "v2", "--SecretData", "w"}, {"instance", "list"}, {"operator", "list"}, {"audit"}} {
		out, stderr, code := w.cli(dir, "", args...)
		check("kmsconsole "+strings.Join(args, " "), out, stderr, code, w.redacted)
	}

	// The password as a URL parameter instead of in the user part.
	asParam := *w
	asParam.url = strings.Replace(w.url, ":"+w.password+"@", "@", 1) + "&password=" + w.password
	if asParam.url == w.url+"&password="+w.password || !strings.Contains(asParam.url, "kms@127.0.0.1") {
		t.Fatal("could not move the password into a parameter")
	}
	out, stderr, code := asParam.cli(dir, "", "kms", "ListSecrets")
	check("password= parameter", out, stderr, code, w.redacted)

	// The console, on a terminal.
	if _, err := exec.LookPath("tmux"); err == nil || os.Getenv("CI") == "true" {
		con := w.startConsole(dir)
		screen, ok := con.waitFor(30*time.Second, "EXIT=1")
		if !ok || !strings.Contains(screen, "the PostgreSQL store "+w.redacted) || strings.Contains(screen, w.password) {
			t.Errorf("the console with PostgreSQL down:\n%s", scrub(screen, w.password))
		}
	}

	// Up again: the same environment works; a wrong password is refused
	// without being echoed.
	c.start(t)
	if out, stderr, code := w.cli(dir, "", "kms", "GetSecretValue", "--SecretName", "app/db"); code != 0 || !strings.Contains(out, `"SecretData": "v"`) {
		t.Errorf("after PostgreSQL started: exit %d %s %s", code, out, scrub(stderr, w.password))
	}
	wrong := *w
	wrong.password = "Wr0ng-" + strings.Repeat("x", 12)
	rememberPassword(wrong.password)
	wrong.url = strings.Replace(w.url, ":"+w.password+"@", ":"+wrong.password+"@", 1)
	out, stderr, code = wrong.cli(dir, "", "kms", "ListSecrets")
	if code != 1 || !strings.Contains(stderr, "the PostgreSQL store "+w.redacted) || !strings.Contains(stderr, "password authentication failed") ||
		strings.Contains(stderr+out, wrong.password) {
		t.Errorf("a wrong password: exit %d %s", code, scrub(scrub(stderr, wrong.password), w.password))
	}
	t.Logf("serve with PostgreSQL down exited in %v: %s", serveTook.Round(time.Millisecond), scrub(firstLine(serveMessage), w.password))
	t.Logf("a wrong password: %s", scrub(firstLine(stderr), wrong.password))
	n := noPasswordIn(t, w.password, c.serverLog())
	noPasswordIn(t, wrong.password, c.serverLog())
	t.Logf("%d outputs and logs scanned for the password", n)
}
