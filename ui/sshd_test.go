package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestInstanceAddAcceptHostKey adds a real sshd from the Instances screen
// without a host key: the console fetches the key, shows its fingerprint,
// pins it only once accepted, and the new row checks reachable.
func TestInstanceAddAcceptHostKey(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	keyFile := filepath.Join(t.TempDir(), "admin_key")
	if err := os.WriteFile(keyFile, adminKey, 0o600); err != nil {
		t.Fatal(err)
	}
	fp, err := ecs.Fingerprint(srv.HostKey)
	if err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 120, 36)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("c")
	s.waitFor("Add Instance")
	s.typeText("i-new")
	s.press("tab")
	s.typeText("new")
	s.press("tab", "tab")
	s.typeText(srv.Host)
	s.press("tab", "backspace", "backspace")
	s.typeText(strconv.Itoa(srv.Port))
	s.press("tab", "end")
	for range 4 {
		s.press("backspace")
	}
	s.typeText(admin)
	s.press("tab")
	s.typeText(keyFile)
	s.waitFor("key read: ssh-ed25519")
	s.press("enter")
	s.waitFor("The host offers this key", fp, "accept and pin")
	if views, err := f.svc.Instances(t.Context(), false); err != nil || len(views) != 2 {
		t.Fatalf("pinned before it was accepted: %v %d", err, len(views))
	}
	s.press("y")
	s.waitFor("Added i-new; host key "+fp+" pinned", "Instances [3]")
	s.waitFor("✓ reachable")
	in, err := f.svc.Instance(t.Context(), "i-new")
	if err != nil || in.HostKey != srv.HostKey {
		t.Fatalf("pinned key: %v %+v", err, in)
	}
}

// TestECSKeyPairSSHD creates a key-pair ECS secret whose initial key the
// host does not accept (the console shows the service's warning), then
// rotates it with Rotate Immediately: the generated key logs in.
func TestECSKeyPairSSHD(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "kp", "")
	f := newFixture(t, model.RoleAdmin)
	ctx := t.Context()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-real", InstanceName: "real", Host: srv.Host,
		Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	_, initialKey := sshdtest.GenerateKey(t, "ed25519")
	keyFile := filepath.Join(t.TempDir(), "initial")
	if err := os.WriteFile(keyFile, initialKey, 0o600); err != nil {
		t.Fatal(err)
	}

	s := start(t, f.svc, 120, 36)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("real/" + user)
	// The picker fills when the region's instances have loaded (a command
	// of their own): a key pressed before that would move nothing.
	s.waitFor("1/3")
	s.press("tab", "right") // instances: i-db1, i-real, i-web1
	s.waitFor("‹ i-real")
	s.press("tab")
	s.typeText(user)
	s.press("tab", "right", "tab")
	s.typeText(keyFile)
	s.waitFor("public key: ssh-ed25519")
	s.press("enter", "enter")
	s.waitFor("3 Review", "Key pair · ssh-ed25519")
	s.press("enter")
	s.waitFor("Secret created", "Warning: the initial credential does not log in")
	s.press("enter")
	s.waitFor("Secret acs/ecs/real/"+user, "Key pair")
	s.press("R")
	s.waitFor("Use Custom Secret", "RSA-2048")
	s.press("enter")
	v := s.waitFor("Rotation triggered")
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("no version:\n%s", v)
	}
	resp, err := f.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: "acs/ecs/real/" + user})
	if err != nil || resp.VersionId != m[1] {
		t.Fatalf("current: %v %+v", err, resp)
	}
	var d model.ECSData
	if err := json.Unmarshal([]byte(resp.SecretData), &d); err != nil {
		t.Fatal(err)
	}
	if err := ecs.VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, []byte(d.PrivateKey)); err != nil {
		t.Fatalf("the rotated key does not log in: %v", err)
	}
}
