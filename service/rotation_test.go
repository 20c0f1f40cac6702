package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// ecsFixture is one real sshd with an admin, a managed user and an ECS
// secret for that user in a real store.
type ecsFixture struct {
	t        *testing.T
	srv      *sshdtest.Server
	store    *db.Store
	dbPath   string
	svc      *Service
	admin    string
	adminKey []byte
	user     string
	secret   string
}

func newECSFixture(t *testing.T, subType string) *ecsFixture {
	t.Helper()
	sshdtest.Require(t)
	f := &ecsFixture{t: t, srv: sshdtest.Start(t, sshdtest.Options{})}
	f.admin, f.adminKey = sshdtest.CreateAdmin(t)
	f.dbPath = dbtest.Locator(t)
	var err error
	if f.store, err = db.Open(f.dbPath, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.svc = New(f.store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}})
	t.Cleanup(f.svc.Close)
	ctx := context.Background()
	if _, err := f.svc.AddInstance(ctx, AddInstanceRequest{InstanceId: "i-web1", RegionId: DefaultRegion, Host: f.srv.Host, Port: f.srv.Port,
		AdminUser: f.admin, AdminKey: f.adminKey, HostKey: f.srv.HostKey}); err != nil {
		t.Fatalf("add instance: %v", err)
	}
	var data model.ECSData
	if subType == model.SubTypePassword {
		pw, _ := model.RandomPassword(model.DefaultPasswordOptions())
		f.user = sshdtest.CreateUser(t, "pw", pw)
		data = model.ECSData{UserName: f.user, Password: pw}
	} else {
		f.user = sshdtest.CreateUser(t, "key", "")
		pub, priv, err := model.NewRSAKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		sshdtest.WriteAuthorizedKeys(t, f.user, pub+" operator-installed")
		data = model.ECSData{UserName: f.user, PublicKey: pub, PrivateKey: priv}
	}
	f.secret = "acs/ecs/web1/" + f.user
	cfg := model.ECSConfig{SecretSubType: subType, InstanceId: "i-web1", RegionId: DefaultRegion}
	resp, err := f.svc.CreateSecret(ctx, CreateSecretRequest{SecretName: f.secret, SecretType: "ECS", ExtendedConfig: cfg.JSON(), SecretData: data.JSON(), VersionId: "v0"})
	if err != nil {
		t.Fatalf("create ECS secret: %v", err)
	}
	if resp.Warning != "" {
		t.Fatalf("the initial credential logs in, yet: %s", resp.Warning)
	}
	return f
}

// current returns the ECS data at a stage.
func (f *ecsFixture) at(stage string) (string, model.ECSData) {
	f.t.Helper()
	r, err := f.svc.GetSecretValue(context.Background(), GetSecretValueRequest{SecretName: f.secret, VersionStage: stage})
	if err != nil {
		f.t.Fatalf("read %s: %v", stage, err)
	}
	var d model.ECSData
	json.Unmarshal([]byte(r.SecretData), &d)
	return r.VersionId, d
}

func (f *ecsFixture) login(d model.ECSData) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if d.PrivateKey != "" {
		return ecs.VerifyKey(ctx, f.srv.Host, f.srv.Port, f.srv.HostKey, d.UserName, []byte(d.PrivateKey))
	}
	return ecs.VerifyPassword(ctx, f.srv.Host, f.srv.Port, f.srv.HostKey, d.UserName, d.Password)
}

func (f *ecsFixture) mustLogin(what string, d model.ECSData) {
	f.t.Helper()
	if err := f.login(d); err != nil {
		f.t.Fatalf("%s does not log in: %v", what, err)
	}
}

func (f *ecsFixture) mustBeRefused(what string, d model.ECSData) {
	f.t.Helper()
	if err := f.login(d); !errors.Is(err, ecs.ErrAuthFailed) {
		f.t.Fatalf("%s must be refused, got %v", what, err)
	}
}

func (f *ecsFixture) describe() *DescribeSecretResponse {
	d, err := f.svc.DescribeSecret(context.Background(), SecretNameRequest{SecretName: f.secret})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// noLeak fails if a value shows up in sshd's verbose log, the audit log or
// any of the texts given.
func (f *ecsFixture) noLeak(values []string, texts ...string) {
	f.t.Helper()
	events, _ := f.svc.Audit(context.Background(), 0, "")
	b, _ := json.Marshal(events)
	all := append([]string{f.srv.Log(), string(b)}, texts...)
	for _, v := range values {
		for i, text := range all {
			if v != "" && strings.Contains(text, v) {
				f.t.Errorf("a credential leaked into text #%d (0 = sshd log, 1 = audit)", i)
			}
		}
	}
}

func TestRotatePassword(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	oldId, old := f.at(model.StageCurrent)
	var steps []string
	resp, err := f.svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.secret, Progress: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if strings.Join(steps, ",") != "create,set,test,finish" {
		t.Errorf("steps %v", steps)
	}
	newId, cur := f.at(model.StageCurrent)
	if newId != resp.VersionId || newId == oldId {
		t.Fatalf("ACSCurrent %s, rotation made %s", newId, resp.VersionId)
	}
	if len(cur.Password) != 32 || cur.UserName != f.user {
		t.Fatalf("generated password has %d chars", len(cur.Password))
	}
	for _, class := range []string{model.Lowercase, model.Uppercase, model.Digits, model.Punctuation} {
		if !strings.ContainsAny(cur.Password, class) {
			t.Errorf("generated password lacks a class")
		}
	}
	if prevId, _ := f.at(model.StagePrevious); prevId != oldId {
		t.Errorf("ACSPrevious %s, want %s", prevId, oldId)
	}
	f.mustLogin("the new password", cur)
	f.mustBeRefused("the old password", old)
	d := f.describe()
	if d.LastRotationDate == "" || d.AutomaticRotation != model.RotationDisabled {
		t.Errorf("after rotation: last %q status %s", d.LastRotationDate, d.AutomaticRotation)
	}
	f.noLeak([]string{cur.Password, old.Password})
}

// A key-pair rotation kills the previous key: every line holding it goes,
// the operator's initial key included, whoever added it; lines holding any
// other key stay, through every rotation.
func TestRotateKeyPair(t *testing.T) {
	t.Parallel()
	f := newECSFixture(t, model.SubTypeSSHKey)
	_, initial := f.at(model.StageCurrent)
	ctx := context.Background()
	unrelatedPub, unrelatedPriv := sshdtest.GenerateKey(t, "ed25519")
	unrelated := unrelatedPub + " someone@laptop"
	sshdtest.WriteAuthorizedKeys(t, f.user,
		initial.PublicKey+" operator-installed",
		unrelated,
		`from="127.0.0.1",no-pty `+initial.PublicKey+" same key, with options",
	)
	unrelatedData := model.ECSData{UserName: f.user, PrivateKey: string(unrelatedPriv)}

	prev := initial
	wantRemoved := 2 // the initial key's two lines
	for round := 1; round <= 3; round++ {
		resp, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret})
		if err != nil {
			t.Fatalf("rotation %d: %v", round, err)
		}
		if resp.RemovedKeyLines == nil || *resp.RemovedKeyLines != wantRemoved || resp.Warning != "" {
			t.Fatalf("rotation %d: RemovedKeyLines %v (want %d), warning %q", round, resp.RemovedKeyLines, wantRemoved, resp.Warning)
		}
		wantRemoved = 1
		_, cur := f.at(model.StageCurrent)
		f.mustLogin(fmt.Sprintf("the key of rotation %d", round), cur)
		f.mustBeRefused(fmt.Sprintf("the previous key after rotation %d", round), prev)
		f.mustBeRefused(fmt.Sprintf("the initial key after rotation %d", round), initial)
		f.mustLogin(fmt.Sprintf("the unrelated key after rotation %d", round), unrelatedData)
		lines := strings.Split(strings.TrimSpace(authorizedKeys(t, f.user)), "\n")
		if len(lines) != 2 || lines[0] != unrelated || !strings.HasSuffix(lines[1], ecs.KeyTag(f.secret, resp.VersionId)) {
			t.Fatalf("after rotation %d authorized_keys is:\n%s", round, strings.Join(lines, "\n"))
		}
		prev = cur
	}
	home := "/home/" + f.user
	fi, err := os.Stat(home + "/.ssh/authorized_keys")
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid == 0 {
		t.Fatalf("authorized_keys mode/owner wrong: %v %v", fi.Mode(), err)
	}
	f.noLeak([]string{prev.PrivateKey[40:120], initial.PrivateKey[40:120]})
}

// Two secrets on two users of one host: rotating one never touches the
// other's lines, even when the other user's file holds the same key.
func TestKeyRotationsOfTwoUsersStayApart(t *testing.T) {
	t.Parallel()
	f := newECSFixture(t, model.SubTypeSSHKey)
	ctx := context.Background()
	_, initial := f.at(model.StageCurrent)
	// A second user of the same host, whose file also holds the first
	// secret's initial key (an operator's key, installed everywhere).
	user2 := sshdtest.CreateUser(t, "key2", "")
	pub2, priv2, err := model.NewRSAKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	sshdtest.WriteAuthorizedKeys(t, user2, pub2+" initial-2", initial.PublicKey+" operator-everywhere")
	secret2 := "acs/ecs/web1/" + user2
	cfg := model.ECSConfig{SecretSubType: model.SubTypeSSHKey, InstanceId: "i-web1", RegionId: DefaultRegion}
	if _, err := f.svc.CreateSecret(ctx, CreateSecretRequest{SecretName: secret2, SecretType: "ECS", ExtendedConfig: cfg.JSON(),
		SecretData: model.ECSData{UserName: user2, PublicKey: pub2, PrivateKey: priv2}.JSON(), VersionId: "v0"}); err != nil {
		t.Fatal(err)
	}
	before2 := authorizedKeys(t, user2)
	for i := 0; i < 2; i++ {
		if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret}); err != nil {
			t.Fatal(err)
		}
	}
	if got := authorizedKeys(t, user2); got != before2 {
		t.Fatalf("rotating %s changed %s's authorized_keys:\n%s\n->\n%s", f.secret, user2, before2, got)
	}
	f.mustLogin("the first secret's initial key as the second user", model.ECSData{UserName: user2, PrivateKey: initial.PrivateKey})
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: secret2}); err != nil {
		t.Fatal(err)
	}
	lines1 := strings.Split(strings.TrimSpace(authorizedKeys(t, f.user)), "\n")
	if len(lines1) != 1 || !strings.Contains(lines1[0], ecs.KeyTag(f.secret, "")) {
		t.Fatalf("rotating %s changed %s's authorized_keys: %q", secret2, f.user, lines1)
	}
	lines2 := strings.Split(strings.TrimSpace(authorizedKeys(t, user2)), "\n")
	if len(lines2) != 2 || lines2[0] != initial.PublicKey+" operator-everywhere" || !strings.Contains(lines2[1], ecs.KeyTag(secret2, "")) {
		t.Fatalf("%s's authorized_keys after its rotation: %q", user2, lines2)
	}
}

func TestRotateCustomValueAndRepeatVersionId(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	custom := "Custom-Value-9d1e!" + fmt.Sprint(time.Now().UnixNano()%1000)
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret, VersionId: "r1", SecretData: custom}); err != nil {
		t.Fatalf("custom rotation: %v", err)
	}
	id, cur := f.at(model.StageCurrent)
	if id != "r1" || cur.Password != custom {
		t.Fatalf("custom value not current (id %s)", id)
	}
	f.mustLogin("the custom password", cur)
	before, _ := f.store.Dump()
	// The same VersionId again is a no-op success: nothing on the host
	// or in the store changes, even with another value.
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret, VersionId: "r1", SecretData: "Another-Value-1!"}); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	after, _ := f.store.Dump()
	if before != after {
		t.Fatal("a repeated VersionId changed the store")
	}
	f.mustLogin("the custom password after the repeat", cur)
	f.noLeak([]string{custom})
}

// Each fault leaves the old credential working, ACSCurrent unchanged, the
// secret marked Invalid with a reason, and no pending version behind.
func TestRotationFaults(t *testing.T) {
	faults := []struct {
		name   string
		break_ func(f *ecsFixture)
		mend   func(f *ecsFixture)
		want   string // in the failure reason
	}{
		{"host down", func(f *ecsFixture) { f.srv.Stop() }, func(f *ecsFixture) { f.srv.Restart(f.t, sshdtest.Options{}) }, "unreachable"},
		{"wrong admin key", func(f *ecsFixture) {
			pub, _ := sshdtest.GenerateKey(f.t, "ed25519")
			sshdtest.WriteAuthorizedKeys(f.t, f.admin, pub)
			// An open management connection outlives a key change (as
			// an ssh ControlMaster would); a new process dials afresh.
			f.svc.ecs.forget("i-web1")
		}, nil, "management login"},
		{"sudo revoked", func(f *ecsFixture) { sshdtest.RevokeSudo(f.t, f.admin) }, nil, "sudo"},
		{"host key changed", func(f *ecsFixture) { f.srv.RotateHostKey(f.t) }, nil, "host key"},
		{"password authentication disabled", func(f *ecsFixture) { f.srv.Restart(f.t, sshdtest.Options{DisablePassword: true}) },
			func(f *ecsFixture) { f.srv.Restart(f.t, sshdtest.Options{}) }, "refused"},
		{"managed user deleted", func(f *ecsFixture) {
			if out, err := exec.Command("userdel", "-r", "-f", f.user).CombinedOutput(); err != nil {
				f.t.Fatalf("userdel: %v %s", err, out)
			}
		}, nil, "does not exist"},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			t.Parallel()
			f := newECSFixture(t, model.SubTypePassword)
			oldId, old := f.at(model.StageCurrent)
			dumpBefore := versionsOf(t, f)
			fault.break_(f)
			_, err := f.svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.secret})
			if !model.IsCode(err, model.CodeRotationFailed) {
				t.Fatalf("got %v, want Rejected.RotationFailed", err)
			}
			if !strings.Contains(err.Error(), fault.want) {
				t.Errorf("error %q does not say %q", err, fault.want)
			}
			if id, _ := f.at(model.StageCurrent); id != oldId {
				t.Fatalf("ACSCurrent moved to %s", id)
			}
			if got := versionsOf(t, f); got != dumpBefore {
				t.Errorf("versions changed: %s -> %s", dumpBefore, got)
			}
			d := f.describe()
			// A manual rotation of a secret that never rotated automatically:
			// the failure shows apart from the policy, which stays Disabled.
			if d.AutomaticRotation != model.RotationDisabled || !strings.Contains(d.RotationFailureReason, fault.want) {
				t.Errorf("status %s reason %q", d.AutomaticRotation, d.RotationFailureReason)
			}
			if failures := failureEvents(t, f.svc); len(failures) != 1 || failures[0].SecretName != f.secret || failures[0].Reason == "" {
				t.Errorf("failure events %+v", failures)
			}
			if fault.name == "host key changed" {
				fp, _ := ecs.Fingerprint(f.srv.HostKey)
				if !strings.Contains(err.Error(), fp) || strings.Count(err.Error(), "SHA256:") < 2 {
					t.Errorf("host key error must show both fingerprints: %s", err)
				}
				return
			}
			if fault.name == "managed user deleted" {
				return
			}
			if fault.mend != nil {
				fault.mend(f)
			}
			f.mustLogin("the old password after "+fault.name, old)
			f.noLeak([]string{old.Password}, err.Error())
		})
	}
}

func versionsOf(t *testing.T, f *ecsFixture) string {
	v, err := f.svc.Versions(context.Background(), f.secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRotationsOfOneSecretNeverOverlap(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	// A second handle on the same store stands for another process.
	other, err := db.Open(f.dbPath, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc2 := New(other, Options{Actor: Actor{Name: "other", Role: model.RoleAdmin}})
	defer svc2.Close()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f.svc
			if i%2 == 1 {
				s = svc2
			}
			_, errs[i] = s.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.secret})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case model.IsCode(err, model.CodeResourceInUse):
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok < 1 {
		t.Fatal("no rotation succeeded")
	}
	_, cur := f.at(model.StageCurrent)
	f.mustLogin("ACSCurrent after concurrent rotations", cur)
	events, _ := f.svc.Audit(context.Background(), 0, "RotateSecret")
	success := 0
	for _, e := range events {
		if e.Result == "Success" {
			success++
		}
	}
	if success != ok {
		t.Errorf("%d successful rotations audited, %d returned", success, ok)
	}
}

func TestRotationRateLimit(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	now := time.Now()
	f.store.Write(context.Background(), func(tx *db.Tx) error {
		for i := 0; i < 50; i++ {
			if err := tx.RecordRotation(f.secret, now.Add(-time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := f.svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: f.secret})
	if !model.IsCode(err, model.CodeThrottling) {
		t.Fatalf("51st rotation in an hour: %v", err)
	}
	if err.(*model.APIError).HttpStatus != 429 {
		t.Fatal("status")
	}
}

// TestRotationCrashChild is the body of the process the crash test kills;
// it does nothing unless started by TestCrashRecovery.
func TestRotationCrashChild(t *testing.T) {
	path, step := os.Getenv("KMSCONSOLE_CRASH_DB"), os.Getenv("KMSCONSOLE_CRASH_AFTER")
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
		// Across machines a dead holder's lease is waited out (no process
		// ids): a short one, so the test does not wait a minute.
		opts.LeaseTTL = crashLeaseTTL
	}
	svc := New(store, opts)
	svc.RotateSecret(context.Background(), RotateSecretRequest{SecretName: os.Getenv("KMSCONSOLE_CRASH_SECRET")})
	t.Fatal("the process should have been killed")
}

// crashLeaseTTL is the rotation lease of the process TestCrashRecovery
// kills, on a shared store.
const crashLeaseTTL = 2 * time.Second

func TestCrashRecovery(t *testing.T) {
	for _, step := range []string{StepCreate, StepSet, StepTest} {
		t.Run("killed after "+step, func(t *testing.T) {
			t.Parallel()
			f := newECSFixture(t, model.SubTypePassword)
			oldId, old := f.at(model.StageCurrent)
			cmd := exec.Command(os.Args[0], "-test.run=^TestRotationCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "KMSCONSOLE_CRASH_DB="+f.dbPath, "KMSCONSOLE_CRASH_AFTER="+step, "KMSCONSOLE_CRASH_SECRET="+f.secret)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v\n%s", err, out)
			}
			// The store holds the pending version the dead process left.
			var pending model.ECSData
			f.store.Read(context.Background(), func(tx *db.Tx) error {
				sec, _ := tx.SecretByName(f.secret)
				labels, _ := tx.Labels(sec.ID)
				if labels[model.StagePending] == "" {
					t.Fatalf("no pending version after a crash at %s", step)
				}
				v, err := tx.Version(sec, labels[model.StagePending])
				if err != nil {
					t.Fatal(err)
				}
				json.Unmarshal([]byte(v.Data), &pending)
				return nil
			})
			// A later command that touches the secret settles it; on a
			// shared store (PostgreSQL) once the dead process's rotation
			// lease has expired, as another replica would.
			if f.store.Shared() {
				deadline := time.Now().Add(crashLeaseTTL + 30*time.Second)
				for {
					var holder string
					if err := f.store.Read(context.Background(), func(tx *db.Tx) (err error) {
						holder, err = tx.LeaseHolder(rotationLease(f.secret), time.Now())
						return err
					}); err != nil {
						t.Fatal(err)
					}
					if holder == "" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the dead process's rotation lease (%s) has not expired after %s", crashLeaseTTL, crashLeaseTTL+30*time.Second)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			curId, cur := f.at(model.StageCurrent)
			versions := versionsOf(t, f)
			if strings.Contains(versions, model.StagePending) {
				t.Fatalf("pending left after the next command: %s", versions)
			}
			if step == StepCreate {
				if curId != oldId {
					t.Fatalf("the host was never changed, yet ACSCurrent moved to %s", curId)
				}
				f.mustLogin("the old password", old)
				f.mustBeRefused("the never-applied pending password", pending)
			} else {
				if cur.Password != pending.Password {
					t.Fatalf("the host took the new password, the store must promote it")
				}
				if prevId, _ := f.at(model.StagePrevious); prevId != oldId {
					t.Fatalf("ACSPrevious %s, want %s", prevId, oldId)
				}
				f.mustLogin("the promoted password", cur)
				f.mustBeRefused("the old password", old)
			}
		})
	}
}

// A custom password has 8–128 characters and no control character; a
// value is the ECS JSON only when it is a JSON object with the ECS fields,
// so a password starting with "{" is a password.
func TestCustomPasswordRules(t *testing.T) {
	t.Parallel()
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	_, old := f.at(model.StageCurrent)
	before := versionsOf(t, f)
	for _, bad := range []string{"x", "Short-1", "Abcdefgh\x1b]52;c;ZWNobw==\x07", strings.Repeat("A", 129)} {
		_, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret, SecretData: bad})
		if !model.IsCode(err, model.CodeInvalidParameter) {
			t.Fatalf("custom password of %d bytes: got %v, want InvalidParameter", len(bad), err)
		}
		if strings.Contains(err.Error(), bad) {
			t.Fatal("the error quotes the value")
		}
	}
	if got := versionsOf(t, f); got != before {
		t.Fatalf("refused custom values changed the versions: %s -> %s", before, got)
	}
	f.mustLogin("the password after refused custom values", old)
	brace := "{Brace-First-" + fmt.Sprint(time.Now().UnixNano()%100000)
	if _, err := f.svc.RotateSecret(ctx, RotateSecretRequest{SecretName: f.secret, SecretData: brace}); err != nil {
		t.Fatalf("a password starting with '{': %v", err)
	}
	_, cur := f.at(model.StageCurrent)
	if cur.Password != brace {
		t.Fatal("the brace password is not ACSCurrent")
	}
	f.mustLogin("the brace password", cur)
	f.noLeak([]string{brace})
}
