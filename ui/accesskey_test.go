package ui

import (
	"context"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
)

// The Access Keys screen (K). No golden and no test output may hold an
// AccessKeySecret: the tests read secrets from the model or the service
// and compare them without printing them; goldens are taken while the
// secret is masked, with the random AccessKeyIds masked too.

// akFixture is newFixture with three access keys made by alice: billing
// (app/* readable), ci (disabled) and reports (rotated an hour ago, its
// old secret in its grace period). It returns the secrets by name.
func akFixture(t *testing.T, role string) (*fixture, map[string]string) {
	t.Helper()
	f := newFixture(t, role)
	admin := f.svc.As(service.Actor{Name: "alice", Role: model.RoleAdmin})
	ctx := context.Background()
	secrets := map[string]string{}
	for _, name := range []string{"billing", "ci", "reports"} {
		r, err := admin.CreateAccessKey(ctx, name, `{"Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":["acs:kms:*:*:secret/app/*"]}]}`)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = r.AccessKeySecret
	}
	if err := admin.SetAccessKeyStatus(ctx, "ci", false); err != nil {
		t.Fatal(err)
	}
	r, err := admin.RotateAccessKey(ctx, "reports", 0)
	if err != nil {
		t.Fatal(err)
	}
	secrets["reports-old"], secrets["reports"] = secrets["reports"], r.AccessKeySecret
	return f, secrets
}

var accessKeyIdRE = regexp.MustCompile(model.AccessKeyIdPrefix + `[A-Za-z0-9]{20}`)

// akGolden compares the final view with the golden, AccessKeyIds masked,
// after making sure it holds none of secrets.
func (s *session) akGolden(secrets ...string) {
	s.t.Helper()
	view := s.final().View()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(view, sec) {
			s.t.Fatal("the view to compare with the golden holds an AccessKeySecret")
		}
	}
	requireGolden(s.t, accessKeyIdRE.ReplaceAllString(view, model.AccessKeyIdPrefix+"xxxxxxxxxxxxxxxxxxxx"))
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// openAccessKeys opens the screen with K and waits for the list.
func openAccessKeys(s *session) {
	s.t.Helper()
	s.waitFor("db/prod/password")
	s.press("K")
	s.waitFor("Access Keys [", "billing", "reports")
}

// secretDialog is the secret dialog on top, or nil.
func secretDialog(m *Model) *accessKeySecretDialog {
	d, _ := m.top().(*accessKeySecretDialog)
	return d
}

// shownSecret waits for the secret dialog and returns its secret, read
// from the model (never from the view).
func shownSecret(s *session) (id, secret string) {
	s.t.Helper()
	s.waitModel("the secret dialog", func(m *Model) bool { return secretDialog(m) != nil })
	s.inspect(func(m *Model) {
		d := secretDialog(m)
		id, secret = d.resp.AccessKeyId, d.resp.AccessKeySecret
	})
	if len(secret) != 30 {
		s.t.Fatalf("the dialog holds a secret of %d characters, want 30", len(secret))
	}
	return id, secret
}

// viewHolds reports whether the view holds secret, without printing it.
func viewHolds(s *session, secret string) bool { return strings.Contains(s.view(), secret) }

// waitSecretShown waits until the view shows (or, with shown false, no
// longer shows) secret; a failure prints the view with the secret masked.
func waitSecretShown(s *session, secret string, shown bool) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if viewHolds(s, secret) == shown {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("the secret shown: %v, want %v; the view, secret masked:\n%s", !shown, shown,
		strings.ReplaceAll(s.view(), secret, "<secret>"))
}

// refused waits for the form's refusal by the service, which says what
// (the view wraps it) and shows its code.
func refused(s *session, what string) {
	s.t.Helper()
	s.waitModel("the refusal", func(m *Model) bool {
		d, ok := m.top().(*accessKeyForm)
		return ok && d.wait.err != nil && strings.Contains(d.wait.err.Error(), what)
	})
	s.waitFor(model.CodeInvalidParameter)
}

// works reports whether secret is a secret the API accepts for id now.
func works(t *testing.T, svc *service.Service, id, secret string) bool {
	t.Helper()
	creds, err := svc.AccessKeyForAuth(context.Background(), id)
	if err != nil || creds == nil {
		t.Fatalf("AccessKeyForAuth(%s): %v, %v", id, creds, err)
	}
	for _, s := range creds.Secrets {
		if string(s) == secret {
			return true
		}
	}
	return false
}

func TestAccessKeysList(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	v := s.waitFor("Disabled", "2026-05-21 10:00", "Policy", "c create")
	if strings.Contains(v, "K access keys") {
		t.Fatalf("K is in the header:\n%s", v)
	}
	s.akGolden(values(secrets)...)
}

func TestAccessKeysList80x24(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 80, 24)
	openAccessKeys(s)
	s.press("end")
	s.waitFor("old one valid until")
	s.akGolden(values(secrets)...)
}

// TestAccessKeyCreate: a bad policy is refused in the dialog with the
// input kept; a good one makes the key, whose secret is shown once:
// masked, revealed with v, copied with y (OSC 52).
func TestAccessKeyCreate(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("c")
	s.waitFor("Create Access Key", `"kms:GetSecretValue"`, "acs:kms:cn-hangzhou:*:secret/app/*", "enter create")
	s.typeText("payments")
	s.press("tab")
	s.waitFor("ctrl+j new line")
	s.typeText(",")
	s.press("enter")
	refused(s, "not JSON")
	if v := s.view(); !strings.Contains(v, "payments") || !strings.Contains(v, "│ },") {
		t.Fatalf("the input was not kept:\n%s", v)
	}
	s.inspect(func(m *Model) {
		d := m.top().(*accessKeyForm)
		if d.name.Value() != "payments" || !strings.HasSuffix(d.policy.Value(), "},") || d.form.Focused() != d.policy {
			t.Errorf("after the refusal: name %q, policy ends %q, focus on the policy %v", d.name.Value(),
				d.policy.Value()[max(0, len(d.policy.Value())-5):], d.form.Focused() == d.policy)
		}
	})
	s.akGolden(values(secrets)...)

	s = start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("c")
	s.waitFor("Create Access Key")
	s.typeText("payments")
	s.press("tab")
	s.typeText(",")
	s.press("enter")
	refused(s, "not JSON")
	s.press("backspace", "enter")
	id, secret := shownSecret(s)
	s.waitFor("Access Key Created", "payments", "••••••••••••••••", "only time the secret is shown", "v reveal · y copy · esc close")
	if viewHolds(s, secret) {
		t.Fatal("the secret is shown before v")
	}
	if !works(t, f.svc, id, secret) {
		t.Fatal("the secret shown is not the key's")
	}
	s.waitFor("Access Keys [4]")

	s.press("v")
	waitSecretShown(s, secret, true)
	s.waitFor("v hide")
	s.press("v")
	waitSecretShown(s, secret, false)

	before := len(s.out.String())
	s.press("y")
	s.waitFor("Copied the AccessKeySecret of payments", "✓ copied")
	if viewHolds(s, secret) {
		t.Fatal("copying showed the secret")
	}
	out := s.out.String()[before:]
	want := osc52.New(secret).String()
	if !strings.Contains(out, want) {
		t.Fatalf("no OSC 52 sequence of the secret in the output: %d bytes written, want %d (sha256 %x)",
			len(out), len(want), sha256.Sum256([]byte(want)))
	}
	// Copied: esc closes at once.
	s.press("esc")
	s.waitGone("Access Key Created")
	s.waitFor("payments", "Access Keys [4]")
}

// TestAccessKeySecretDialog: the dialog as it first shows (masked), and
// closing it before the secret was revealed or copied asks first.
func TestAccessKeySecretDialog(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("c")
	s.waitFor("Create Access Key")
	s.typeText("payments")
	s.press("enter")
	_, secret := shownSecret(s)
	secrets["payments"] = secret
	s.waitFor("Access Key Created")
	s.press("esc")
	s.waitFor("Close without copying the secret?", "y close without it · n/esc back to the secret")
	s.press("n")
	s.waitGone("Close without copying")
	s.press("esc")
	s.waitFor("Close without copying the secret?")
	s.akGolden(values(secrets)...)

	s = start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("c")
	s.waitFor("Create Access Key")
	s.typeText("payroll")
	s.press("enter")
	_, secret = shownSecret(s)
	secrets["payroll"] = secret
	s.press("esc", "y")
	s.waitGone("Access Key Created")
	s.waitFor("payroll", "Access Keys [5]")
	// Revealed: esc closes at once.
	s.press("R")
	s.waitFor("Rotate Access Key")
	s.press("enter")
	_, secret = shownSecret(s)
	s.press("v")
	waitSecretShown(s, secret, true)
	s.press("esc")
	s.waitGone("Access Key Rotated")
}

func TestAccessKeySecretDialog80x24(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 80, 24)
	openAccessKeys(s)
	s.press("R")
	s.waitFor("Rotate Access Key")
	s.press("enter")
	_, secret := shownSecret(s)
	secrets["new"] = secret
	s.waitFor("Access Key Rotated", "esc close")
	s.akGolden(values(secrets)...)
}

func TestAccessKeyCreateDialog80x24(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 80, 24)
	openAccessKeys(s)
	s.press("c")
	s.waitFor("Create Access Key", "enter create")
	s.akGolden(values(secrets)...)
}

// TestAccessKeyDisableEnable: d asks and disables (only y), e asks and
// enables; the list and the store follow.
func TestAccessKeyDisableEnable(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	// billing, ci, reports in name order; billing is enabled.
	s.press("d")
	s.waitFor("Disable Access Key", "Disable access key billing?", "Forbidden.AccessKeyDisabled", "y disable · n/esc cancel")
	s.press("enter") // not a confirmation
	s.press("esc")
	s.waitGone("Disable Access Key")
	s.press("d")
	s.waitFor("Disable access key billing?")
	s.press("y")
	s.waitFor("Disabled access key billing")
	status := func(name string) string {
		keys, err := f.svc.AccessKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.AccessKeyName == name {
				return k.Status
			}
		}
		return "gone"
	}
	if got := status("billing"); got != model.AccessKeyDisabled {
		t.Fatalf("billing is %s", got)
	}
	s.waitFor("e enable")
	s.press("d") // disabled already: says so
	s.waitFor("billing is disabled already")
	s.press("down")
	s.waitFor("e enable")
	s.press("e")
	s.waitFor("Enable Access Key", "Enable access key ci?", "enter enable")
	s.akGolden(values(secrets)...)

	s = start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("down", "e")
	s.waitFor("Enable access key ci?")
	s.press("enter")
	s.waitFor("Enabled access key ci")
	if got := status("ci"); got != model.AccessKeyEnabled {
		t.Fatalf("ci is %s", got)
	}
}

// TestAccessKeyRotate: R with the grace period chosen; the new secret is
// shown once, the old one works as long as chosen.
func TestAccessKeyRotate(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("R")
	s.waitFor("Rotate Access Key", "(•) 24 h (default)", "keeps working until 2026-05-21 10:00", "enter rotate")
	s.press("right")
	s.waitFor("(•) 1 h", "keeps working until 2026-05-20 11:00")
	s.akGolden(values(secrets)...)

	for _, c := range []struct {
		presses []string
		until   string
		old     bool
	}{
		{nil, "2026-05-21 10:00", true},
		{[]string{"right"}, "2026-05-20 11:00", true},
		{[]string{"right", "right"}, "", false},
	} {
		s := start(t, f.svc, 100, 30)
		openAccessKeys(s)
		s.press("R")
		s.waitFor("Rotate Access Key")
		s.press(c.presses...)
		s.press("enter")
		id, secret := shownSecret(s)
		if c.old {
			s.waitFor("Access Key Rotated", "The old secret keeps working until "+c.until)
		} else {
			s.waitFor("Access Key Rotated", "The old secret stopped working")
		}
		if !works(t, f.svc, id, secret) {
			t.Fatal("the new secret does not work")
		}
		if got := works(t, f.svc, id, secrets["billing"]); got != c.old {
			t.Fatalf("grace %q: the old secret works: %v", c.until, got)
		}
		secrets["billing"] = secret
		s.press("y")
		s.waitFor("✓ copied")
		s.press("enter")
		s.waitGone("Access Key Rotated")
		if c.old {
			s.waitFor(c.until + "  ") // the list's column
		}
	}
}

// TestAccessKeyRemove: x asks (only y removes, as Remove Instance); the
// key is gone from the list and the store.
func TestAccessKeyRemove(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("x")
	s.waitFor("Remove Access Key", "Remove access key billing?", "InvalidAccessKeyId.NotFound", "y remove · n/esc cancel")
	s.akGolden(values(secrets)...)

	s = start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("x")
	s.waitFor("Remove access key billing?")
	s.press("n")
	s.waitGone("Remove Access Key")
	s.press("x")
	s.waitFor("Remove access key billing?")
	s.press("enter") // not a confirmation
	s.press("y")
	s.waitFor("Removed access key billing", "Access Keys [2]")
	keys, err := f.svc.AccessKeys(context.Background())
	if err != nil || len(keys) != 2 {
		t.Fatalf("after the removal: %v, %v", keys, err)
	}
	if v := s.view(); strings.Contains(v, "billing  ") {
		t.Fatalf("billing is still listed:\n%s", v)
	}
}

// TestAccessKeyPolicy: enter shows the policy; p edits it; the service
// refuses a bad one in the dialog and saves a good one.
func TestAccessKeyPolicy(t *testing.T) {
	f, secrets := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("enter")
	s.waitFor("Policy", `"Effect": "Allow"`, "acs:kms:*:*:secret/app/*", "p edit policy")
	s.akGolden(values(secrets)...)

	s = start(t, f.svc, 100, 30)
	openAccessKeys(s)
	s.press("enter")
	s.waitFor(`"Effect": "Allow"`)
	s.press("p")
	s.waitFor("Edit Policy", "enter save")
	s.typeText("x")
	s.press("enter")
	refused(s, "not JSON")
	s.press("backspace")
	// Allow reading under db/ too: a resource on a line of its own
	// (ctrl+j), after app/* four lines up.
	s.press("up", "up", "up", "up", "end")
	s.typeText(",")
	s.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlJ})
	s.typeText(`"acs:kms:*:*:secret/db/*"`)
	s.waitFor(`│ "acs:kms:*:*:secret/db/*"`)
	s.press("enter")
	s.waitFor("Saved the policy of billing")
	keys, err := f.svc.AccessKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(keys[0].Policy, `"acs:kms:*:*:secret/db/*"`) {
		t.Fatalf("the policy saved: %s", keys[0].Policy)
	}
}

// TestAccessKeysReadonly: a readonly operator is told that access keys
// are for admins; nothing is listed and no key changes anything.
func TestAccessKeysReadonly(t *testing.T) {
	f, secrets := akFixture(t, model.RoleReadonly)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password", "bob (readonly)")
	s.press("K")
	v := s.waitFor("Access Keys", "managed by admin operators")
	if strings.Contains(v, "billing") || accessKeyIdRE.MatchString(v) {
		t.Fatalf("a readonly operator sees access keys:\n%s", v)
	}
	s.press("c", "d", "e", "R", "x", "p", "enter")
	s.inspect(func(m *Model) {
		if _, ok := m.top().(*accessKeysPage); !ok {
			t.Errorf("a key opened %T", m.top())
		}
	})
	s.akGolden(values(secrets)...)
}

// TestAccessKeysFromPalette: : finds the screen by its name.
func TestAccessKeysFromPalette(t *testing.T) {
	f, _ := akFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press(":")
	s.waitFor("Actions")
	s.typeText("access")
	s.waitFor("Go to the access keys")
	s.press("enter")
	s.waitFor("Access Keys [3]")
}
