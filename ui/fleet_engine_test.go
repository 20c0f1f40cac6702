package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestFleetEngineSSHD: the console's fleet action runs the service's fleet
// engine on a real sshd. Two password secrets and a key-pair secret on
// the real host rotate; the fixture's acs/ecs/db1/deploy (a closed port)
// fails. Each row shows its own result: the new version, for the key pair
// the old key's authorized_keys lines removed, the failure with its step.
// The store and the host agree afterwards, and once the fleet has ended
// q quits at once (no rotation is counted as running any more).
func TestFleetEngineSSHD(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-real", InstanceName: "real", Host: srv.Host,
		Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	const initial = "Fleet-Passw0rd-1"
	users := sshdtest.CreateUsers(t, "fl", []string{initial, initial})
	keyUser := sshdtest.CreateUser(t, "flk", "")
	pub, priv, err := model.NewRSAKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	sshdtest.WriteAuthorizedKeys(t, keyUser, pub+" operator-installed")

	create := func(user, subType string, data model.ECSData) string {
		t.Helper()
		name := "acs/ecs/real/" + user
		cfg := model.ECSConfig{SecretSubType: subType, InstanceId: "i-real", RegionId: "cn-hangzhou"}
		resp, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretType: "ECS", VersionId: "v0",
			ExtendedConfig: cfg.JSON(), SecretData: data.JSON()})
		if err != nil || resp.Warning != "" {
			t.Fatalf("create %s: %v %+v", name, err, resp)
		}
		return name
	}
	var names []string
	for _, u := range users {
		names = append(names, create(u, model.SubTypePassword, model.ECSData{UserName: u, Password: initial}))
	}
	keyName := create(keyUser, model.SubTypeSSHKey, model.ECSData{UserName: keyUser, PublicKey: pub, PrivateKey: priv})
	names = append(names, keyName)
	sort.Strings(names) // the list's order, which the cursor walks below

	s := start(t, f.svc, 150, 30)
	s.waitFor("acs/ecs/db1/deploy", keyName)
	// Rows in name order: acs/ecs/db1/deploy, then the three acs/ecs/real/…
	s.press("space", "space", "space", "space")
	s.waitFor("4 selected")
	s.press("R")
	s.waitFor("[4 secrets]", "enter rotate all", fmt.Sprintf("Up to %d rotate at a time, at most", service.DefaultFleetParallel), fmt.Sprintf("%d per instance", service.DefaultFleetPerHost))
	s.press("enter")
	// Real rotations (one an RSA key pair) on a loaded machine: wait past
	// the product's own 30 s set/test budget, not the usual 15 s.
	v := s.waitForWithin(90*time.Second, "Fleet rotation finished: 3 rotated, 1 failed")

	rows := map[string]string{}
	for _, l := range strings.Split(v, "\n") {
		for _, n := range append([]string{"acs/ecs/db1/deploy"}, names...) {
			if _, seen := rows[n]; !seen && strings.Contains(l, " "+n+" ") {
				rows[n] = l // the table's row, not the detail line under it
			}
		}
	}
	// The row says what happened in words; the code is on the detail line.
	if r := rows["acs/ecs/db1/deploy"]; !strings.Contains(r, "✗ set") || !strings.Contains(r, "Could not reach the instance") || !strings.Contains(v, "Rejected.RotationFailed") {
		t.Fatalf("the failed row: %q\n%s", r, v)
	}
	for _, n := range names {
		cur, err := f.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: n})
		if err != nil {
			t.Fatal(err)
		}
		if cur.VersionId == "v0" {
			t.Fatalf("%s was not rotated", n)
		}
		r := rows[n]
		if !strings.Contains(r, "✓ done") {
			t.Fatalf("row of %s: %q\n%s", n, r, v)
		}
		// The row shows what fits; the detail line under the table shows
		// the whole result of the row under the cursor.
		s.press("down")
		detail := lineWith(s.waitFor(n+": new version "+cur.VersionId), n+": new version ")
		var d model.ECSData
		if err := json.Unmarshal([]byte(cur.SecretData), &d); err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if n == keyName {
			if !strings.Contains(r, "old key: 1 line removed · new version") || !strings.Contains(detail, "; old key: 1 authorized_keys line removed") {
				t.Fatalf("the key pair's row does not count the old key's line: %q\n%s", r, detail)
			}
			err = ecs.VerifyKey(lctx, srv.Host, srv.Port, srv.HostKey, keyUser, []byte(d.PrivateKey))
		} else {
			if strings.Contains(r, "old key") || strings.Contains(detail, "old key") {
				t.Fatalf("a password row speaks of keys: %q\n%s", r, detail)
			}
			if !strings.Contains(r, "new version "+cur.VersionId[:8]) {
				t.Fatalf("row of %s does not show its new version %s: %q", n, cur.VersionId, r)
			}
			err = ecs.VerifyPassword(lctx, srv.Host, srv.Port, srv.HostKey, d.UserName, d.Password)
		}
		cancel()
		if err != nil {
			t.Fatalf("the stored ACSCurrent of %s does not log in: %v", n, err)
		}
	}
	// The failed row's full reason was under the table while it had the
	// cursor (the first row).
	if !strings.Contains(v, "Could not reach the instance: rotation of acs/ecs/db1/deploy failed at set") {
		t.Fatalf("no detail line for the failed row:\n%s", v)
	}
	// Every rotation's end reached the root: nothing counts as running.
	s.press("esc")
	s.waitFor("Secrets [8]")
	// q quits at once: no probe after it (press's would race the quit and
	// go unanswered).
	s.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	s.tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}

// TestFleetQuitWaits: q while the fleet runs asks first, and the console
// quits only once the engine's rotations have ended.
func TestFleetQuitWaits(t *testing.T) {
	ln := hangingListener(t)
	f := newFixturePort(t, model.RoleAdmin, ln.port)
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("space", "space", "R")
	s.waitFor("[2 secrets]", "enter rotate all")
	s.press("enter")
	// deploy fails at once (closed port); web1 hangs dialling the silent host.
	s.waitFor("Rotating…", "✗ set")
	s.press("q")
	s.waitFor("A rotation is running. Quit when it has finished?")
	s.press("y")
	s.waitFor("Quitting when the running rotation has finished")
	time.Sleep(200 * time.Millisecond)
	if v := s.view(); !strings.Contains(v, "Rotating…") {
		t.Fatalf("the console stopped before the rotation ended:\n%s", v)
	}
	ln.release() // the host goes away: the rotation fails, then the console quits
	s.tm.WaitFinished(t, teatest.WithFinalTimeout(20*time.Second))
}

// lineWith returns the first line of view that contains text.
func lineWith(view, text string) string {
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, text) {
			return l
		}
	}
	return ""
}

// TestRotateKeyPairRemovedLinesSSHD: Rotate Immediately of a key-pair
// secret says how many authorized_keys lines of the old key it removed,
// and the old key no longer logs in.
func TestRotateKeyPairRemovedLinesSSHD(t *testing.T) {
	sshdtest.Require(t)
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(t)
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-real", InstanceName: "real", Host: srv.Host,
		Port: srv.Port, AdminUser: admin, AdminKey: adminKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	user := sshdtest.CreateUser(t, "rk", "")
	pub, priv, err := model.NewRSAKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	// The old key twice (two lines of it) beside another key that stays.
	otherPub, _ := sshdtest.GenerateKey(t, "ed25519")
	sshdtest.WriteAuthorizedKeys(t, user, pub+" operator-installed", otherPub+" someone-else", pub+" again")
	name := "acs/ecs/real/" + user
	cfg := model.ECSConfig{SecretSubType: model.SubTypeSSHKey, InstanceId: "i-real", RegionId: "cn-hangzhou"}
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretType: "ECS", VersionId: "v0",
		ExtendedConfig: cfg.JSON(), SecretData: model.ECSData{UserName: user, PublicKey: pub, PrivateKey: priv}.JSON()}); err != nil {
		t.Fatal(err)
	}
	s := start(t, f.svc, 120, 36)
	s.waitFor(name)
	s.press("down", "R") // rows: acs/ecs/db1/deploy, then this one
	s.waitFor("Use Custom Secret", "RSA-2048", name)
	s.press("enter")
	v := s.waitFor("Rotation triggered", "Old key", "2 authorized_keys lines removed")
	if strings.Contains(v, "Warning") {
		t.Fatalf("a warning after a clean revocation:\n%s", v)
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ecs.VerifyKey(lctx, srv.Host, srv.Port, srv.HostKey, user, []byte(priv)); err == nil {
		t.Fatal("the old key still logs in")
	}
}
