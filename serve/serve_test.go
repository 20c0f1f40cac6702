package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/events"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestAdminOverExecAndConsole: an admin operator creates and reads a secret
// with `ssh host kms ...`, sees it in the console, and is named in the
// audit log; the serve log names the login but never the value.
func TestAdminOverExecAndConsole(t *testing.T) {
	requireTool(t, "tmux")
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	const value = "it's a value with spaces"

	h.mustSSH(alice, "kms", "CreateSecret", "--SecretName", "app/db-password", "--SecretData", value, "--VersionId", "v1")
	got := h.mustSSH(alice, "kms", "GetSecretValue", "--SecretName", "app/db-password")
	if got["SecretData"] != value || got["VersionId"] != "v1" {
		t.Fatalf("GetSecretValue over SSH: %v", got)
	}
	// --help and the local-only commands behave as the command line says.
	if out, _, code := h.ssh(alice, "--help"); code != 0 || !strings.Contains(out, "kms") {
		t.Fatalf("--help over SSH: exit %d %q", code, out)
	}
	if _, stderr, code := h.ssh(alice, "operator", "list"); code != 1 || !strings.Contains(stderr, "Forbidden.NoPermission") {
		t.Fatalf("operator list over SSH: exit %d %s", code, stderr)
	}

	// A command with a terminal (ssh -t) runs too.
	out, stderr, code := runSSH(t, append(h.sshArgs(alice), "-tt", "127.0.0.1", "kms ListSecrets"))
	if code != 0 || !strings.Contains(out, "app/db-password") {
		t.Fatalf("ssh -tt kms ListSecrets: exit %d %q %s", code, out, stderr)
	}

	// The console, in a real terminal.
	tm := startTmux(t, h.consoleCommand(alice))
	screen := tm.waitText("app/db-password")
	if !strings.Contains(screen, "alice") {
		t.Errorf("header does not name the operator:\n%s", screen)
	}
	if f := footer(screen); !strings.Contains(f, "create") {
		t.Errorf("admin footer lacks create: %q", f)
	}
	tm.send("Enter")
	screen = tm.waitFor("the details footer", func(s string) bool { return strings.Contains(footer(s), "reveal") })
	if strings.Contains(screen, value) {
		t.Errorf("the value shows before it is revealed:\n%s", screen)
	}
	tm.send("v")
	tm.waitText(value)
	tm.send("Escape")
	tm.waitFor("the list again", func(s string) bool { return strings.Contains(footer(s), "create") })
	tm.send("q")
	tm.waitText("SSH-EXIT=0")

	out, _, code = h.ssh(alice, "audit", "--filter", "app/db-password")
	if code != 0 || !strings.Contains(out, `"Operator":"alice"`) || !strings.Contains(out, `"Action":"CreateSecret"`) {
		t.Fatalf("audit over SSH does not name alice: exit %d\n%s", code, out)
	}
	log := h.log.String()
	for _, want := range []string{"login alice (admin)", "exec kms CreateSecret", ": console", "logout alice"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, value) || strings.Contains(log, "spaces") {
		t.Errorf("the value reached the serve log:\n%s", log)
	}
}

// TestReadonlyOperator: a readonly operator lists and describes, and is
// refused every value and every change, over exec and in the console.
func TestReadonlyOperator(t *testing.T) {
	requireTool(t, "tmux")
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	bob := h.operator("bob", model.RoleReadonly)
	const value = "s3cret-readonly-test"
	h.mustSSH(alice, "kms", "CreateSecret", "--SecretName", "app/api-key", "--VersionId", "v1", "--SecretData", value)

	list := h.mustSSH(bob, "kms", "ListSecrets")
	if list["TotalCount"] != float64(1) {
		t.Fatalf("ListSecrets as readonly: %v", list)
	}
	if d := h.mustSSH(bob, "kms", "DescribeSecret", "--SecretName", "app/api-key"); d["SecretName"] != "app/api-key" {
		t.Fatalf("DescribeSecret as readonly: %v", d)
	}
	for _, args := range [][]string{
		{"kms", "GetSecretValue", "--SecretName", "app/api-key"},
		{"kms", "CreateSecret", "--SecretName", "bob/new", "--VersionId", "v1", "--SecretData", "x"},
		{"kms", "PutSecretValue", "--SecretName", "app/api-key", "--VersionId", "v9", "--SecretData", "y"},
		{"kms", "RotateSecret", "--SecretName", "app/api-key"},
		{"kms", "DeleteSecret", "--SecretName", "app/api-key"},
	} {
		out, stderr, code := h.ssh(bob, args...)
		if code != 1 || out != "" {
			t.Fatalf("%s as readonly: exit %d stdout %q", args[1], code, out)
		}
		if c, _ := apiError(t, stderr); c != model.CodeNoPermission {
			t.Fatalf("%s as readonly: %s", args[1], stderr)
		}
		if strings.Contains(stderr, value) {
			t.Fatalf("%s as readonly leaked the value", args[1])
		}
	}
	if n := h.mustSSH(bob, "kms", "ListSecrets")["TotalCount"]; n != float64(1) {
		t.Fatalf("a refused CreateSecret created something: %v secrets", n)
	}

	tm := startTmux(t, h.consoleCommand(bob))
	screen := tm.waitText("app/api-key")
	f := footer(screen)
	for _, hint := range []string{"create", "rotate", "plan deletion", "restore", "select"} {
		if strings.Contains(f, hint) {
			t.Errorf("readonly list footer offers %q: %q", hint, f)
		}
	}
	tm.send("Enter")
	screen = tm.waitText("ACSCurrent")
	f = footer(screen)
	for _, hint := range []string{"reveal", "copy", "put value", "move stage", "rotate"} {
		if strings.Contains(f, hint) {
			t.Errorf("readonly details footer offers %q: %q", hint, f)
		}
	}
	tm.send("v")
	time.Sleep(300 * time.Millisecond)
	if screen := tm.capture(); strings.Contains(screen, value) {
		t.Fatalf("readonly console revealed the value:\n%s", screen)
	}
	tm.send("Escape")
	// Wait for the list before q: an Escape and a q that reach the
	// terminal together read as alt+q.
	tm.waitFor("the list again", func(s string) bool { return strings.Contains(s, "Secrets [1]") })
	tm.send("q")
	tm.waitText("SSH-EXIT=0")
}

// TestOperatorChangesEndOpenConsoles: removing an operator, or changing
// their role, ends the console they already have open within seconds, with
// a message that says why; a removed key is refused from then on, and the
// other operators' consoles go on.
func TestOperatorChangesEndOpenConsoles(t *testing.T) {
	requireTool(t, "tmux")
	h := newHarness(t, Config{RecheckEvery: 100 * time.Millisecond})
	carol := h.operator("carol", model.RoleAdmin)
	dave := h.operator("dave", model.RoleAdmin)
	erin := h.operator("erin", model.RoleAdmin)
	h.mustSSH(carol, "kms", "CreateSecret", "--SecretName", "app/x", "--VersionId", "v1", "--SecretData", "x-value")

	consoles := map[string]*tmux{}
	for name, key := range map[string]string{"carol": carol, "dave": dave, "erin": erin} {
		consoles[name] = startTmux(t, h.consoleCommand(key))
		consoles[name].waitText("app/x")
	}
	ctx := context.Background()

	if err := h.svc.RemoveOperator(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	screen := consoles["carol"].waitText("SSH-EXIT=")
	if !strings.Contains(screen, "operator carol has been removed; the session has ended") || !strings.Contains(screen, "SSH-EXIT=1") {
		t.Fatalf("the removed operator's console did not end with the reason:\n%s", screen)
	}
	if _, _, code := h.ssh(carol, "kms", "ListSecrets"); code != 255 {
		t.Fatalf("the removed operator's key still logs in: exit %d", code)
	}

	// dave is demoted (operator set-role).
	if err := h.svc.SetOperatorRole(ctx, "dave", model.RoleReadonly); err != nil {
		t.Fatal(err)
	}
	screen = consoles["dave"].waitText("SSH-EXIT=")
	if !strings.Contains(screen, "role of operator dave changed from admin to readonly") {
		t.Fatalf("the demoted operator's console did not end with the reason:\n%s", screen)
	}
	if _, stderr, code := h.ssh(dave, "kms", "GetSecretValue", "--SecretName", "app/x"); code != 1 || !strings.Contains(stderr, model.CodeNoPermission) {
		t.Fatalf("the demoted operator can still read values: exit %d %s", code, stderr)
	}

	// erin was not touched: her console still answers.
	consoles["erin"].send("/", "z", "z", "z")
	consoles["erin"].waitFor("the filter hiding app/x", func(screen string) bool {
		return strings.Contains(screen, "zzz") && !strings.Contains(screen, "app/x") && !strings.Contains(screen, "SSH-EXIT")
	})
	if log := h.log.String(); !strings.Contains(log, "ending the console of carol") || strings.Contains(log, "x-value") {
		t.Fatalf("serve log does not record the ended console (or names the value):\n%s", log)
	}
}

// TestUnknownKeysRefused: a stranger's key is refused, only public-key
// authentication is offered, and operator add/remove takes effect for new
// connections without a restart.
func TestUnknownKeysRefused(t *testing.T) {
	h := newHarness(t, Config{LoginTimeout: 500 * time.Millisecond})
	alice := h.operator("alice", model.RoleAdmin)
	strangerPub, strangerPriv := sshdtest.GenerateKey(t, "ed25519")
	stranger := h.keyFile("stranger", strangerPriv)

	_, stderr, code := runSSH(t, append(h.sshArgs(stranger), "-v", "127.0.0.1", "kms ListSecrets"))
	if code != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Fatalf("stranger: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "Authentications that can continue: publickey\r\n") &&
		!strings.Contains(stderr, "Authentications that can continue: publickey\n") {
		t.Fatalf("server offers more than publickey:\n%s", stderr)
	}
	fp := sshFingerprint(t, strangerPub)
	if log := h.log.String(); !strings.Contains(log, "refused key ssh-ed25519 "+fp) {
		t.Fatalf("serve log does not name the refused key %s:\n%s", fp, log)
	}

	// Registered while serve runs: accepted at once; removed: refused.
	if err := h.svc.AddOperator(context.Background(), "carol", strangerPub, model.RoleReadonly); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := h.ssh(stranger, "kms", "ListSecrets"); code != 0 {
		t.Fatalf("newly added operator refused: exit %d %s", code, stderr)
	}
	if err := h.svc.RemoveOperator(context.Background(), "carol"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := h.ssh(stranger, "kms", "ListSecrets"); code != 255 || !strings.Contains(stderr, "Permission denied (publickey)") {
		t.Fatalf("removed operator accepted: exit %d %s", code, stderr)
	}

	// A client that connects and never logs in is dropped.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := io.Copy(io.Discard, c); err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("an idle unauthenticated connection stayed open %s (%v)", time.Since(start), err)
	}

	// Neither a terminal nor a command: a message and exit 1, at once.
	start = time.Now()
	_, stderr, code = runSSH(t, append(h.sshArgs(alice), "-T", "127.0.0.1"))
	if code != 1 || !strings.Contains(stderr, "needs a terminal") || time.Since(start) > 10*time.Second {
		t.Fatalf("ssh -T without command: exit %d after %s: %s", code, time.Since(start), stderr)
	}
}

// TestConcurrentSessions: 20 operators' sessions at once create, read and
// update secrets; nothing is lost and nothing fails.
func TestConcurrentSessions(t *testing.T) {
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	h.mustSSH(alice, "kms", "CreateSecret", "--SecretName", "shared", "--SecretData", "shared-0", "--VersionId", "v-0")

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			name, value := fmt.Sprintf("conc/%02d", i), fmt.Sprintf("value %02d of many", i)
			run := func(args ...string) (map[string]any, bool) {
				out, stderr, code := h.ssh(alice, args...)
				if code != 0 {
					errs <- fmt.Errorf("%s %s: exit %d: %s", args[1], name, code, stderr)
					return nil, false
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					errs <- fmt.Errorf("%s %s: %q", args[1], name, out)
					return nil, false
				}
				return m, true
			}
			if _, ok := run("kms", "CreateSecret", "--SecretName", name, "--VersionId", "v1", "--SecretData", value); !ok {
				return
			}
			if m, ok := run("kms", "GetSecretValue", "--SecretName", name); ok && m["SecretData"] != value {
				errs <- fmt.Errorf("%s reads back %q", name, m["SecretData"])
			}
			run("kms", "PutSecretValue", "--SecretName", "shared", "--VersionId", fmt.Sprintf("v-%d", i), "--SecretData", fmt.Sprintf("shared-%d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	ctx := context.Background()
	list, err := h.svc.ListSecrets(ctx, service.ListSecretsRequest{PageSize: 100})
	if err != nil || list.TotalCount != n+1 {
		t.Fatalf("ListSecrets: %v secrets, %v", list.TotalCount, err)
	}
	for i := 1; i <= n; i++ {
		v, err := h.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: fmt.Sprintf("conc/%02d", i)})
		if err != nil || v.SecretData != fmt.Sprintf("value %02d of many", i) {
			t.Fatalf("conc/%02d: %v %v", i, v, err)
		}
	}
	// Every put landed, in some order: the audit log has the 20 successes,
	// the latest is ACSCurrent, the one before it ACSPrevious.
	events, err := h.svc.Audit(ctx, 100, "PutSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	var puts []string // newest first
	for _, e := range events {
		if e.Target == "shared" && e.Action == "PutSecretValue" {
			if e.Result != "Success" || e.Operator != "alice" {
				t.Fatalf("audit: %+v", e)
			}
			puts = append(puts, e.VersionId)
		}
	}
	if len(puts) != n {
		t.Fatalf("audit has %d PutSecretValue events, want %d", len(puts), n)
	}
	sorted := append([]string(nil), puts...)
	sort.Strings(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			t.Fatalf("version %s put twice", sorted[i])
		}
	}
	vers, err := h.svc.ListSecretVersionIds(ctx, service.ListSecretVersionIdsRequest{SecretName: "shared", IncludeDeprecated: true, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]string{}
	for _, v := range vers.VersionIds.VersionId {
		for _, st := range v.VersionStages.VersionStage {
			stages[st] = v.VersionId
		}
	}
	if stages["ACSCurrent"] != puts[0] || stages["ACSPrevious"] != puts[1] {
		t.Fatalf("stages %v, last puts %v", stages, puts[:2])
	}
	if vers.TotalCount > 10 {
		t.Fatalf("shared keeps %d versions (max 10)", vers.TotalCount)
	}
	cur, err := h.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: "shared"})
	if err != nil || cur.SecretData != "shared-"+strings.TrimPrefix(puts[0], "v-") {
		t.Fatalf("shared current %v %v", cur, err)
	}
	if log := h.log.String(); strings.Contains(log, "of many") || strings.Contains(log, "shared-") {
		t.Fatalf("a value reached the serve log:\n%s", log)
	}
}

// managedHost is a real sshd with a registered instance and one managed
// user whose password an ECS secret holds.
type managedHost struct {
	srv      *sshdtest.Server
	admin    string
	user     string
	initial  string
	secret   string
	instance string
}

func newManagedHost(t *testing.T, h *harness, id string) *managedHost {
	t.Helper()
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	initial, err := model.RandomPassword(model.PasswordOptions{ExcludeCharacters: `'"\`, RequireEachIncludedType: true})
	if err != nil {
		t.Fatal(err)
	}
	user := sshdtest.CreateUser(t, "srv", initial)
	_, err = h.svc.AddInstance(context.Background(), service.AddInstanceRequest{
		InstanceId: id, InstanceName: "serve test " + id, RegionId: "cn-hangzhou",
		Host: srv.Host, Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &managedHost{srv: srv, admin: admin, user: user, initial: initial, secret: "acs/ecs/" + id + "/" + user, instance: id}
}

// create makes the ECS secret over SSH as operator key.
func (m *managedHost) create(h *harness, key string) {
	h.t.Helper()
	cfg := fmt.Sprintf(`{"SecretSubType":"Password","InstanceId":%q,"RegionId":"cn-hangzhou"}`, m.instance)
	h.mustSSH(key, "kms", "CreateSecret", "--SecretName", m.secret, "--SecretType", "ECS",
		"--ExtendedConfig", cfg, "--SecretData", model.ECSData{UserName: m.user, Password: m.initial}.JSON())
}

// current is the store's ACSCurrent version and password.
func (m *managedHost) current(t *testing.T, svc *service.Service) (string, string) {
	t.Helper()
	v, err := svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: m.secret})
	if err != nil {
		t.Fatal(err)
	}
	var d model.ECSData
	if err := json.Unmarshal([]byte(v.SecretData), &d); err != nil {
		t.Fatal(err)
	}
	return v.VersionId, d.Password
}

func (m *managedHost) verify(ctx context.Context, password string) error {
	return verifyPassword(ctx, m.srv, m.user, password)
}

// TestRotateECSSecretOverSSH: an admin operator rotates a managed host's
// password with `ssh serve kms RotateSecret`; the new ACSCurrent logs in,
// the audit names the operator, and a failed rotation reaches the
// --on-event command (never with a value).
func TestRotateECSSecretOverSSH(t *testing.T) {
	sshdtest.Require(t)
	hookOut := filepath.Join(t.TempDir(), "failure.json")
	h := newHarness(t, Config{Events: &events.Config{Command: "cat >> " + shellQuote(hookOut)}})
	alice := h.operator("alice", model.RoleAdmin)
	bob := h.operator("bob", model.RoleReadonly)
	m := newManagedHost(t, h, "i-serve1")
	m.create(h, alice)

	if _, stderr, code := h.ssh(bob, "kms", "RotateSecret", "--SecretName", m.secret); code != 1 || !strings.Contains(stderr, model.CodeNoPermission) {
		t.Fatalf("readonly RotateSecret: exit %d %s", code, stderr)
	}
	rot := h.mustSSH(alice, "kms", "RotateSecret", "--SecretName", m.secret)
	got := h.mustSSH(alice, "kms", "GetSecretValue", "--SecretName", m.secret)
	if got["VersionId"] != rot["VersionId"] {
		t.Fatalf("ACSCurrent %v, rotated to %v", got["VersionId"], rot["VersionId"])
	}
	var data model.ECSData
	if err := json.Unmarshal([]byte(got["SecretData"].(string)), &data); err != nil {
		t.Fatal(err)
	}
	if data.Password == m.initial {
		t.Fatal("the rotation kept the old password")
	}
	if err := m.verify(t.Context(), data.Password); err != nil {
		t.Fatalf("the new ACSCurrent does not log in: %v", err)
	}
	out, _, _ := h.ssh(alice, "audit", "--filter", m.secret)
	if !strings.Contains(out, `"Operator":"alice","Action":"RotateSecret"`) {
		t.Fatalf("audit does not show alice's rotation:\n%s", out)
	}

	// The host refuses the change (sudo revoked): Rotation failed, the hook
	// hears about it, and the host still takes the store's ACSCurrent.
	sshdtest.RevokeSudo(t, m.admin)
	_, stderr, code := h.ssh(alice, "kms", "RotateSecret", "--SecretName", m.secret)
	if c, _ := apiError(t, stderr); code != 1 || c != model.CodeRotationFailed {
		t.Fatalf("rotation without sudo: exit %d %s", code, stderr)
	}
	// The event command (--on-event) hears the failure, delivered after
	// the commit by serve's worker: one JSON object per line here.
	var ev model.Event
	deadline := time.Now().Add(30 * time.Second)
	for ev.Type != model.EventRotationFailed {
		hook, _ := os.ReadFile(hookOut)
		for _, line := range strings.Split(strings.TrimSpace(string(hook)), "\n") {
			var e model.Event
			if json.Unmarshal([]byte(line), &e) == nil && e.Type == model.EventRotationFailed {
				ev = e
			}
		}
		if ev.Type == "" && time.Now().After(deadline) {
			t.Fatalf("no RotationFailed event reached --on-event in 30 s; it got:\n%s", hook)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ev.SecretName != m.secret || ev.Operator != "alice" || ev.InstanceId != m.instance || ev.Reason == "" || ev.Id == "" {
		t.Fatalf("failure event %+v", ev)
	}
	_, pw := m.current(t, h.svc)
	if pw != data.Password {
		t.Fatal("a failed rotation changed ACSCurrent")
	}
	if err := m.verify(t.Context(), pw); err != nil {
		t.Fatalf("after the failed rotation the host refuses ACSCurrent: %v", err)
	}
	hook, _ := os.ReadFile(hookOut)
	for i, text := range []string{string(hook), h.log.String(), out, stderr} {
		for _, secret := range []string{pw, m.initial} {
			if strings.Contains(text, secret) {
				t.Fatalf("a password leaked into output #%d", i)
			}
		}
	}
}

// TestShutdownLetsRotationFinish: cancelling serve (what SIGTERM does)
// while a rotation runs stops new connections, lets the rotation finish
// and answer its session, and leaves the host on the store's ACSCurrent.
func TestShutdownLetsRotationFinish(t *testing.T) {
	sshdtest.Require(t)
	requireTool(t, "tmux")
	// Sessions here outlive the login timeout: it must end at login.
	h := newHarness(t, Config{LoginTimeout: time.Second})
	alice := h.operator("alice", model.RoleAdmin)
	m := newManagedHost(t, h, "i-slow1")
	// Every management command takes a second longer (set before the first
	// login: sshd keeps the shell of a connection's login), so the rotation
	// is still running when the signal comes.
	sshdtest.SlowShell(t, m.admin, 1)
	m.create(h, alice)

	// An operator watches in the console meanwhile.
	tm := startTmux(t, h.consoleCommand(alice))
	tm.waitText("Managed ECS secret")

	type result struct {
		out, stderr string
		code        int
	}
	res := make(chan result, 1)
	go func() {
		o, e, c := h.ssh(alice, "kms", "RotateSecret", "--SecretName", m.secret, "--VersionId", "v-during-shutdown")
		res <- result{o, e, c}
	}()
	waitPending(t, h.store, m.secret, "v-during-shutdown")

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	// New connections are refused from now on.
	time.Sleep(100 * time.Millisecond)
	if len(res) != 0 {
		t.Fatal("the rotation ended before shutdown began: the test proves nothing")
	}
	if _, _, code := h.ssh(alice, "kms", "ListSecrets"); code != 255 {
		t.Errorf("a new connection was served during shutdown (exit %d)", code)
	}
	r := <-res
	if r.code != 0 {
		t.Fatalf("the rotation in flight failed: exit %d %s", r.code, r.stderr)
	}
	var rot map[string]any
	if err := json.Unmarshal([]byte(r.out), &rot); err != nil || rot["VersionId"] != "v-during-shutdown" {
		t.Fatalf("rotation answer %q (%v)", r.out, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("serve did not stop cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after the rotation finished")
	}

	// The console was ended after the rotation, not cut: terminal restored,
	// a word on why, exit status 0.
	screen := tm.waitText("SSH-EXIT=0")
	if !strings.Contains(screen, "shutting down") {
		t.Errorf("the console was not told why it ended:\n%s", screen)
	}

	vid, pw := m.current(t, h.svc)
	if vid != "v-during-shutdown" {
		t.Fatalf("ACSCurrent is %s", vid)
	}
	if err := m.verify(t.Context(), pw); err != nil {
		t.Fatalf("the host refuses the store's ACSCurrent: %v", err)
	}
	if err := m.verify(t.Context(), m.initial); err == nil {
		t.Fatal("the host still accepts the old password")
	}
	log := h.log.String()
	if !strings.Contains(log, "shutting down") || !strings.Contains(log, "stopped") {
		t.Fatalf("serve log:\n%s", log)
	}
}

// waitPending waits until the rotation to vid has stored its ACSPending
// version (step 1 done: the host is about to be changed).
func waitPending(t *testing.T, store *db.Store, name, vid string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var pending string
		err := store.Read(context.Background(), func(tx *db.Tx) error {
			sec, err := tx.SecretByName(name)
			if err != nil || sec == nil {
				return err
			}
			labels, err := tx.Labels(sec.ID)
			pending = labels[model.StagePending]
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if pending == vid {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the rotation never stored its pending version %s", vid)
}

// TestClientDropsDuringConsoleRotation: the on-call engineer starts Rotate
// Immediately in the console over `ssh serve`, and their SSH client dies
// (a flaky link, a closed laptop) while the new password is being applied.
// The rotation goes on in serve and finishes: ACSCurrent is the new
// password, nothing is left pending, the host accepts it and refuses the
// old one.
func TestClientDropsDuringConsoleRotation(t *testing.T) {
	sshdtest.Require(t)
	requireTool(t, "tmux")
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	m := newManagedHost(t, h, "i-drop1")
	// Management commands take 2 s longer (set before the first login:
	// sshd reads the shell when a connection authenticates).
	sshdtest.SlowShell(t, m.admin, 2)
	m.create(h, alice)
	before, _ := m.current(t, h.svc)

	tm := startTmux(t, h.consoleCommand(alice))
	tm.waitText("Managed ECS secret") // the only secret, under the cursor
	tm.send("R")
	tm.waitText("Use Custom Secret")
	tm.send("Enter")
	tm.waitText("apply it on the instance")
	if out, err := exec.Command("tmux", "-L", tm.sock, "kill-server").CombinedOutput(); err != nil {
		t.Fatalf("tmux kill-server: %v %s", err, out)
	}
	waitLogout := time.Now().Add(15 * time.Second)
	for !strings.Contains(h.log.String(), "logout alice") {
		if time.Now().After(waitLogout) {
			t.Fatalf("serve never saw the session end:\n%s", h.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		var current, pending string
		err := h.store.Read(context.Background(), func(tx *db.Tx) error {
			sec, err := tx.SecretByName(m.secret)
			if err != nil {
				return err
			}
			labels, err := tx.Labels(sec.ID)
			current, pending = labels[model.StageCurrent], labels[model.StagePending]
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if pending == "" && current != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotation did not finish after the client dropped: ACSCurrent %q ACSPending %q", current, pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, pw := m.current(t, h.svc)
	if err := m.verify(t.Context(), pw); err != nil {
		t.Fatalf("the host refuses the store's new ACSCurrent: %v", err)
	}
	if err := m.verify(t.Context(), m.initial); err == nil {
		t.Fatal("the host still accepts the old password")
	}
}
