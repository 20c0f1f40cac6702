package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Issue 11, point 5: the rough edges a new user meets first. Layout at
// 80, 120 and 200 columns, an instance without a name, an ECS secret's
// managed credential in its details, a failed manual rotation apart from
// the policy, errors as sentences.

// longName is longer than the list's NAME cap (48).
const longName = "team/payments/eu-west-1/checkout/stripe-webhook-signing-secret-v2"

// longInstanceName is longer than the instances list's NAME cap (32).
const longInstanceName = "edge-proxy-frankfurt-primary-canary-01"

// roughFixture is newFixture plus what the rough edges need: a secret
// with a long name; i-app1, an instance without a name (a closed port),
// with acs/ecs/app1/app on it whose one rotation, a manual one, failed
// through the service (its policy stays Disabled); and i-edge1, whose
// name is longer than the instances list shows.
func roughFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: longName, SecretData: "whsec_long", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	_, adminKey := fixedPrivateKey(t, 2)
	err := f.store.Write(ctx, func(tx *db.Tx) error {
		for _, in := range []model.Instance{
			{InstanceId: "i-app1", RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: 3, AdminUser: "root", HostKey: fixedHostKey(5), CreateTime: fixedNow.Add(-24 * time.Hour)},
			{InstanceId: "i-edge1", InstanceName: longInstanceName, RegionId: "cn-hangzhou", Host: "127.0.0.1", Port: 4, AdminUser: "root", HostKey: fixedHostKey(6), CreateTime: fixedNow.Add(-24 * time.Hour)},
		} {
			if err := tx.InsertInstance(&db.InstanceRow{Instance: in, AdminKey: adminKey}); err != nil {
				return err
			}
		}
		row := &db.SecretRow{InstanceId: "i-app1", Secret: model.Secret{
			Name: "acs/ecs/app1/app", Type: model.ECS, RegionId: "cn-hangzhou", DataType: model.DataText,
			ExtendedConfig: model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-app1", RegionId: "cn-hangzhou"}.JSON(),
			CreateTime:     fixedNow.Add(-24 * time.Hour), UpdateTime: fixedNow.Add(-24 * time.Hour),
			AutomaticRotation: model.RotationDisabled,
		}}
		id, err := tx.InsertSecret(row)
		if err != nil {
			return err
		}
		row.ID = id
		if err := tx.InsertVersion(row, "v1", model.ECSData{UserName: "app", Password: "Initial-Passw0rd1"}.JSON(), model.DataText, row.CreateTime); err != nil {
			return err
		}
		return tx.SetLabels(id, nil, model.Labels{model.StageCurrent: "v1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	// The service's own failure path: the host refuses the connection.
	if _, err := f.svc.RotateSecret(ctx, service.RotateSecretRequest{SecretName: "acs/ecs/app1/app"}); !model.IsCode(err, model.CodeRotationFailed) {
		t.Fatalf("manual rotation against a closed port: %v", err)
	}
	return f
}

// header returns the table's header line of a view (the one with NAME).
func header(t *testing.T, view, first string) string {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, first) && strings.Contains(l, "NAME") {
			return l
		}
	}
	t.Fatalf("no table header in:\n%s", view)
	return ""
}

// columnWidth is the width of column title in a header line: up to the
// next title.
func columnWidth(t *testing.T, head, title string) int {
	t.Helper()
	cells := []rune(head)
	at := strings.Index(head, title)
	if at < 0 {
		t.Fatalf("no %s in %q", title, head)
	}
	start := len([]rune(head[:at]))
	end := start + len([]rune(title))
	for end < len(cells) && cells[end] == ' ' {
		end++
	}
	if end < len(cells) && cells[end] != '│' {
		end -= 2 // the gap before the next title
	}
	return end - start
}

// checkEllipses: "…" only on lines that hold one of allowed (cut cells
// of capped columns).
func checkEllipses(t *testing.T, view string, allowed ...string) {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if !strings.Contains(l, "…") {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(l, a)
		}
		if !ok {
			t.Errorf("a line is cut:\n%s", l)
		}
	}
}

func checkWidth(t *testing.T, view string, w int) {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if ansi.StringWidth(l) > w {
			t.Errorf("line wider than %d: %q", w, l)
		}
	}
}

var widths = []struct {
	name string
	w, h int
}{{"80x24", 80, 24}, {"120x30", 120, 30}, {"200x30", 200, 30}}

// TestSecretsListWidths: NAME and STATUS at every width, nothing cut but
// the long name, NAME at most 48 wide on a wide screen; a failed manual
// rotation shows as the status, its policy stays Disabled.
func TestSecretsListWidths(t *testing.T) {
	for _, sz := range widths {
		t.Run(sz.name, func(t *testing.T) {
			s := start(t, roughFixture(t).svc, sz.w, sz.h)
			v := s.waitFor("db/prod/password", "acs/ecs/app1/app")
			head := header(t, v, "STATUS")
			for _, col := range []string{"NAME", "STATUS", "AUTO ROTATION"} {
				if !strings.Contains(head, col) {
					t.Errorf("no %s column at %s: %q", col, sz.name, head)
				}
			}
			if w := columnWidth(t, head, "NAME"); w > 48 {
				t.Errorf("NAME is %d wide at %s", w, sz.name)
			}
			checkWidth(t, v, sz.w)
			checkEllipses(t, v, longName[:20])
			row := lineWith(v, "acs/ecs/app1/app")
			if !strings.Contains(row, "Rotation failed") || !strings.Contains(row, "Disabled") || strings.Contains(row, "Invalid") {
				t.Errorf("the failed manual rotation's row: %q", row)
			}
			if sz.w >= 200 && !strings.Contains(v, longName[:47]+"…") {
				t.Errorf("the long name is not cut at 48 cells:\n%s", v)
			}
			s.golden()
		})
	}
}

// TestInstancesWidths: the instances list at 80, 120 and 200 columns: an
// instance without a name shows none (no empty "·  ·"), a long name ends
// in "…" at 32 cells at most.
func TestInstancesWidths(t *testing.T) {
	for _, sz := range widths {
		t.Run(sz.name, func(t *testing.T) {
			s := start(t, roughFixture(t).svc, sz.w, sz.h)
			s.waitFor("db/prod/password")
			s.press("i")
			s.waitFor("Instances [4]", "Reason")
			v := s.waitGone("checking…")
			head := header(t, v, "INSTANCE")
			for _, col := range []string{"INSTANCE", "NAME", "ADDRESS", "REACHABILITY"} {
				if !strings.Contains(head, col) {
					t.Errorf("no %s column at %s: %q", col, sz.name, head)
				}
			}
			if w := columnWidth(t, head, "NAME"); w > 32 {
				t.Errorf("NAME is %d wide at %s", w, sz.name)
			}
			checkWidth(t, v, sz.w)
			checkEllipses(t, v, longInstanceName[:8])
			if sz.w >= 200 && !strings.Contains(head, "HOST KEY FINGERPRINT") {
				t.Errorf("no fingerprint column at %s: %q", sz.name, head)
			}
			s.golden()
		})
	}
}

// TestDetailsManualRotationFailed: the details of a secret whose manual
// rotation failed show the policy (Disabled, no next rotation) and the
// failure (status, reason) apart; the instance has no name and its label
// has no empty part.
func TestDetailsManualRotationFailed(t *testing.T) {
	s := start(t, roughFixture(t).svc, 100, 30)
	s.waitFor("acs/ecs/app1/app")
	s.press("/")
	s.typeText("app1")
	s.press("enter", "enter")
	v := s.waitFor("Failure reason", "Managed user")
	for _, want := range []string{"Auto rotation  Disabled", "Rotation failed", "i-app1 · 127.0.0.1:3", "Managed user   app", "Password", "is unreachable"} {
		if !strings.Contains(v, want) {
			t.Errorf("details lack %q", want)
		}
	}
	if strings.Contains(v, "Next rotation") || strings.Contains(v, "Invalid") {
		t.Errorf("details show a policy the secret never had:\n%s", v)
	}
	s.golden()
}

// TestDetailsECSPassword: a password secret's details name the instance
// in full, the user and the credential.
func TestDetailsECSPassword(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "enter")
	v := s.waitFor("Managed user")
	for _, want := range []string{"Name           acs/ecs/web1/root", "i-web1 · web1 · 127.0.0.1:1", "Managed user   root", "Credential     Password"} {
		if !strings.Contains(v, want) {
			t.Errorf("details lack %q", want)
		}
	}
	if strings.Contains(v, "Old-Passw0rd!") || strings.Contains(v, "Public key") {
		t.Errorf("details show what they should not:\n%s", v)
	}
	s.golden()
}

// TestDetailsECS80x24: a key pair's details with a failed rotation fit
// 80×24: every field, the value line and a version row.
func TestDetailsECS80x24(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	v := s.waitFor("Public key", "Failure reason")
	for _, want := range []string{"Managed user   deploy", "SHA256:", "v reveal", "▸ v1"} {
		if !strings.Contains(v, want) {
			t.Errorf("details at 80×24 lack %q", want)
		}
	}
	checkWidth(t, v, 80)
	s.golden()
}

// TestDetailsLongName: the title cuts a long name (a box drops a title
// that does not fit), the Name field shows it whole, wrapped.
func TestDetailsLongName(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	name := "team/" + strings.Repeat("very-long-segment/", 8) + "key"
	if _, err := f.svc.CreateSecret(context.Background(), service.CreateSecretRequest{SecretName: name, SecretData: "x", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	s := start(t, f.svc, 80, 24)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	v := s.waitFor("Versions [1]")
	if !strings.Contains(v, "┌─ Secret team/very-long-segment/") || !strings.Contains(lineWith(v, "┌─ Secret"), "…") {
		t.Errorf("the title does not show the cut name:\n%s", v)
	}
	// The box's content, line breaks and padding gone.
	var flat strings.Builder
	for _, l := range strings.Split(v, "\n") {
		flat.WriteString(strings.Join(strings.Fields(strings.Trim(l, "│")), ""))
	}
	if !strings.Contains(flat.String(), "Name"+name+"Type") {
		t.Errorf("the Name field does not show the whole name:\n%s", v)
	}
	checkWidth(t, v, 80)
	s.golden()
}

// TestInstanceLabelEverywhere: the wizard's picker, its review and Rotate
// Immediately label an instance without a name "i-app1 · 127.0.0.1:3".
func TestInstanceLabelEverywhere(t *testing.T) {
	s := start(t, roughFixture(t).svc, 100, 30)
	s.waitFor("acs/ecs/app1/app")
	s.press("R")
	v := s.waitFor("Use Custom Secret", "i-app1 · 127.0.0.1:3")
	if strings.Contains(v, "·  ·") {
		t.Fatalf("an empty part in an instance label:\n%s", v)
	}
	s.press("esc")
	s.waitGone("Use Custom Secret")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab", "tab")
	v = s.waitFor("i-app1 · 127.0.0.1:3")
	if strings.Contains(v, "·  ·") {
		t.Fatalf("an empty part in an instance label:\n%s", v)
	}
}

func TestInstanceLabel(t *testing.T) {
	for _, c := range []struct {
		id, name, host string
		port           int
		want           string
	}{
		{"i-web1", "web-1", "127.0.0.1", 2222, "i-web1 · web-1 · 127.0.0.1:2222"},
		{"i-web1", "", "127.0.0.1", 2222, "i-web1 · 127.0.0.1:2222"},
		{"i-v6", "", "::1", 22, "i-v6 · [::1]:22"},
		{"i-gone", "", "", 0, "i-gone"},
	} {
		if got := instanceLabel(c.id, c.name, c.host, c.port); got != c.want {
			t.Errorf("instanceLabel(%q, %q, %q, %d) = %q, want %q", c.id, c.name, c.host, c.port, got, c.want)
		}
	}
}

// TestErrLines: the sentence, then the code on the last line when it
// fits, else on its own line; no control character gets through.
func TestErrLines(t *testing.T) {
	c := &common{st: newStyles(plainRenderer())}
	err := model.Errorf(model.CodeResourceInUse, "The instance i-web1 is managed by 1 secret(s); delete them first")
	got := c.errLines(err, 80)
	want := []string{
		"Not possible right now: the instance i-web1 is managed by 1 secret(s); delete",
		"them first · Rejected.ResourceInUse",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errLines at 80:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The code does not fit after the last line: a line of its own.
	missing := model.Errorf(model.CodeMissingParameter, "The parameter SecretName is required")
	got = c.errLines(missing, 30)
	if strings.Join(got, "\n") != "The secret name is required.\n"+model.CodeMissingParameter {
		t.Errorf("errLines at 30:\n%s", strings.Join(got, "\n"))
	}
	if line := c.errLine(err); line != "Not possible right now: the instance i-web1 is managed by 1 secret(s); delete them first · Rejected.ResourceInUse" {
		t.Errorf("errLine: %q", line)
	}
	hostile := model.Errorf(model.CodeRotationFailed, "set: sudo said \x1b]0;PWNED\x07 done")
	for _, l := range append(c.errLines(hostile, 40), c.errLine(hostile)) {
		if strings.ContainsAny(l, "\x1b\x07") {
			t.Errorf("a control character in %q", l)
		}
	}
	// Not an API error: its text, as a sentence.
	if got := c.errLines(errors.New("disk full"), 80); len(got) != 1 || !strings.Contains(got[0], "disk full") {
		t.Errorf("a plain error: %q", got)
	}
}

// TestDetailsCredentialNotARead: the managed credential is described
// without reading the value: no GetSecretValue in the audit log, and a
// readonly operator (who cannot read values) sees it too.
func TestDetailsCredentialNotARead(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	ro := f.svc.As(service.Actor{Name: "bob", Role: model.RoleReadonly})
	for _, svc := range []*service.Service{f.svc, ro} {
		s := start(t, svc, 100, 30)
		s.waitFor("acs/ecs/db1/deploy")
		s.press("enter")
		v := s.waitFor("Managed user   deploy", "Public key     SHA256:")
		if strings.Contains(v, "PRIVATE KEY") {
			t.Fatalf("the details show the value:\n%s", v)
		}
	}
	if n := auditCount(t, f.svc, "GetSecretValue"); n != 0 {
		t.Fatalf("%d reads of a value to draw the details", n)
	}
	// A reveal is one: the count above would have seen it.
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	s.waitFor("Managed user")
	s.press("v")
	s.waitFor("BEGIN PRIVATE KEY")
	if n := auditCount(t, f.svc, "GetSecretValue"); n != 1 {
		t.Fatalf("%d reads of the value audited after one reveal", n)
	}
}
