package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestHangupLetsRotationFinish: the terminal of a local console goes away
// (SIGHUP, as when the operator's SSH link drops) while Rotate Immediately
// is applying the new password. The console ends, but the process finishes
// the rotation first: afterwards the store's ACSCurrent is the new password,
// no ACSPending is left, the host accepts the new password and refuses the
// old one — read from the store without resolving anything.
func TestHangupLetsRotationFinish(t *testing.T) {
	requireTmux(t)
	const initial = "Initial-Passw0rd1"
	h := newManagedHost(t, "hup", "hup", initial)
	srv, adminUser, user, dbPath, svc := h.srv, h.admin, h.user, h.dbPath, h.svc
	ctx := context.Background()
	name := "acs/ecs/hup/" + user
	if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretType: "ECS", VersionId: "v1",
		ExtendedConfig: `{"SecretSubType":"Password","InstanceId":"i-hup","RegionId":"cn-hangzhou"}`,
		SecretData:     model.ECSData{UserName: user, Password: initial}.JSON()}); err != nil {
		t.Fatal(err)
	}
	// Each command the admin runs on the host now takes 2 s more: the
	// hang-up lands while the new password is being applied.
	sshdtest.SlowShell(t, adminUser, 2)

	bin := buildBinary(t)
	tm := startTmux(t, 120, 40, consoleCommand(bin, dbPath))
	tm.waitFor(name)
	tm.key("R")
	tm.waitFor("Rotate Immediately", "Use Custom Secret")
	tm.key("Enter")
	tm.waitFor("apply it on the instance")
	shell := strings.TrimSpace(tm.run("display-message", "-p", "-t", "0", "#{pane_pid}"))
	// The pane's shell has one child, the console (read from /proc: procps
	// is not on every fresh machine).
	children, err := os.ReadFile("/proc/" + shell + "/task/" + shell + "/children")
	if err != nil || len(strings.Fields(string(children))) == 0 {
		t.Fatalf("no console process under the pane's shell %s: %v", shell, err)
	}
	consolePid := strings.Fields(string(children))[0]
	tm.run("kill-server") // the terminal goes away: SIGHUP

	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + consolePid); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console process %s is still running 90 s after the hang-up", consolePid)
		}
		time.Sleep(100 * time.Millisecond)
	}

	current, pending := storeLabels(t, openStore(t, dbPath), name)
	if pending != "" {
		t.Fatalf("an ACSPending (%s) was left: the hang-up cut the rotation short", pending)
	}
	if current == "v1" {
		t.Fatal("ACSCurrent is still v1: the rotation never finished")
	}
	password := storedPassword(t, svc, name)
	if err := ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, password); err != nil {
		t.Fatalf("the store's new ACSCurrent does not log in: %v", err)
	}
	if err := ecs.VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, initial); !errors.Is(err, ecs.ErrAuthFailed) {
		t.Fatalf("the old password should be refused, got %v", err)
	}
}

// openStore opens the store at dbPath for a test that reads or writes it
// behind the service's back; it is closed when the test ends.
func openStore(t *testing.T, dbPath string) *db.Store {
	t.Helper()
	store, err := db.Open(dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// storeLabels reads a secret's ACSCurrent and ACSPending straight from the
// store: a service read would settle a pending version on its own.
func storeLabels(t *testing.T, store *db.Store, name string) (current, pending string) {
	t.Helper()
	err := store.Read(context.Background(), func(tx *db.Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil || sec == nil {
			return fmt.Errorf("secret %s: %v", name, err)
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		current, pending = labels[model.StageCurrent], labels[model.StagePending]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return current, pending
}

func storedPassword(t *testing.T, svc *service.Service, name string) string {
	t.Helper()
	v, err := svc.GetSecretValue(context.Background(), service.GetSecretValueRequest{SecretName: name})
	if err != nil {
		t.Fatal(err)
	}
	var d model.ECSData
	if err := json.Unmarshal([]byte(v.SecretData), &d); err != nil {
		t.Fatal(err)
	}
	return d.Password
}
