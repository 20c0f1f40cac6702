package service

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// adminKeysOf reads the instance's admin key and pending admin key straight
// from the store.
func adminKeysOf(t *testing.T, store *db.Store, id string) (*db.InstanceRow, []byte, []byte) {
	t.Helper()
	var r *db.InstanceRow
	if err := store.Read(context.Background(), func(tx *db.Tx) (err error) {
		r, err = tx.Instance(id)
		return err
	}); err != nil || r == nil {
		t.Fatalf("read instance %s: %v", id, err)
	}
	return r, r.AdminKey, r.PendingAdminKey
}

func fingerprintOfKey(t *testing.T, key []byte) string {
	t.Helper()
	_, fp, err := publicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func pubOfKey(t *testing.T, key []byte) string {
	t.Helper()
	pub, _, err := publicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// mustKeyLogin / mustKeyRefused check a key with the real ssh client.
func mustKeyLogin(t *testing.T, srv *sshdtest.Server, user, what string, key []byte) {
	t.Helper()
	if err := srv.KeyLogin(t, user, key); err != nil {
		t.Fatalf("%s does not log in as %s: %v", what, user, err)
	}
}

func mustKeyRefused(t *testing.T, srv *sshdtest.Server, user, what string, key []byte) {
	t.Helper()
	if err := srv.KeyLogin(t, user, key); !errors.Is(err, sshdtest.ErrLoginRefused) {
		t.Fatalf("%s must be refused as %s, got %v", what, user, err)
	}
}

// adminKeyAudit is the audit of the instance's admin key, oldest first.
func adminKeyAudit(t *testing.T, svc *Service, id string) []model.AuditEvent {
	t.Helper()
	evs, err := svc.Audit(context.Background(), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []model.AuditEvent
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Target == id && (strings.Contains(e.Action, "AdminKey")) {
			out = append(out, e)
		}
	}
	return out
}

func auditText(evs []model.AuditEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Operator + " " + e.Action + " " + e.Result + " " + e.Error + " " + e.Detail + "\n")
	}
	return b.String()
}

// The admin key rotates: the new key logs in, the old one is refused by the
// host (checked with the real ssh client), its line is the only one that
// went, the pool no longer uses it, every step is audited without a key,
// and the user secrets of the instance still rotate.
func TestRotateAdminKey(t *testing.T) {
	f := newECSFixture(t, model.SubTypeSSHKey)
	ctx := context.Background()
	// A user rotation first: the pool holds a connection made with the
	// old admin key.
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
		t.Fatal(err)
	}
	oldKey := f.adminKey
	otherPub, _ := sshdtest.GenerateKey(t, "ed25519")
	sshdtest.WriteAuthorizedKeys(t, f.admin, pubOfKey(t, oldKey)+" sshdtest-admin", otherPub+" someone-else")
	dials := f.svc.ecs.pool.Dials()

	var steps []string
	resp, err := f.svc.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: "i-web1", Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("rotate the admin key: %v", err)
	}
	if strings.Join(steps, ",") != "create,set,test,finish" {
		t.Errorf("steps %v", steps)
	}
	row, cur, pending := adminKeysOf(t, f.store, "i-web1")
	if pending != nil || row.AdminKeyPending || row.RetiredAdminKey != "" || string(cur) == string(oldKey) {
		t.Fatalf("after the rotation: pending %v, retired %q, key changed %v", pending != nil, row.RetiredAdminKey, string(cur) != string(oldKey))
	}
	if resp.Fingerprint != fingerprintOfKey(t, cur) || resp.PreviousFingerprint != fingerprintOfKey(t, oldKey) ||
		resp.RemovedKeyLines != 1 || !resp.OldKeyRefused || resp.Warning != "" || resp.AdminUser != f.admin || len(resp.RequestId) != 36 {
		t.Fatalf("response %+v", resp)
	}
	if !strings.HasPrefix(resp.Fingerprint, "SHA256:") || !strings.HasPrefix(pubOfKey(t, cur), "ssh-ed25519 ") {
		t.Errorf("the new key is not an ed25519 key: %s", resp.Fingerprint)
	}
	mustKeyLogin(t, f.srv, f.admin, "the new admin key", cur)
	mustKeyRefused(t, f.srv, f.admin, "the old admin key", oldKey)
	lines := strings.Split(strings.TrimSpace(authorizedKeys(t, f.admin)), "\n")
	if len(lines) != 2 || lines[0] != otherPub+" someone-else" || lines[1] != pubOfKey(t, cur)+" "+adminKeyTag("i-web1", resp.Fingerprint) {
		t.Fatalf("the admin's authorized_keys:\n%s", strings.Join(lines, "\n"))
	}
	// The pool dropped the connection of the old key: the one open now was
	// dialled after the promotion, with the new key.
	if n := f.svc.ecs.pool.OpenConns("i-web1"); n != 1 || f.svc.ecs.pool.Dials() <= dials {
		t.Errorf("pool: %d connection(s) open, %d dialled before, %d now", n, dials, f.svc.ecs.pool.Dials())
	}
	if !strings.Contains(f.srv.Log(), "Accepted publickey for "+f.admin+" from 127.0.0.1") {
		t.Error("sshd never accepted the admin")
	}

	// The user secret still rotates, over the new management login.
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
		t.Fatalf("a user rotation after the admin key rotation: %v", err)
	}
	_, user := f.at(model.StageCurrent)
	f.mustLogin("the user key rotated after the admin key", user)

	// Audited: the request and each step, by the actor, never a key.
	evs := adminKeyAudit(t, f.svc, "i-web1")
	text := auditText(evs)
	for _, want := range []string{"tester RotateAdminKey Success", "create: new admin key " + resp.Fingerprint, "set: " + resp.Fingerprint,
		"test: a fresh login", "finish: " + resp.Fingerprint + " is the admin key", "revoke: 1 line(s) of the old admin key " + resp.PreviousFingerprint + " removed; a login with it is refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Failure") {
		t.Errorf("a step failed:\n%s", text)
	}
	v, err := f.svc.Instance(ctx, "i-web1")
	if err != nil || v.AdminKeyFingerprint != resp.Fingerprint || v.AdminKeyRotated == "" || v.AdminKeyPending || v.RetiredAdminKeyLeft {
		t.Errorf("instance view %+v %v", v, err)
	}
	b, _ := json.Marshal(resp)
	vb, _ := json.Marshal(v)
	f.noLeak([]string{string(cur[40:120]), string(oldKey[40:120])}, string(b), string(vb))

	// Again, from a key kmsconsole made: its tagged line is the one that goes.
	resp2, err := f.svc.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: "i-web1"})
	if err != nil {
		t.Fatal(err)
	}
	_, cur2, _ := adminKeysOf(t, f.store, "i-web1")
	mustKeyRefused(t, f.srv, f.admin, "the admin key of the first rotation", cur)
	mustKeyLogin(t, f.srv, f.admin, "the admin key of the second rotation", cur2)
	lines = strings.Split(strings.TrimSpace(authorizedKeys(t, f.admin)), "\n")
	if resp2.RemovedKeyLines != 1 || len(lines) != 2 || lines[1] != pubOfKey(t, cur2)+" "+adminKeyTag("i-web1", resp2.Fingerprint) {
		t.Fatalf("second rotation: %+v\n%s", resp2, strings.Join(lines, "\n"))
	}
}

// A failure after the new key is on the host and before it is promoted: a
// host whose sshd takes RSA keys only refuses the new ed25519 key at the
// test. The host is put back (the line goes), the old key still works, the
// pending key is gone, and the audit says so.
func TestRotateAdminKeyRollsBackWhenTheNewKeyIsRefused(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256"}})
	admin, _ := sshdtest.CreateAdmin(t)
	rsaPub, rsaKey := sshdtest.GenerateKey(t, "rsa")
	sshdtest.WriteAuthorizedKeys(t, admin, rsaPub+" operator-installed")
	before := authorizedKeys(t, admin)
	store, err := db.Open(dbtest.Locator(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := New(store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	t.Cleanup(svc.Close)
	ctx := context.Background()
	if _, err := svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-rsa", RegionId: DefaultRegion, Host: srv.Host, Port: srv.Port,
		AdminUser: admin, AdminKey: rsaKey, HostKey: srv.HostKey}); err != nil {
		t.Fatal(err)
	}
	var setDone bool
	svc.opts.AfterStep = func(step string) {
		if step == StepSet {
			// The new key is on the host now, before the verification.
			setDone = strings.Count(authorizedKeys(t, admin), "\n") == 2
		}
	}
	_, err = svc.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: "i-rsa"})
	if !model.IsCode(err, model.CodeRotationFailed) || !strings.Contains(err.Error(), "at test") || !strings.Contains(err.Error(), "refused") ||
		!strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v, want a rotation that failed at test and was rolled back", err)
	}
	if !setDone {
		t.Fatal("the new key never reached the host: the failure was not injected between add and verification")
	}
	if got := authorizedKeys(t, admin); got != before {
		t.Fatalf("the host was not put back:\n%s\nwant\n%s", got, before)
	}
	row, cur, pending := adminKeysOf(t, store, "i-rsa")
	if string(cur) != string(rsaKey) || pending != nil || row.AdminKeyPending {
		t.Fatalf("store after the rollback: key kept %v, pending %v", string(cur) == string(rsaKey), pending != nil)
	}
	mustKeyLogin(t, srv, admin, "the old admin key after the rollback", rsaKey)
	if err := svc.CheckInstance(ctx, "i-rsa"); err != nil {
		t.Fatalf("the management login after the rollback: %v", err)
	}
	text := auditText(adminKeyAudit(t, svc, "i-rsa"))
	for _, want := range []string{"tester RotateAdminKey Failure", "RotateAdminKeyStep Success  set:", "RotateAdminKeyStep Failure  test: the host i-rsa refused",
		"rollback: rolled back: 1 line(s) of the new key removed, the pending key dropped; the old admin key still logs in"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit lacks %q:\n%s", want, text)
		}
	}
	v, err := svc.Instance(ctx, "i-rsa")
	if err != nil || !strings.Contains(v.AdminKeyError, "refused") || v.AdminKeyPending || v.AdminKeyFingerprint != fingerprintOfKey(t, rsaKey) {
		t.Errorf("instance view %+v %v", v, err)
	}
	if row.AdminKeyFailures != 1 || row.AdminKeyRetry.IsZero() {
		t.Errorf("failures %d, retry %v", row.AdminKeyFailures, row.AdminKeyRetry)
	}
}

// TestAdminKeyCrashChild is the body of the process the crash test kills;
// it does nothing unless started by TestAdminKeyCrashRecovery.
func TestAdminKeyCrashChild(t *testing.T) {
	path, step := os.Getenv("KMSCONSOLE_ADMINKEY_CRASH_DB"), os.Getenv("KMSCONSOLE_ADMINKEY_CRASH_AFTER")
	if path == "" {
		t.Skip("helper process only")
	}
	store, err := db.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Actor: Actor{Name: "doomed", Role: model.RoleAdmin}, AfterStep: func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}}
	if store.Shared() {
		opts.LeaseTTL = crashLeaseTTL
	}
	svc := New(store, opts)
	svc.RotateAdminKey(context.Background(), RotateAdminKeyRequest{InstanceId: "i-web1"})
	t.Fatal("the process should have been killed")
}

// kill -9 after each step of an admin key rotation; the next start (the
// scheduler's settling, ResolveAllPendingAdminKeys) leaves exactly one
// working admin key: the old one when the host never got the new one, the
// new one otherwise, and then the old one is refused.
func TestAdminKeyCrashRecovery(t *testing.T) {
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		t.Run("killed after "+step, func(t *testing.T) {
			t.Parallel()
			f := newECSFixture(t, model.SubTypePassword)
			oldKey := f.adminKey
			cmd := exec.Command(os.Args[0], "-test.run=^TestAdminKeyCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "KMSCONSOLE_ADMINKEY_CRASH_DB="+f.dbPath, "KMSCONSOLE_ADMINKEY_CRASH_AFTER="+step)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v\n%s", err, out)
			}
			row, cur, pending := adminKeysOf(t, f.store, "i-web1")
			var newKey []byte
			if step == StepFinish {
				if pending != nil || row.RetiredAdminKey != pubOfKey(t, oldKey) || string(cur) == string(oldKey) {
					t.Fatalf("after a crash past the promotion: pending %v, retired %q", pending != nil, row.RetiredAdminKey)
				}
				newKey = cur
			} else {
				if pending == nil || string(cur) != string(oldKey) {
					t.Fatalf("no pending admin key after a crash at %s", step)
				}
				newKey = pending
			}
			// The next start settles it; on a shared store (PostgreSQL)
			// once the dead process's leases have expired.
			deadline := time.Now().Add(crashLeaseTTL + 30*time.Second)
			for {
				if left := f.svc.ResolveAllPendingAdminKeys(context.Background()); len(left) > 0 {
					t.Fatalf("not settled: %v", left)
				}
				row, _, _ = adminKeysOf(t, f.store, "i-web1")
				if !row.AdminKeyPending && row.RetiredAdminKey == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still unsettled after %s", crashLeaseTTL+30*time.Second)
				}
				time.Sleep(100 * time.Millisecond)
			}
			_, cur, _ = adminKeysOf(t, f.store, "i-web1")
			lines := strings.Split(strings.TrimSpace(authorizedKeys(t, f.admin)), "\n")
			if step == StepCreate {
				if string(cur) != string(oldKey) {
					t.Fatal("the host never got the new key, yet it was promoted")
				}
				mustKeyLogin(t, f.srv, f.admin, "the old admin key", oldKey)
				mustKeyRefused(t, f.srv, f.admin, "the never-added new key", newKey)
				if len(lines) != 1 || !strings.HasSuffix(lines[0], " sshdtest-admin") {
					t.Fatalf("authorized_keys:\n%s", strings.Join(lines, "\n"))
				}
			} else {
				if string(cur) != string(newKey) {
					t.Fatal("the host took the new key: the store must hold it")
				}
				mustKeyLogin(t, f.srv, f.admin, "the promoted admin key", newKey)
				mustKeyRefused(t, f.srv, f.admin, "the old admin key", oldKey)
				if len(lines) != 1 || !strings.HasPrefix(lines[0], pubOfKey(t, newKey)+" kmsconsole:admin-key@i-web1:") {
					t.Fatalf("authorized_keys:\n%s", strings.Join(lines, "\n"))
				}
			}
			text := auditText(adminKeyAudit(t, f.svc, "i-web1"))
			if step != StepFinish && !strings.Contains(text, "ResolvePendingAdminKey Success") {
				t.Errorf("the settlement is not audited:\n%s", text)
			}
			if _, err := f.svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.secret}); err != nil {
				t.Fatalf("a user rotation after settling: %v", err)
			}
			_, user := f.at(model.StageCurrent)
			f.mustLogin("the rotated user password", user)
		})
	}
}

// An admin key rotation waits for the rotations of the instance's secrets
// under way (in any process: the leases), and a secret does not rotate
// while the admin key of its instance does.
func TestAdminKeyRotationNeverBesideASecretRotation(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	// Another process stands for a secret rotation under way.
	other, err := db.Open(f.dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc2 := New(other, Options{Actor: Actor{Name: "other", Role: model.RoleAdmin}})
	defer svc2.Close()
	held, err := svc2.acquireRotationLease(ctx, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var resp *RotateAdminKeyResponse
	var rerr error
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, rerr = f.svc.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: "i-web1", Progress: func(s string) {
			if s == StepCreate {
				close(started)
			}
		}})
	}()
	select {
	case <-started:
		t.Fatal("the admin key rotation started while a secret of the instance rotates")
	case <-time.After(1500 * time.Millisecond):
	}
	if _, _, pending := adminKeysOf(t, f.store, "i-web1"); pending != nil {
		t.Fatal("a pending admin key while the secret rotates")
	}
	held.release()
	wg.Wait()
	if rerr != nil {
		t.Fatalf("the admin key rotation after the secret's: %v", rerr)
	}

	// The other way: while another process holds the admin key lease
	// (before it has taken the secrets' leases), a secret rotation refuses.
	l, err := svc2.acquireLease(ctx, adminKeyLease("i-web1"), svc2.leaseTTL(), func() error { return errors.New("busy") })
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret})
	if !model.IsCode(err, model.CodeResourceInUse) || !strings.Contains(err.Error(), "admin key of instance i-web1") {
		t.Fatalf("a secret rotation beside an admin key rotation: %v", err)
	}
	if _, err := f.svc.RotateAdminKey(ctx, RotateAdminKeyRequest{InstanceId: "i-web1"}); !model.IsCode(err, model.CodeResourceInUse) {
		t.Fatalf("two admin key rotations of one instance at once: %v", err)
	}
	if err := f.svc.RemoveInstance(ctx, "i-web1"); !model.IsCode(err, model.CodeResourceInUse) {
		t.Fatalf("removing an instance whose admin key rotates: %v", err)
	}
	l.release()
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
		t.Fatalf("the secret rotation once the admin key's is done: %v", err)
	}
	_, cur, _ := adminKeysOf(t, f.store, "i-web1")
	mustKeyLogin(t, f.srv, f.admin, "the admin key", cur)
	if resp.Fingerprint != fingerprintOfKey(t, cur) {
		t.Fatal("the admin key is not the rotated one")
	}
}

// A period makes the scheduler rotate the admin key once it has passed
// since the last rotation, and not before; bad periods are refused.
func TestAdminKeyPeriod(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	for _, bad := range []string{"", "30", "30x", "1h", "9000h", "-1d", "none please"} {
		before, _ := f.store.Dump()
		_, err := f.svc.SetAdminKeyPeriod(ctx, "i-web1", bad)
		if err == nil || !strings.Contains(err.Error(), "Period") {
			t.Errorf("period %q: %v", bad, err)
		}
		if after, _ := f.store.Dump(); after != before {
			t.Errorf("period %q changed the store", bad)
		}
	}
	if _, err := f.svc.SetAdminKeyPeriod(ctx, "i-nowhere", "30d"); !model.IsCode(err, model.CodeNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
	v, err := f.svc.SetAdminKeyPeriod(ctx, "i-web1", "6h")
	if err != nil || v.AdminKeyPeriod != "6h" || v.NextAdminKeyRotation == "" {
		t.Fatalf("set the period: %+v %v", v, err)
	}
	if got := f.svc.RotateDueAdminKeys(ctx); len(got) != 0 {
		t.Fatalf("rotated before the period passed: %+v", got)
	}
	later := New(f.store, Options{Actor: Actor{Name: "scheduler", Role: model.RoleAdmin}, Now: func() time.Time { return time.Now().Add(7 * time.Hour) }})
	defer later.Close()
	got := later.RotateDueAdminKeys(ctx)
	if len(got) != 1 || got[0].InstanceId != "i-web1" || got[0].Err != nil {
		t.Fatalf("once the period passed: %+v", got)
	}
	_, cur, _ := adminKeysOf(t, f.store, "i-web1")
	if got[0].Fingerprint != fingerprintOfKey(t, cur) {
		t.Fatal("the scheduler's key is not the instance's")
	}
	mustKeyLogin(t, f.srv, f.admin, "the scheduled admin key", cur)
	mustKeyRefused(t, f.srv, f.admin, "the admin key before the scheduled rotation", f.adminKey)
	if again := later.RotateDueAdminKeys(ctx); len(again) != 0 {
		t.Fatalf("rotated twice in one period: %+v", again)
	}
	if v, err := f.svc.SetAdminKeyPeriod(ctx, "i-web1", "none"); err != nil || v.AdminKeyPeriod != "" || v.NextAdminKeyRotation != "" {
		t.Fatalf("period none: %+v %v", v, err)
	}
	never := New(f.store, Options{Now: func() time.Time { return time.Now().Add(9000 * time.Hour) }})
	defer never.Close()
	if got := never.RotateDueAdminKeys(ctx); len(got) != 0 {
		t.Fatalf("rotated without a period: %+v", got)
	}
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
		t.Fatalf("a user rotation after the scheduled admin key rotation: %v", err)
	}
}
