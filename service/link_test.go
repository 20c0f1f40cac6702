package service

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestLinkCutAfterTheHostChanged: the link to the host drops after chpasswd
// has changed the password but before its answer arrives, and stays down
// for the rollback. That is the on-call engineer's flaky network at the
// worst moment. The rotation fails without losing the new password: the
// store keeps it as ACSPending, and ACSCurrent does not move. Once the link
// is back, the next read of the secret settles it, and the host accepts
// exactly the store's ACSCurrent.
func TestLinkCutAfterTheHostChanged(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	initial, _ := model.RandomPassword(model.DefaultPasswordOptions())
	user := sshdtest.CreateUser(t, "cut", initial)
	link := sshdtest.NewLink(t, srv.Addr())

	store, err := db.Open(filepath.Join(t.TempDir(), "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	ctx := context.Background()
	if _, err := svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-flaky", RegionId: DefaultRegion, Host: "127.0.0.1", Port: link.Port,
		AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	name := "acs/ecs/flaky/" + user
	cfg := model.ECSConfig{SecretSubType: model.SubTypePassword, InstanceId: "i-flaky", RegionId: DefaultRegion}
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: name, SecretType: "ECS", ExtendedConfig: cfg.JSON(),
		SecretData: model.ECSData{UserName: user, Password: initial}.JSON(), VersionId: "v0"}); err != nil {
		t.Fatal(err)
	}

	// From now on the admin's commands do their work at once but answer
	// 2 s later; the link is cut the moment the password on the host
	// changes, inside that window.
	sshdtest.SlowAnswerShell(t, admin, 2)
	before := shadowHash(t, user)
	watchDone := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if shadowHash(t, user) != before {
				link.Cut()
				watchDone <- true
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		watchDone <- false
	}()

	_, err = svc.RotateSecret(ctx, RotateSecretRequest{SecretName: name, VersionId: "v1"})
	if !<-watchDone {
		t.Fatal("the password on the host never changed")
	}
	var ae *model.APIError
	if !errors.As(err, &ae) || ae.Code != model.CodeRotationFailed {
		t.Fatalf("rotation over a cut link: want %s, got %v", model.CodeRotationFailed, err)
	}
	if !strings.Contains(ae.Message, "kept pending") {
		t.Errorf("the error does not say the new version is kept: %s", ae.Message)
	}
	if !strings.Contains(ae.Message, "connection was lost before the host reported the outcome") {
		t.Errorf("the error does not say the link dropped mid-command: %s", ae.Message)
	}
	if strings.Contains(ae.Message, initial) {
		t.Fatal("the error names the old password")
	}
	current, pending := labelsOf(t, store, name)
	if current != "v0" || pending != "v1" {
		t.Fatalf("after the cut: ACSCurrent %q ACSPending %q, want v0 and v1 kept", current, pending)
	}

	// The link comes back; the next read settles the rotation first.
	link.Restore()
	got, err := svc.GetSecretValue(ctx, GetSecretValueRequest{SecretName: name})
	if err != nil {
		t.Fatal(err)
	}
	current, pending = labelsOf(t, store, name)
	if pending != "" || got.VersionId != current {
		t.Fatalf("not settled: ACSCurrent %q ACSPending %q, read %s", current, pending, got.VersionId)
	}
	if current != "v1" {
		t.Fatalf("the host has the new password, yet ACSCurrent is %s", current)
	}
	data, err := model.ParseECSData(got.SecretData, model.SubTypePassword)
	if err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ecs.VerifyPassword(vctx, srv.Host, srv.Port, srv.HostKey, user, data.Password); err != nil {
		t.Fatalf("the store's ACSCurrent does not log in: %v", err)
	}
	if err := ecs.VerifyPassword(vctx, srv.Host, srv.Port, srv.HostKey, user, initial); !errors.Is(err, ecs.ErrAuthFailed) {
		t.Fatalf("the old password should be refused, got %v", err)
	}
}

// shadowHash is user's password field in /etc/shadow.
func shadowHash(t *testing.T, user string) string {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		t.Error(err)
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.SplitN(sc.Text(), ":", 3); len(fields) == 3 && fields[0] == user {
			return fields[1]
		}
	}
	return ""
}

// labelsOf reads ACSCurrent and ACSPending straight from the store (a
// service read would settle a pending version first).
func labelsOf(t *testing.T, store *db.Store, name string) (current, pending string) {
	t.Helper()
	err := store.Read(context.Background(), func(tx *db.Tx) error {
		sec, err := tx.SecretByName(name)
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
	return current, pending
}
