package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/service"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(dst, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Master key rotation through the real binary (SPEC §10). Each test has a
// key file of its own: on PostgreSQL the run's stores otherwise share one.

// buildKMS builds the binary into a temporary directory.
func buildKMS(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kmsconsole")
	if out, err := exec.Command("go", "build", "-o", bin, "kmsconsole").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// kmsCmd is the binary on the test's store and key, region cn-hangzhou.
func kmsCmd(bin, loc, key string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KMSCONSOLE_DB="+loc, "KMSCONSOLE_MASTER_KEY_FILE="+key, "KMSCONSOLE_REGION=cn-hangzhou")
	return cmd
}

func keyStatus(t *testing.T, bin, loc, key string) db.KeyState {
	t.Helper()
	out, err := kmsCmd(bin, loc, key, "masterkey", "status").Output()
	if err != nil {
		t.Fatalf("masterkey status: %v", err)
	}
	var st db.KeyState
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("masterkey status: %v: %s", err, out)
	}
	return st
}

// genericValues creates n generic secrets through svc and returns their
// values by name.
func genericValues(t *testing.T, svc *service.Service, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := 0; i < n; i++ {
		name, value := fmt.Sprintf("app/k%03d", i), fmt.Sprintf("generic-value-%03d", i)
		if _, err := svc.CreateSecret(context.Background(), service.CreateSecretRequest{SecretName: name, SecretData: value, VersionId: "v1"}); err != nil {
			t.Fatal(err)
		}
		want[name] = value
	}
	return want
}

// checkValues reads every value through a store opened afresh on the key.
func checkValues(t *testing.T, loc, key string, want map[string]string) {
	t.Helper()
	store, err := db.Open(loc, key)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer store.Close()
	for name, value := range want {
		r, err := store.ReadSecret(context.Background(), name, "", "ACSCurrent")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r == nil || r.Version == nil || r.Version.Data != value {
			t.Fatalf("%s reads back otherwise", name)
		}
	}
}

// TestMasterKeyRotateFleet: 200 generic secrets, 20 ECS secrets on 5
// instances (real sshd hosts). After `kmsconsole masterkey rotate` every
// value reads back (in the process that was open all along too), a
// rotation works on every instance, and the old key file alone opens
// nothing, old rows or new.
func TestMasterKeyRotateFleet(t *testing.T) {
	bin := make(chan string, 1)
	go func() { bin <- buildKMS(t) }()
	key := filepath.Join(t.TempDir(), "master.key")
	f := newRotFleetKey(t, 5, 20, key)
	want := genericValues(t, f.svc, 200)
	for _, s := range f.secrets {
		want[s.name] = ""
	}
	ctx := context.Background()
	for name := range want {
		v, err := f.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: name})
		if err != nil {
			t.Fatal(err)
		}
		want[name] = v.SecretData
	}
	oldKey := filepath.Join(t.TempDir(), "old.key")
	copyFile(t, key, oldKey)
	kms := <-bin
	before := keyStatus(t, kms, f.db, key)

	out, err := kmsCmd(kms, f.db, key, "masterkey", "rotate", "--batch", "25").Output()
	if err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("masterkey rotate: %v %s", err, ee.Stderr)
	}
	var rot service.MasterKeyRotation
	if err := json.Unmarshal(out, &rot); err != nil {
		t.Fatal(err)
	}
	// 220 secrets: 200 with one version and one label, 20 with the same,
	// plus 5 instances.
	if rot.FromKeyId != before.KeyId || rot.ToKeyId == rot.FromKeyId || rot.Moved != 220*2+5 || rot.Resumed {
		t.Fatalf("rotation %+v (before: key %s)", rot, before.KeyId)
	}
	audit, err := kmsCmd(kms, f.db, key, "audit", "--filter", "RotateMasterKey").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), `"Result":"Started"`) || !strings.Contains(string(audit), `"Result":"Success"`) ||
		!strings.Contains(string(audit), rot.RequestId) || !strings.Contains(string(audit), "to key "+rot.ToKeyId) {
		t.Fatalf("the audit log does not record the rotation: %s", audit)
	}
	after := keyStatus(t, kms, f.db, key)
	if after.KeyId != rot.ToKeyId || after.Remaining != 0 || after.NextKeyPath != "" || len(after.Keys) != 1 || after.Keys[0].Rows != 220*2+5 {
		t.Fatalf("status after: %+v", after)
	}
	checkValues(t, f.db, key, want)
	// The service open all along follows the rotation without a restart.
	for _, s := range f.secrets {
		v, err := f.svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: s.name})
		if err != nil || v.SecretData != want[s.name] {
			t.Fatalf("%s through the service open before the rotation: %v", s.name, err)
		}
	}
	// A rotation on every instance, then every host takes the store's
	// ACSCurrent.
	for h := range f.hosts {
		for _, s := range f.secrets {
			if s.host != h {
				continue
			}
			if _, err := f.svc.RotateSecret(ctx, service.RotateSecretRequest{SecretName: s.name}); err != nil {
				t.Fatalf("rotate %s after the master key rotation: %v", s.name, err)
			}
			break
		}
	}
	f.hostsAcceptCurrent(t)
	if st := keyStatus(t, kms, f.db, key); st.Remaining != 0 || len(st.Keys) != 1 {
		t.Fatalf("status after the secret rotations: %+v", st)
	}

	// The old key alone: every read is refused, saying the key was rotated.
	cmd := kmsCmd(kms, f.db, oldKey, "kms", "GetSecretValue", "--SecretName", f.secrets[0].name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err == nil || strings.Contains(string(out), "Password") {
		t.Fatalf("the old key read a value: %v", err)
	}
	if !strings.Contains(stderr.String(), "rotated") {
		t.Fatalf("the old key's refusal does not say why: %s", stderr.String())
	}
}

// keyRotateRun is a running `kmsconsole masterkey rotate`, its progress
// lines read as they come.
type keyRotateRun struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
}

func startKeyRotate(t *testing.T, bin, loc, key string, batch int) *keyRotateRun {
	t.Helper()
	r := &keyRotateRun{lines: make(chan string, 1000), done: make(chan struct{})}
	r.cmd = kmsCmd(bin, loc, key, "masterkey", "rotate", "--batch", fmt.Sprint(batch))
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		defer close(r.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	return r
}

// TestMasterKeyRotateKill9: `kmsconsole masterkey rotate` killed with
// SIGKILL at 10 points spread over the run (the first before anything
// moved), run again each time: at every point every value reads, from a
// fresh process and from one open all along; the last run finishes the
// rotation begun by the first, and the store is wholly under the new key.
func TestMasterKeyRotateKill9(t *testing.T) {
	bin := make(chan string, 1)
	go func() { bin <- buildKMS(t) }()
	loc := dbtest.Locator(t)
	key := filepath.Join(t.TempDir(), "master.key")
	store, err := db.Open(loc, key)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Region: "cn-hangzhou"})
	defer svc.Close()
	want := genericValues(t, svc, 200)
	ctx := context.Background()
	// A second version for half of them: more rows, and ACSPrevious.
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("app/k%03d", i)
		value := fmt.Sprintf("second-value-%03d", i)
		if _, err := svc.PutSecretValue(ctx, service.PutSecretValueRequest{SecretName: name, SecretData: value, VersionId: "v2"}); err != nil {
			t.Fatal(err)
		}
		want[name] = value
	}
	kms := <-bin
	total := 300 * 2 // versions and labels (ACSCurrent, and ACSPrevious for half)
	if st := keyStatus(t, kms, loc, key); st.Keys[0].Rows != total {
		t.Fatalf("before: %+v", st)
	}
	first := ""
	const kills = 10
	left := total
	for k := 0; k < kills; k++ {
		// Each run is killed after about its share of the rows left, so
		// the kills spread over the run however far a kill overshoots.
		step := left / (kills - k + 1)
		run := startKeyRotate(t, kms, loc, key, 2)
		// Kill 0 comes as soon as the process is up; kill k once this run
		// has moved about step rows.
		if k > 0 {
			deadline := time.After(2 * time.Minute)
		wait:
			for {
				select {
				case line, ok := <-run.lines:
					if !ok {
						t.Fatalf("kill %d: the rotation ended before it was killed", k)
					}
					var n int
					if _, err := fmt.Sscanf(line, "sealed again: %d row(s)", &n); err == nil && n >= step {
						break wait
					}
				case <-deadline:
					t.Fatalf("kill %d: no progress within two minutes", k)
				}
			}
		}
		run.cmd.Process.Signal(syscall.SIGKILL)
		run.cmd.Wait()
		for range run.lines {
		}
		<-run.done
		checkValues(t, loc, key, want)
		for name, value := range want {
			v, err := svc.GetSecretValue(ctx, service.GetSecretValueRequest{SecretName: name})
			if err != nil || v.SecretData != value {
				t.Fatalf("kill %d: %s through the process open all along: %v", k, name, err)
			}
		}
		st := keyStatus(t, kms, loc, key)
		switch {
		case first == "":
			first = st.NextKeyId
		case st.NextKeyId != first:
			t.Fatalf("kill %d: the rotation's key changed: %+v (first %s)", k, st, first)
		}
		if st.NextKeyId != "" {
			left = st.Remaining
		}
		if k > 0 && st.NextKeyId == "" {
			t.Fatalf("kill %d: no rotation under way: %+v", k, st)
		}
		t.Logf("kill %d: %d rows left under the old key", k, st.Remaining)
	}
	out, err := kmsCmd(kms, loc, key, "masterkey", "rotate").Output()
	if err != nil {
		t.Fatalf("the last run: %v", err)
	}
	var rot service.MasterKeyRotation
	if err := json.Unmarshal(out, &rot); err != nil {
		t.Fatal(err)
	}
	if !rot.Resumed || (first != "" && rot.ToKeyId != first) {
		t.Fatalf("the last run did not finish the first one's rotation: %+v (first %s)", rot, first)
	}
	st := keyStatus(t, kms, loc, key)
	if st.KeyId != rot.ToKeyId || st.Remaining != 0 || st.NextKeyPath != "" || len(st.Keys) != 1 || st.Keys[0].Rows != total {
		t.Fatalf("after: %+v", st)
	}
	checkValues(t, loc, key, want)
}
