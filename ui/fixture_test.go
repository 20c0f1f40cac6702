package ui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// fixedNow is the clock of every golden test.
var fixedNow = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

type fixture struct {
	svc   *service.Service
	store *db.Store
}

// newFixture is a temp store with fixed data: three generic secrets (one
// with two versions, one pending deletion) through the service, and two
// ECS secrets on two registered instances written directly (their hosts
// are closed ports on 127.0.0.1: checks and rotations fail fast).
func newFixture(t *testing.T, role string) *fixture {
	t.Helper()
	return newFixturePort(t, role, 1)
}

// newFixturePort is newFixture with i-web1 on another port of 127.0.0.1.
func newFixturePort(t *testing.T, role string, webPort int) *fixture {
	t.Helper()
	store, err := db.Open(filepath.Join(t.TempDir(), "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	admin := service.New(store, service.Options{Region: "cn-hangzhou", Actor: service.Actor{Name: "alice", Role: model.RoleAdmin}, Now: fixedClock})
	t.Cleanup(admin.Close)
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "db/prod/password", SecretData: "Pr0d-Passw0rd!", VersionId: "v1", Description: "Production database password"}))
	must(admin.PutSecretValue(ctx, service.PutSecretValueRequest{SecretName: "db/prod/password", SecretData: "Pr0d-Passw0rd-2!", VersionId: "v2"}))
	must(admin.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "api/stripe/key", SecretData: "sk_live_51abc", VersionId: "v1"}))
	must(admin.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "app/staging/token", SecretData: "staging-token", VersionId: "v1"}))
	seven := 7
	must(admin.DeleteSecret(ctx, service.DeleteSecretRequest{SecretName: "app/staging/token", RecoveryWindowInDays: &seven}))

	hostKey := fixedHostKey(1)
	_, adminKey := fixedPrivateKey(t, 2)
	err = store.Write(ctx, func(tx *db.Tx) error {
		for _, in := range []model.Instance{
			{InstanceId: "i-web1", InstanceName: "web1", RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: webPort, AdminUser: "root", HostKey: hostKey, CreateTime: fixedNow.Add(-72 * time.Hour)},
			{InstanceId: "i-db1", InstanceName: "db1", RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: 2, AdminUser: "kmsadmin", HostKey: fixedHostKey(3), CreateTime: fixedNow.Add(-48 * time.Hour)},
		} {
			if err := tx.InsertInstance(&db.InstanceRow{Instance: in, AdminKey: adminKey}); err != nil {
				return err
			}
		}
		web := &db.SecretRow{InstanceId: "i-web1", Secret: model.Secret{
			Name: "acs/ecs/web1/root", Type: model.ECS, Description: "root on web1", RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-web1", RegionId: "cn-hangzhou"}.JSON(),
			CreateTime:     fixedNow.Add(-72 * time.Hour), UpdateTime: fixedNow.Add(-48 * time.Hour),
			AutomaticRotation: model.RotationEnabled, RotationInterval: 7 * 86400, LastRotationDate: fixedNow.Add(-48 * time.Hour),
		}}
		pub, priv := fixedPrivateKey(t, 4)
		deploy := &db.SecretRow{InstanceId: "i-db1", Secret: model.Secret{
			Name: "acs/ecs/db1/deploy", Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: model.ECSConfig{SecretSubType: model.SubTypeSSHKey, InstanceId: "i-db1", RegionId: "cn-hangzhou"}.JSON(),
			CreateTime:     fixedNow.Add(-30 * 24 * time.Hour), UpdateTime: fixedNow.Add(-time.Hour),
			AutomaticRotation: model.RotationEnabled, RotationInterval: 30 * 86400, LastRotationDate: fixedNow.Add(-29 * 24 * time.Hour),
		}}
		for _, r := range []struct {
			row  *db.SecretRow
			data model.ECSData
		}{
			{web, model.ECSData{UserName: "root", Password: "Old-Passw0rd!"}},
			{deploy, model.ECSData{UserName: "deploy", PublicKey: pub, PrivateKey: string(priv)}},
		} {
			id, err := tx.InsertSecret(r.row)
			if err != nil {
				return err
			}
			r.row.ID = id
			if err := tx.InsertVersion(r.row, "v1", r.data.JSON(), model.DataText, r.row.CreateTime); err != nil {
				return err
			}
			if err := tx.SetLabels(id, nil, model.Labels{model.StageCurrent: "v1"}); err != nil {
				return err
			}
		}
		// Automatic rotation was on and its last attempt failed.
		deploy.AutomaticRotation = model.RotationInvalid
		deploy.AutoWanted = true
		deploy.RotationError = "set: instance i-db1 (127.0.0.1:2) is unreachable: dial tcp 127.0.0.1:2: connect: connection refused"
		deploy.RotationFailures = 1
		return tx.UpdateSecret(deploy)
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := admin
	if role != model.RoleAdmin {
		svc = admin.As(service.Actor{Name: "bob", Role: role})
	}
	return &fixture{svc: svc, store: store}
}

func fixedHostKey(seed byte) string {
	pk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	sp, _ := ssh.NewPublicKey(pk)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func fixedPrivateKey(t *testing.T, seed byte) (string, []byte) {
	// PKCS#8: deterministic, unlike OpenSSH's format (random check bytes).
	k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(k.Public())
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), b.Bytes()
}

// plainRenderer renders without colour: goldens do not depend on the
// terminal.
func plainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

// probe asks the running model for its current view, from inside the
// program's Update loop (no data race with the program).
type probe struct{ ch chan string }

// modelProbe runs f on the console model inside the program's Update loop.
type modelProbe struct {
	f    func(*Model)
	done chan struct{}
}

// harness wraps the console model so that tests can read its view while
// it runs.
type harness struct{ m tea.Model }

func (h harness) Init() tea.Cmd { return h.m.Init() }
func (h harness) View() string  { return h.m.View() }
func (h harness) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if p, ok := msg.(probe); ok {
		p.ch <- h.m.View()
		return h, nil
	}
	if p, ok := msg.(modelProbe); ok {
		p.f(h.m.(*Model))
		close(p.done)
		return h, nil
	}
	m, cmd := h.m.Update(msg)
	h.m = m
	return h, cmd
}

type session struct {
	t   *testing.T
	tm  *teatest.TestModel
	out *syncBuffer
}

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

// start runs the console on svc in a w×h teatest program with the fixed
// clock and a plain renderer.
func start(t *testing.T, svc *service.Service, w, h int) *session {
	t.Helper()
	return startWith(t, svc, w, h, plainRenderer())
}

// startWith is start with another renderer (colour).
func startWith(t *testing.T, svc *service.Service, w, h int, r *lipgloss.Renderer) *session {
	t.Helper()
	out := &syncBuffer{}
	m := New(svc, Options{Now: fixedClock, Renderer: r, Width: w, Height: h, Output: out})
	tm := teatest.NewTestModel(t, harness{m}, teatest.WithInitialTermSize(w, h))
	s := &session{t: t, tm: tm, out: out}
	t.Cleanup(func() { _ = tm.Quit() })
	return s
}

// view returns the model's current view.
func (s *session) view() string {
	s.t.Helper()
	ch := make(chan string, 1)
	s.tm.Send(probe{ch})
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		s.t.Fatal("the program does not answer")
	}
	return ""
}

// waitFor polls the view until it contains every one of texts.
func (s *session) waitFor(texts ...string) string {
	s.t.Helper()
	return s.waitForWithin(15*time.Second, texts...)
}

// waitForWithin is waitFor with its own deadline: for real rotations,
// whose steps the product itself allows 30 s on a loaded host.
func (s *session) waitForWithin(d time.Duration, texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	var v string
	for time.Now().Before(deadline) {
		v = s.view()
		ok := true
		for _, x := range texts {
			if !strings.Contains(v, x) {
				ok = false
				break
			}
		}
		if ok {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("view never contained %q:\n%s", texts, v)
	return ""
}

// inspect runs f on the console model, between two of its updates.
func (s *session) inspect(f func(*Model)) {
	s.t.Helper()
	done := make(chan struct{})
	s.tm.Send(modelProbe{f: f, done: done})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.t.Fatal("the program does not answer")
	}
}

// waitModel polls the console model until ok accepts it.
func (s *session) waitModel(what string, ok func(*Model) bool) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var yes bool
		s.inspect(func(m *Model) { yes = ok(m) })
		if yes {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("the model never showed %s:\n%s", what, s.view())
}

// waitUntil polls the view until ok accepts it.
func (s *session) waitUntil(what string, ok func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var v string
	for time.Now().Before(deadline) {
		if v = s.view(); ok(v) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("view never showed %s:\n%s", what, v)
	return ""
}

// waitGone polls the view until it no longer contains text.
func (s *session) waitGone(text string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var v string
	for time.Now().Before(deadline) {
		if v = s.view(); !strings.Contains(v, text) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("view still contains %q:\n%s", text, v)
	return ""
}

var keyNames = map[string]tea.KeyType{
	"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
	"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
	"space": tea.KeySpace, "backspace": tea.KeyBackspace, "end": tea.KeyEnd, "home": tea.KeyHome,
	"ctrl+c": tea.KeyCtrlC, "ctrl+r": tea.KeyCtrlR,
}

// press sends keys one by one: named keys, or single runes.
func (s *session) press(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		if t, ok := keyNames[k]; ok {
			msg := tea.KeyMsg{Type: t}
			if t == tea.KeySpace {
				msg.Runes = []rune{' '}
			}
			s.tm.Send(msg)
		} else {
			s.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		}
		s.view() // let the key land before the next one
	}
}

// typeText types text into the focused field as one input event.
func (s *session) typeText(text string) {
	s.t.Helper()
	s.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(text)})
	s.view()
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// golden quits the program and compares the final model's view with
// testdata/<test>.golden (go test ./ui -update rewrites them). Random ids
// (VersionIds, RequestIds) are masked.
func (s *session) golden() {
	s.t.Helper()
	requireGolden(s.t, s.final().View())
}

// final quits the program and returns the console's final model.
func (s *session) final() *Model {
	s.t.Helper()
	_ = s.tm.Quit()
	fm := s.tm.FinalModel(s.t, teatest.WithFinalTimeout(10*time.Second))
	return fm.(harness).m.(*Model)
}

// requireGolden compares view with testdata/<test>.golden, random ids
// masked and trailing blanks trimmed.
func requireGolden(t *testing.T, view string) {
	t.Helper()
	view = uuidRE.ReplaceAllString(view, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	teatest.RequireEqualOutput(t, []byte(strings.Join(lines, "\n")+"\n"))
}

// hanging is a TCP listener that accepts connections and never answers:
// an SSH dial to it waits until release closes everything.
type hanging struct {
	port  int
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func hangingListener(t *testing.T) *hanging {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hanging{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.release)
	return h
}

func (h *hanging) release() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}
