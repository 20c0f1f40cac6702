package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// End-to-end tests: the real binary in a private tmux server, one key per
// send-keys, the screen read with capture-pane.

// requireTmux skips without tmux, unless CI=true (then it fails).
func requireTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed (CI=true: not skipping)")
		}
		t.Skip("tmux is not installed")
	}
}

// buildBinary builds kmsconsole into a temp dir.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kmsconsole")
	cmd := exec.Command("go", "build", "-o", bin, "kmsconsole")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var tmuxSeq atomic.Int64

type tmux struct {
	t    *testing.T
	sock string
	last string
}

// startTmux runs command in a new w×h session of a private tmux server
// (no config); the server is killed at cleanup.
func startTmux(t *testing.T, w, h int, command string) *tmux {
	t.Helper()
	s := &tmux{t: t, sock: fmt.Sprintf("kmsui-%d-%d", os.Getpid(), tmuxSeq.Add(1))}
	// Keep the pane after the program exits, so a crash can be read.
	s.run("-f", "/dev/null", "new-session", "-d", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command+"; sleep 30")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last screen:\n%s", s.capture())
		}
		_ = exec.Command("tmux", "-L", s.sock, "kill-server").Run()
	})
	return s
}

func (s *tmux) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// key sends one key per send-keys call ("jj" in one call is one key).
func (s *tmux) key(keys ...string) {
	for _, k := range keys {
		s.run("send-keys", "-t", "0", k)
		time.Sleep(40 * time.Millisecond)
	}
}

// text types literal text into the focused field.
func (s *tmux) text(text string) {
	s.run("send-keys", "-t", "0", "-l", text)
	time.Sleep(40 * time.Millisecond)
}

func (s *tmux) capture() string {
	out, err := exec.Command("tmux", "-L", s.sock, "capture-pane", "-p", "-t", "0").CombinedOutput()
	if err != nil {
		return s.last
	}
	s.last = string(out)
	return s.last
}

// waitFor polls the screen until it shows every text.
func (s *tmux) waitFor(texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v := s.capture()
		ok := true
		for _, x := range texts {
			if !strings.Contains(v, x) {
				ok = false
			}
		}
		if ok {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("the screen never showed %q", texts)
	return ""
}

func (s *tmux) waitGone(text string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !strings.Contains(s.capture(), text) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("the screen still shows %q", text)
}

func consoleCommand(bin, dbPath string) string {
	return fmt.Sprintf("env TERM=xterm-256color COLORTERM=truecolor KMSCONSOLE_DB=%s KMSCONSOLE_REGION=cn-hangzhou %s", dbPath, bin)
}

// managedHost is a real sshd with an admin (passwordless sudo) and one
// managed user, registered as instance i-ID in a new store.
type managedHost struct {
	srv         *sshdtest.Server
	admin, user string
	dbPath      string
	svc         *service.Service
}

func newManagedHost(t *testing.T, id, userPrefix, password string) *managedHost {
	t.Helper()
	sshdtest.Require(t)
	h := &managedHost{srv: sshdtest.Start(t, sshdtest.Options{})}
	var adminKey []byte
	h.admin, adminKey = sshdtest.CreateAdmin(t)
	h.user = sshdtest.CreateUser(t, userPrefix, password)
	h.dbPath = filepath.Join(t.TempDir(), "kms.db")
	h.svc = openService(t, h.dbPath)
	if _, err := h.svc.AddInstance(context.Background(), service.AddInstanceRequest{InstanceId: "i-" + id, InstanceName: id,
		Host: h.srv.Host, Port: h.srv.Port, AdminUser: h.admin, AdminKey: adminKey, HostKey: h.srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	return h
}

func openService(t *testing.T, dbPath string) *service.Service {
	t.Helper()
	store, err := db.Open(dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := service.New(store, service.Options{Region: "cn-hangzhou"})
	t.Cleanup(svc.Close)
	return svc
}

// TestE2EGeneric: create a generic secret with the wizard, open it, reveal
// the value, plan its deletion in 7 days, restore it.
func TestE2EGeneric(t *testing.T) {
	requireTmux(t)
	bin := buildBinary(t)
	dbPath := filepath.Join(t.TempDir(), "kms.db")
	tm := startTmux(t, 120, 40, consoleCommand(bin, dbPath))
	tm.waitFor("Secrets [0]", "No secrets in cn-hangzhou yet")

	tm.key("c")
	tm.waitFor("1 Basics")
	tm.key("Tab")
	tm.text("e2e/db/password")
	tm.key("Tab")
	tm.text("S3cret-Value!")
	tm.key("Tab")
	tm.text("made by the e2e test")
	tm.key("Enter")
	tm.waitFor("3 Review", "(13 characters)")
	tm.key("Enter")
	tm.waitFor("Secret created", "e2e/db/password")

	tm.key("Enter")
	tm.waitFor("Secret e2e/db/password", "Versions [1]", "ACSCurrent")
	if strings.Contains(tm.capture(), "S3cret-Value!") {
		t.Fatal("the value shows before it is revealed")
	}
	tm.key("v")
	tm.waitFor("S3cret-Value!")

	tm.key("d")
	tm.waitFor("Plan Deletion Secret", "Delete In")
	tm.key("Tab", "BSpace", "BSpace")
	tm.text("7")
	tm.key("Enter")
	tm.waitFor("Pending deletion (in 7 days)", "planned for")

	tm.key("u")
	tm.waitFor("Restore Secret", "Restore e2e/db/password?")
	tm.key("Enter")
	tm.waitFor("Restored e2e/db/password")
	tm.waitGone("Pending deletion")

	tm.key("Escape")
	tm.waitFor("Secrets [1]")
	tm.key("q")
	tm.waitGone("Secrets [1]")

	svc := openService(t, dbPath)
	d, err := svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: "e2e/db/password"})
	if err != nil || d.PlannedDeleteTime != "" || d.Description != "made by the e2e test" {
		t.Fatalf("after restore: %v %+v", err, d)
	}
	events, err := svc.Audit(context.Background(), 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	// The reveal (v) is a read of the value, audited as one.
	if got := strings.Join(actions, " "); got != "RestoreSecret DeleteSecret GetSecretValue CreateSecret" {
		t.Fatalf("audit: %s", got)
	}
}

var versionRE = regexp.MustCompile(`New version\s+([0-9a-f-]{36})`)

// TestE2EECS: the wizard creates a Managed ECS secret on a real sshd, then
// Rotate Immediately with a generated password: the new password logs in,
// the old one is refused.
func TestE2EECS(t *testing.T) {
	requireTmux(t)
	const initial = "Initial-Passw0rd1"
	h := newManagedHost(t, "e2e", "ui", initial)
	srv, user, dbPath, svc := h.srv, h.user, h.dbPath, h.svc
	ctx := context.Background()
	bin := buildBinary(t)
	tm := startTmux(t, 120, 40, consoleCommand(bin, dbPath))
	tm.waitFor("Secrets [0]")

	name := "acs/ecs/e2e/" + user
	tm.key("c")
	tm.waitFor("1 Basics")
	tm.key("Right", "Tab")
	tm.waitFor("acs/ecs/")
	tm.text("e2e/" + user)
	tm.key("Tab")
	tm.waitFor("i-e2e · e2e · 127.0.0.1")
	tm.key("Tab")
	tm.text(user)
	tm.key("Tab", "Tab")
	tm.text(initial)
	tm.key("Enter")
	tm.waitFor("2 Rotation", "Automatic rotation")
	tm.key("Enter")
	tm.waitFor("3 Review", "Managed user")
	tm.key("Enter")
	v := tm.waitFor("Secret created")
	if strings.Contains(v, "Warning") {
		t.Fatalf("the initial password should log in:\n%s", v)
	}

	tm.key("Enter")
	tm.waitFor("Secret "+name, "Managed ECS secret")
	tm.key("R")
	tm.waitFor("Rotate Immediately", "Use Custom Secret")
	tm.key("Enter")
	v = tm.waitFor("Rotation triggered", "New version")
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("no new VersionId on screen:\n%s", v)
	}
	tm.key("Escape")
	tm.waitFor("ACSPrevious")

	resp, err := svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: name})
	if err != nil {
		t.Fatal(err)
	}
	if resp.VersionId != m[1] {
		t.Fatalf("ACSCurrent is %s, the console said %s", resp.VersionId, m[1])
	}
	var data model.ECSData
	if err := json.Unmarshal([]byte(resp.SecretData), &data); err != nil {
		t.Fatal(err)
	}
	if data.Password == initial || len(data.Password) != 32 {
		t.Fatalf("not a new generated password (%d chars)", len(data.Password))
	}
	if err := ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, data.Password); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	if err := ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, initial); !errors.Is(err, ecs.ErrAuthFailed) {
		t.Fatalf("the old password should be refused, got %v", err)
	}
	tm.key("q")
}
