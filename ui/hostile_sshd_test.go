package ui

import (
	"context"
	"strings"
	"testing"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// hostileShell makes the login shell of user a script that answers every
// command with escape sequences on stderr and exit 1: a host whose output
// tries to drive the operator's terminal.
func hostileShell(t *testing.T, user string) {
	t.Helper()
	sshdtest.SetShell(t, user, "#!/bin/sh\nprintf 'host says \\033]0;PWNED\\007\\033[2J\\033]52;c;cHduZWQ=\\007 no\\n' >&2\nexit 1\n")
}

// TestHostOutputSSHD: a real host whose admin login answers every command
// with escape sequences. The Rotate Immediately failure, the failure
// reason in the details and a fleet row all quote that output; each shows
// it inert. (The instance check only logs in: TestHostileErrors covers a
// check's reason.)
func TestHostOutputSSHD(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "ho", "Initial-Passw0rd1")
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-host", InstanceName: "host", Host: srv.Host,
		Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	name := "acs/ecs/host/" + user
	cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-host", RegionId: "cn-hangzhou"}
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretType: string(model.ECS),
		ExtendedConfig: cfg.JSON(), SecretData: model.ECSData{UserName: user, Password: "Initial-Passw0rd1"}.JSON()}); err != nil {
		t.Fatal(err)
	}
	hostileShell(t, admin)
	// A new service: no management connection opened before the change.
	svc := service.New(f.store, service.Options{Region: "cn-hangzhou", Actor: service.Actor{Name: "alice", Role: model.RoleAdmin}, Now: fixedClock})
	t.Cleanup(svc.Close)

	s := start(t, svc, 120, 36)
	s.waitFor(name)
	s.press("/")
	s.typeText(user)
	s.press("enter", "enter")
	s.waitFor("Secret "+name, "Versions [1]")
	s.press("R")
	s.waitFor("Use Custom Secret")
	s.press("enter")
	v := s.waitFor("Rotation failed", "host says")
	if !strings.Contains(v, seeTitle) {
		t.Fatalf("the failure is not shown inert:\n%s", v)
	}
	s.press("esc")
	v = s.waitFor("Failure reason", "host says")
	if !strings.Contains(v, seeTitle) {
		t.Fatalf("the failure reason is not shown inert:\n%s", v)
	}
	// Pages change by command: wait for each before the next key.
	s.press("esc")
	s.waitFor("Secrets [")
	s.press("space")
	s.waitFor("1 selected")
	s.press("R")
	s.waitFor("[1 secrets]", "enter rotate all")
	s.press("enter")
	v = s.waitFor("Fleet rotation finished: 0 rotated, 1 failed", "host says")
	if !strings.Contains(v, seeTitle) {
		t.Fatalf("the fleet result is not shown inert:\n%s", v)
	}
	requireInertModel(t, s.final())
}
