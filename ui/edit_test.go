package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Edit Secret (e on the details screen). Rows of the fixture's list, in
// name order: acs/ecs/db1/deploy (key pair, rotation Invalid · 30d),
// acs/ecs/web1/root (Enabled · 7d), api/stripe/key, app/staging/token,
// db/prod/password.

// openEdit opens the details of the secret reached with keys, then Edit.
func openEdit(s *session, name string, keys ...string) {
	s.t.Helper()
	s.waitFor("db/prod/password", "acs/ecs/db1/deploy")
	s.press(append(keys, "enter")...)
	s.waitFor("Secret "+name, "Versions [")
	s.press("e")
	s.waitFor("Edit Secret", "enter save")
}

func describe(t *testing.T, svc *service.Service, name string) *service.DescribeSecretResponse {
	t.Helper()
	d, err := svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: name})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// auditCount counts the audit events of action (e.g. UpdateSecret).
func auditCount(t *testing.T, svc *service.Service, action string) int {
	t.Helper()
	evs, err := svc.Audit(context.Background(), 1000, action)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestEditSecretDialog(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	openEdit(s, "acs/ecs/db1/deploy")
	v := s.waitFor("Automatic rotation", "(•) Every period", "Rotation period", "every 30d; next rotation at 2026-05-21 10:00", "re-arms it and resets the failures")
	if !strings.Contains(v, "Invalid · 30d") {
		t.Fatalf("the dialog does not show the current rotation state:\n%s", v)
	}
	s.golden()
}

func TestEditSecretDialog80x24(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	openEdit(s, "acs/ecs/db1/deploy")
	s.waitFor("re-arms it and resets the failures", "every 30d; next rotation at 2026-05-21 10:00")
	s.golden()
}

func TestEditSecretGeneric120x40(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 120, 40)
	openEdit(s, "db/prod/password", "end")
	v := s.waitFor("Production database password")
	if strings.Contains(v, "Automatic rotation") {
		t.Fatalf("a generic secret has no rotation fields:\n%s", v)
	}
	s.golden()
}

// Saving an Invalid secret's policy re-arms it: the details show the new
// description and status, and the service reads them back with the
// failures reset.
func TestEditSecretSaves(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/db1/deploy")
	s.typeText("Deploy key on db1")
	s.press("tab", "tab", "backspace", "backspace", "backspace")
	s.typeText("14d")
	s.waitFor("every 14d; next rotation due now")
	s.press("enter")
	// The flash, the dialog closing and the details reloading arrive as
	// separate messages: wait for all of them.
	s.waitUntil("the details showing the re-armed rotation", func(v string) bool {
		return strings.Contains(v, "Updated acs/ecs/db1/deploy: description and automatic rotation (Enabled · 14d)") &&
			strings.Contains(v, "Deploy key on db1") && strings.Contains(v, "Enabled · 14d") &&
			!strings.Contains(v, "Edit Secret") && !strings.Contains(v, "Rotation failed") && !strings.Contains(v, "Failure reason")
	})
	d := describe(t, f.svc, "acs/ecs/db1/deploy")
	if d.Description != "Deploy key on db1" || d.AutomaticRotation != model.RotationEnabled ||
		d.RotationInterval != "1209600s" || d.RotationFailureReason != "" {
		t.Fatalf("read back: %+v", d)
	}
	var row *db.SecretRow
	if err := f.store.Read(context.Background(), func(tx *db.Tx) (err error) {
		row, err = tx.SecretByName("acs/ecs/db1/deploy")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if row.RotationFailures != 0 || !row.AutoWanted {
		t.Fatalf("failures %d, wanted %v: the policy did not re-arm the rotation", row.RotationFailures, row.AutoWanted)
	}
	s.golden()
}

// Turning rotation off sends EnableAutomaticRotation=false alone.
func TestEditSecretRotationOff(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/web1/root", "down")
	s.press("tab", "left")
	s.waitGone("Rotation period")
	s.press("enter")
	s.waitFor("Updated acs/ecs/web1/root: automatic rotation (Disabled)", "Auto rotation  Disabled")
	d := describe(t, f.svc, "acs/ecs/web1/root")
	if d.AutomaticRotation != model.RotationDisabled || d.Description != "root on web1" {
		t.Fatalf("read back: %+v", d)
	}
	if n := auditCount(t, f.svc, "UpdateSecret"); n != 0 {
		t.Fatalf("the unchanged description was sent (%d UpdateSecret)", n)
	}
}

// Only what changed is sent: a new description alone does not touch the
// rotation policy; nothing changed sends nothing.
func TestEditSecretOnlyChanges(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/web1/root", "down")
	s.press("enter")
	s.waitFor("No changes to save")
	s.waitGone("Edit Secret")
	if a, b := auditCount(t, f.svc, "UpdateSecret"), auditCount(t, f.svc, "UpdateSecretRotationPolicy"); a+b != 0 {
		t.Fatalf("an unchanged dialog sent %d UpdateSecret, %d UpdateSecretRotationPolicy", a, b)
	}
	s.press("e")
	s.waitFor("Edit Secret")
	s.press("end", "backspace", "backspace", "backspace", "backspace")
	s.typeText("admin")
	s.press("enter")
	s.waitFor("Updated acs/ecs/web1/root: description", "root on admin")
	if n := auditCount(t, f.svc, "UpdateSecret"); n != 1 {
		t.Fatalf("%d UpdateSecret, want 1", n)
	}
	if n := auditCount(t, f.svc, "UpdateSecretRotationPolicy"); n != 0 {
		t.Fatalf("the unchanged policy was sent (%d UpdateSecretRotationPolicy)", n)
	}
	d := describe(t, f.svc, "acs/ecs/web1/root")
	if d.Description != "root on admin" || d.AutomaticRotation != model.RotationEnabled || d.RotationInterval != "604800s" {
		t.Fatalf("read back: %+v", d)
	}
}

func TestEditSecretEscSavesNothing(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/web1/root", "down")
	s.typeText(" and more")
	s.press("tab", "left")
	s.waitGone("Rotation period")
	// esc asks before it throws the typed input away; y discards.
	s.press("esc")
	s.waitFor("Discard what you typed?", "y discard", "n/esc keep editing")
	s.press("y")
	v := s.waitGone("Edit Secret")
	if !strings.Contains(v, "Enabled · 7d") || strings.Contains(v, "and more") {
		t.Fatalf("esc changed the secret:\n%s", v)
	}
	d := describe(t, f.svc, "acs/ecs/web1/root")
	if d.Description != "root on web1" || d.AutomaticRotation != model.RotationEnabled || d.RotationInterval != "604800s" {
		t.Fatalf("read back after esc: %+v", d)
	}
	if a, b := auditCount(t, f.svc, "UpdateSecret"), auditCount(t, f.svc, "UpdateSecretRotationPolicy"); a+b != 0 {
		t.Fatalf("esc sent %d UpdateSecret, %d UpdateSecretRotationPolicy", a, b)
	}
}

// A bad period shows the wizard's validation error under the field and
// saves nothing, not even the description that was valid.
func TestEditSecretBadPeriod(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/db1/deploy")
	s.typeText("Deploy key")
	s.press("tab", "tab", "backspace", "backspace", "backspace")
	s.typeText("2h")
	s.press("shift+tab", "shift+tab") // back on the description
	s.press("enter")
	v := s.waitFor("✗ Must be between 6h and 8760h, got \"2h\"", "› Rotation period")
	if !strings.Contains(v, "Edit Secret") {
		t.Fatalf("the dialog closed on a bad period:\n%s", v)
	}
	d := describe(t, f.svc, "acs/ecs/db1/deploy")
	if d.Description != "" || d.AutomaticRotation != model.RotationInvalid || d.RotationInterval != "2592000s" {
		t.Fatalf("a bad period saved something: %+v", d)
	}
	if a, b := auditCount(t, f.svc, "UpdateSecret"), auditCount(t, f.svc, "UpdateSecretRotationPolicy"); a+b != 0 {
		t.Fatalf("a bad period sent %d UpdateSecret, %d UpdateSecretRotationPolicy", a, b)
	}
	s.golden()
}

// A refusal of the service shows in the dialog with its code; the dialog
// stays open.
func TestEditSecretServiceError(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "db/prod/password", "end")
	s.typeText(" (rotated monthly)")
	// Someone plans the deletion meanwhile.
	seven := 7
	if _, err := f.svc.DeleteSecret(context.Background(), service.DeleteSecretRequest{SecretName: "db/prod/password", RecoveryWindowInDays: &seven}); err != nil {
		t.Fatal(err)
	}
	s.press("enter")
	// The refusal as a sentence, its code after it.
	v := s.waitFor("Not possible while the secret is pending deletion: the secret", "db/prod/password is pending deletion", model.CodeInDeleteWindow)
	if !strings.Contains(v, "Edit Secret") {
		t.Fatalf("the dialog closed on an error:\n%s", v)
	}
	if d := describe(t, f.svc, "db/prod/password"); d.Description != "Production database password" {
		t.Fatalf("description after the refusal: %q", d.Description)
	}
}

// A readonly operator has neither e on the details nor x on the instances.
func TestReadonlyNoEditNoRemove(t *testing.T) {
	k := newKeyMap()
	k.readonly()
	if k.Edit.Enabled() || k.RemoveInstance.Enabled() {
		t.Fatal("readonly() leaves edit or remove enabled")
	}
	s := start(t, newFixture(t, model.RoleReadonly).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	s.waitFor("Secret acs/ecs/db1/deploy", "Versions [1]")
	s.press("e")
	time.Sleep(300 * time.Millisecond) // a dialog would be pushed by now
	v := s.view()
	if strings.Contains(v, "Edit Secret") || strings.Contains(v, "e edit") {
		t.Fatalf("a readonly operator can edit:\n%s", v)
	}
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("x")
	time.Sleep(300 * time.Millisecond)
	v = s.view()
	if strings.Contains(v, "Remove Instance") || strings.Contains(v, "x remove") {
		t.Fatalf("a readonly operator can remove an instance:\n%s", v)
	}
}

// A manual rotation that failed on a secret whose automatic rotation is off
// also shows Invalid; the dialog starts Off there (the operator's choice,
// kept by the store), so saving only a new description leaves automatic
// rotation off.
func TestEditSecretInvalidAfterManualRotationStaysOff(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	err := f.store.Write(context.Background(), func(tx *db.Tx) error {
		sec, err := tx.SecretByName("acs/ecs/db1/deploy")
		if err != nil {
			return err
		}
		sec.AutoWanted = false
		return tx.UpdateSecret(sec)
	})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/db1/deploy")
	v := s.waitFor("(•) Off")
	if strings.Contains(v, "Rotation period") {
		t.Fatalf("rotation off, yet the period field shows:\n%s", v)
	}
	s.typeText("Deploy key")
	s.press("enter")
	s.waitFor("Updated acs/ecs/db1/deploy: description", "Deploy key")
	d := describe(t, f.svc, "acs/ecs/db1/deploy")
	if d.Description != "Deploy key" || d.AutomaticRotation != model.RotationInvalid {
		t.Fatalf("saving a description changed the rotation: %+v", d)
	}
	if n := auditCount(t, f.svc, "UpdateSecretRotationPolicy"); n != 0 {
		t.Fatalf("a description-only edit sent %d rotation policies", n)
	}
}

// Edit also opens from the Secrets list, on the row under the cursor; the
// list shows the saved rotation when the dialog closes.
func TestEditSecretFromList(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 120, 40)
	s.waitFor("db/prod/password", "acs/ecs/web1/root")
	s.press("down") // acs/ecs/web1/root, Enabled · 7d
	s.press("e")
	s.waitFor("Edit Secret", "acs/ecs/web1/root", "(•) Every period")
	s.press("tab", "tab", "backspace", "backspace")
	s.typeText("14d")
	s.press("enter")
	// The dialog shows the saved state a moment before it closes.
	s.waitUntil("the list row with the new period", func(v string) bool {
		return !strings.Contains(v, "Edit Secret") && strings.Contains(v, "Enabled · 14d")
	})
	if d := describe(t, f.svc, "acs/ecs/web1/root"); d.RotationInterval != "1209600s" || d.AutomaticRotation != model.RotationEnabled {
		t.Fatalf("the policy was not saved: %+v", d)
	}
}
