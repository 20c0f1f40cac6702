package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestRotateAdminKeyFromInstances: R on the Instances screen asks first,
// shows the steps and the new key's fingerprint; the host then takes the
// new admin key and refuses the old one (the real ssh client), and the
// screen tells when the key rotated.
func TestRotateAdminKeyFromInstances(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	f := newFixture(t, model.RoleAdmin)
	ctx := t.Context()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-real", InstanceName: "real", Host: srv.Host,
		Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	s := start(t, f.svc, 120, 36)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [3]", "R rotate admin key")
	s.press("j") // i-db1, i-real, i-web1
	s.waitFor("the management login " + admin + "@i-real works")
	s.press("R")
	s.waitFor("Rotate Admin Key", "Replace the SSH key kmsconsole logs in to i-real with?", "enter rotate")
	// esc asks nothing more: nothing happened.
	s.press("esc")
	s.waitGone("Rotate Admin Key")
	s.press("R")
	s.waitFor("Rotate Admin Key")
	s.press("enter")
	v := s.waitForWithin(60*time.Second, "Admin key rotated", "New key", "SHA256:", "1 authorized_keys line removed; refused")
	var row *db.InstanceRow
	if err := f.store.Read(ctx, func(tx *db.Tx) (err error) {
		row, err = tx.Instance("i-real")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if string(row.AdminKey) == string(adminKey) || row.AdminKeyPending {
		t.Fatal("the admin key did not change")
	}
	for _, step := range []string{"✓ create", "✓ set", "✓ test", "✓ finish"} {
		if !strings.Contains(v, step) {
			t.Errorf("no %q in:\n%s", step, v)
		}
	}
	if err := srv.KeyLogin(t, admin, row.AdminKey); err != nil {
		t.Fatalf("the new admin key does not log in: %v", err)
	}
	if err := srv.KeyLogin(t, admin, adminKey); !errors.Is(err, sshdtest.ErrLoginRefused) {
		t.Fatalf("the old admin key is not refused: %v", err)
	}
	s.press("esc")
	s.waitFor("Instances [3]", "Admin key", "rotated ")
	s.waitFor("the management login " + admin + "@i-real works")
}
