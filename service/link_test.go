package service

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// TestLinkCutAfterTheHostChanged: the link to the host drops after the host
// has been changed (chpasswd ran, or the new key line was written) but
// before the answer arrives, and stays down for the rollback. That is the
// on-call engineer's flaky network at the worst moment. The rotation fails
// without losing the new credential: the store keeps it as ACSPending, and
// ACSCurrent does not move. Once the link is back, the next read of the
// secret settles it: ACSCurrent is the new credential and the host accepts
// it. For a password the old one is then refused; for a key pair the
// operator's own untagged line stays, as the console never removes lines it
// did not add.
func TestLinkCutAfterTheHostChanged(t *testing.T) {
	for _, subType := range []string{model.SubTypePassword, model.SubTypeSSHKey} {
		t.Run(subType, func(t *testing.T) { linkCutAfterTheHostChanged(t, subType) })
	}
}

func linkCutAfterTheHostChanged(t *testing.T, subType string) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	var initial model.ECSData
	if subType == model.SubTypePassword {
		pw, _ := model.RandomPassword(model.DefaultPasswordOptions())
		initial = model.ECSData{UserName: sshdtest.CreateUser(t, "cut", pw), Password: pw}
	} else {
		pub, priv, err := model.NewRSAKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		initial = model.ECSData{UserName: sshdtest.CreateUser(t, "cutk", ""), PublicKey: pub, PrivateKey: priv}
		sshdtest.WriteAuthorizedKeys(t, initial.UserName, pub+" operator-installed")
	}
	user := initial.UserName
	link := sshdtest.NewLink(t, srv.Addr())

	store, err := db.Open(dbtest.Locator(t), "")
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
	cfg := model.ECSConfig{SecretSubType: subType, InstanceId: "i-flaky", RegionId: DefaultRegion}
	if _, err := svc.CreateSecret(ctx, CreateSecretRequest{SecretName: name, SecretType: "ECS", ExtendedConfig: cfg.JSON(),
		SecretData: initial.JSON(), VersionId: "v0"}); err != nil {
		t.Fatal(err)
	}

	// From now on the admin's commands do their work at once but answer
	// 2 s later; the link is cut the moment the host changes, inside that
	// window.
	sshdtest.SlowAnswerShell(t, admin, 2)
	// sshd reads the login shell when a connection authenticates: drop
	// the management connection the service keeps, so that the rotation
	// logs in anew and gets the slow shell.
	link.Cut()
	link.Restore()
	before := shadowHash(t, user)
	hostChanged := func() bool { return shadowHash(t, user) != before }
	if subType == model.SubTypeSSHKey {
		tag := ecs.KeyTag(name, "v1")
		hostChanged = func() bool { return strings.Contains(authorizedKeys(t, user), tag) }
	}
	watchDone := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if hostChanged() {
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
		t.Fatal("the host never changed")
	}
	var ae *model.APIError
	if !errors.As(err, &ae) || ae.Code != model.CodeRotationFailed {
		t.Fatalf("rotation over a cut link: want %s, got %v", model.CodeRotationFailed, err)
	}
	for _, want := range []string{"connection was lost before the host reported the outcome", "rollback failed", "kept pending"} {
		if !strings.Contains(ae.Message, want) {
			t.Errorf("the error does not say %q: %s", want, ae.Message)
		}
	}
	if (initial.Password != "" && strings.Contains(ae.Message, initial.Password)) || (initial.PrivateKey != "" && strings.Contains(ae.Message, initial.PrivateKey)) {
		t.Fatal("the error names a credential")
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
	if pending != "" || got.VersionId != current || current != "v1" {
		t.Fatalf("not settled onto the new credential: ACSCurrent %q ACSPending %q, read %s", current, pending, got.VersionId)
	}
	data, err := model.ParseECSData(got.SecretData, subType)
	if err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if subType == model.SubTypeSSHKey {
		if err := ecs.VerifyKey(vctx, srv.Host, srv.Port, srv.HostKey, user, []byte(data.PrivateKey)); err != nil {
			t.Fatalf("the store's ACSCurrent key does not log in: %v", err)
		}
		if n := strings.Count(authorizedKeys(t, user), ecs.KeyTag(name, "v1")); n != 1 {
			t.Fatalf("the new key's line is there %d times, want once", n)
		}
		return
	}
	if err := ecs.VerifyPassword(vctx, srv.Host, srv.Port, srv.HostKey, user, data.Password); err != nil {
		t.Fatalf("the store's ACSCurrent does not log in: %v", err)
	}
	if err := ecs.VerifyPassword(vctx, srv.Host, srv.Port, srv.HostKey, user, initial.Password); !errors.Is(err, ecs.ErrAuthFailed) {
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

// authorizedKeys is the content of user's ~/.ssh/authorized_keys.
func authorizedKeys(t *testing.T, name string) string {
	u, err := user.Lookup(name)
	if err != nil {
		t.Error(err)
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(u.HomeDir, ".ssh", "authorized_keys"))
	return string(b)
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
