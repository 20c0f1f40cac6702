package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/scheduler"
	"kmsconsole/service"
)

// sshPath is the OpenSSH client the tests drive, as an operator would.
const sshPath = "/usr/bin/ssh"

// requireTool skips without the tool, or fails when CI=true (the rule of
// sshdtest.Require).
func requireTool(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (CI=true: not skipping)", tool)
	}
	t.Skipf("%s not installed", tool)
	return ""
}

// syncBuffer is the server log, written by many sessions at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a store, its service and a serve server on a free port of
// 127.0.0.1, with a known_hosts file pinning the server's host key.
type harness struct {
	t          *testing.T
	dir        string
	store      *db.Store // the store svc works on, for reads behind its back
	svc        *service.Service
	srv        *Server
	port       int
	knownHosts string
	log        *syncBuffer

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	requireTool(t, sshPath)
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "data", "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessOn(t, dir, store, cfg)
}

// newHarnessOn is newHarness on a store the test opened (closed when the
// test ends); the host key goes in dir/data unless cfg names one.
func newHarnessOn(t *testing.T, dir string, store *db.Store, cfg Config) *harness {
	t.Helper()
	t.Cleanup(func() { store.Close() })
	requireTool(t, sshPath)
	svc := service.New(store, service.Options{Region: "cn-hangzhou"})
	t.Cleanup(svc.Close)
	h := &harness{t: t, dir: dir, store: store, svc: svc, log: &syncBuffer{}}
	if cfg.HostKeyPath == "" {
		cfg.HostKeyPath = DefaultHostKeyPath(filepath.Join(dir, "data"))
	}
	cfg.Log = h.log
	if cfg.Background == nil {
		// As app wires it: the scheduler runs while serve serves.
		cfg.Background = func(ctx context.Context, logf func(string)) {
			scheduler.Run(ctx, svc, scheduler.DefaultTick, logf)
		}
	}
	h.start(cfg)
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("serve log:\n%s", h.log.String())
		}
	})
	return h
}

func (h *harness) start(cfg Config) {
	t := h.t
	t.Helper()
	srv, err := New(h.svc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.port = srv, l.Addr().(*net.TCPAddr).Port
	h.knownHosts = filepath.Join(h.dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s\n", h.port, srv.HostKey())
	if err := os.WriteFile(h.knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done, h.once = cancel, make(chan error, 1), sync.Once{}
	go func() { h.done <- srv.Serve(ctx, l) }()
}

// stop cancels the server (what SIGTERM does in app.runServe) and returns what
// Serve returned.
func (h *harness) stop() error {
	h.once.Do(func() {
		h.cancel()
		select {
		case h.err = <-h.done:
		case <-time.After(3 * time.Minute):
			h.err = errors.New("serve did not stop")
		}
	})
	return h.err
}

// operator registers an operator with a new key and returns the private
// key file.
func (h *harness) operator(name, role string) string {
	h.t.Helper()
	pub, priv := sshdtest.GenerateKey(h.t, "ed25519")
	if err := h.svc.AddOperator(context.Background(), name, pub+" "+name+"@test", role); err != nil {
		h.t.Fatal(err)
	}
	return h.keyFile(name, priv)
}

func (h *harness) keyFile(name string, priv []byte) string {
	h.t.Helper()
	p := filepath.Join(h.dir, "key-"+name)
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// sshArgs are the client options: this key only, the pinned host key, no
// prompts, no user configuration.
func (h *harness) sshArgs(key string) []string {
	return []string{"-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "UserKnownHostsFile=" + h.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(h.port)}
}

// ssh runs one command over SSH and returns stdout, stderr and the exit
// status (255 when ssh itself failed).
func (h *harness) ssh(key string, args ...string) (string, string, int) {
	h.t.Helper()
	return runSSH(h.t, append(h.sshArgs(key), "127.0.0.1", remoteCommand(args)))
}

func runSSH(t testing.TB, args []string) (string, string, int) {
	t.Helper()
	return runSSHIn(t, "", args)
}

// runSSHIn is runSSH with stdin: how a value reaches a remote command
// without being in any argv (--SecretData -).
func runSSHIn(t testing.TB, stdin string, args []string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ssh: %v", err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// remoteCommand quotes args for the server's shell-like split of the
// command line (ssh sends one string).
func remoteCommand(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// mustSSH runs a command that must succeed and decodes its JSON answer.
func (h *harness) mustSSH(key string, args ...string) map[string]any {
	h.t.Helper()
	out, errOut, code := h.ssh(key, args...)
	if code != 0 {
		h.t.Fatalf("ssh %v: exit %d: %s", args[:min(2, len(args))], code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		h.t.Fatalf("ssh %v: not JSON: %q", args[:min(2, len(args))], out)
	}
	return m
}

// apiError decodes the JSON error body a failed command writes on stderr.
func apiError(t testing.TB, stderr string) (code, message string) {
	t.Helper()
	var body struct{ Code, Message string }
	if err := json.Unmarshal([]byte(stderr), &body); err != nil {
		t.Fatalf("stderr is not a JSON error: %q", stderr)
	}
	return body.Code, body.Message
}

// tmux drives a real terminal: a private tmux server with no config.
type tmux struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, shellCmd string) *tmux {
	t.Helper()
	requireTool(t, "tmux")
	tm := &tmux{t: t, sock: fmt.Sprintf("kmsserve-%d-%d", os.Getpid(), time.Now().UnixNano())}
	// The trailing sleep keeps the pane (and what ssh printed last) after
	// the session ends.
	full := "env TERM=xterm-256color " + shellCmd + "; echo SSH-EXIT=$?; sleep 60"
	out, err := exec.Command("tmux", "-L", tm.sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", full).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(tm.kill)
	return tm
}

// kill ends the tmux server (and the ssh client in it); safe to repeat.
func (tm *tmux) kill() { exec.Command("tmux", "-L", tm.sock, "kill-server").Run() }

// send sends one key (tmux key name or a single character) per call.
func (tm *tmux) send(keys ...string) {
	tm.t.Helper()
	for _, k := range keys {
		if out, err := exec.Command("tmux", "-L", tm.sock, "send-keys", "-t", "0", k).CombinedOutput(); err != nil {
			tm.t.Fatalf("send-keys %q: %v: %s", k, err, out)
		}
	}
}

func (tm *tmux) capture() string {
	out, _ := exec.Command("tmux", "-L", tm.sock, "capture-pane", "-p", "-t", "0").Output()
	return string(out)
}

// waitFor polls the pane until ok holds, and returns the screen.
func (tm *tmux) waitFor(what string, ok func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		screen = tm.capture()
		if ok(screen) {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.t.Fatalf("screen never showed %s; last screen:\n%s", what, screen)
	return ""
}

func (tm *tmux) waitText(s string) string {
	tm.t.Helper()
	return tm.waitFor(strconv.Quote(s), func(screen string) bool { return strings.Contains(screen, s) })
}

// footer is the last non-empty line of the screen: the key hints.
func footer(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return lines[i]
		}
	}
	return ""
}

// consoleCommand is the shell command that opens the console over ssh -tt.
func (h *harness) consoleCommand(key string) string {
	args := append([]string{sshPath, "-tt"}, h.sshArgs(key)...)
	args = append(args, "127.0.0.1")
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// sshFingerprint is the SHA256 fingerprint of an authorized_keys line.
func sshFingerprint(t testing.TB, line string) string {
	t.Helper()
	pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return gossh.FingerprintSHA256(pk)
}

func verifyPassword(ctx context.Context, srv *sshdtest.Server, user, password string) error {
	return ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, password)
}
