package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

// adminFleet is n sshd hosts, each an instance with an admin of its own
// (the hosts share /etc/passwd: one admin per host, or rotating one host's
// key would take it from the others) and one password secret.
type adminFleet struct {
	db     string
	svc    *service.Service
	store  *db.Store
	hosts  []*sshdtest.Server
	admins []string
	keys   [][]byte // the admin keys as registered
}

func adminInstance(h int) string { return fmt.Sprintf("i-adm%d", h) }

func newAdminFleet(t *testing.T, n int) *adminFleet {
	t.Helper()
	sshdtest.Require(t)
	f := &adminFleet{db: dbtest.Locator(t)}
	passwords := make([]string, n)
	for i := range passwords {
		pw, err := model.RandomPassword(model.PasswordOptions{ExcludeCharacters: `'"\`, RequireEachIncludedType: true})
		if err != nil {
			t.Fatal(err)
		}
		passwords[i] = pw
	}
	users := sshdtest.CreateUsers(t, "adm", passwords)
	var err error
	if f.store, err = db.Open(f.db, ""); err != nil {
		t.Fatal(err)
	}
	f.svc = service.New(f.store, service.Options{Region: "cn-hangzhou"})
	t.Cleanup(func() { f.svc.Close(); f.store.Close() })
	ctx := context.Background()
	for h := 0; h < n; h++ {
		srv := sshdtest.Start(t, sshdtest.Options{})
		admin, key := sshdtest.CreateAdmin(t)
		f.hosts, f.admins, f.keys = append(f.hosts, srv), append(f.admins, admin), append(f.keys, key)
		if _, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: adminInstance(h), RegionId: "cn-hangzhou",
			Host: srv.Host, Port: srv.Port, AdminUser: admin, AdminKey: key, HostKey: srv.HostKey}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: "acs/ecs/" + adminInstance(h) + "/" + users[h], SecretType: "ECS",
			ExtendedConfig: fmt.Sprintf(`{"SecretSubType":"Password","InstanceId":%q,"RegionId":"cn-hangzhou"}`, adminInstance(h)),
			SecretData:     model.ECSData{UserName: users[h], Password: passwords[h]}.JSON()}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// adminKey is the instance's admin key as stored now.
func (f *adminFleet) adminKey(t *testing.T, h int) []byte {
	t.Helper()
	var r *db.InstanceRow
	if err := f.store.Read(context.Background(), func(tx *db.Tx) (err error) {
		r, err = tx.Instance(adminInstance(h))
		return err
	}); err != nil || r == nil {
		t.Fatal(err)
	}
	if r.AdminKeyPending || r.RetiredAdminKey != "" {
		t.Errorf("%s: a rotation was left half-way", adminInstance(h))
	}
	return r.AdminKey
}

func keyFingerprint(t *testing.T, key []byte) string {
	t.Helper()
	s, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(s.PublicKey())
}

// checkKeys: on every host the store's admin key logs in and the one
// before is refused, with the real ssh client.
func (f *adminFleet) checkKeys(t *testing.T, before [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	for h, srv := range f.hosts {
		cur := f.adminKey(t, h)
		if string(cur) == string(before[h]) {
			t.Errorf("%s: the admin key did not change", adminInstance(h))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.KeyLogin(t, f.admins[h], cur); err != nil {
				t.Errorf("%s: the new admin key does not log in: %v", adminInstance(h), err)
			}
			if err := srv.KeyLogin(t, f.admins[h], before[h]); !errors.Is(err, sshdtest.ErrLoginRefused) {
				t.Errorf("%s: the old admin key is not refused: %v", adminInstance(h), err)
			}
		}()
	}
	wg.Wait()
}

// TestRotateAdminKeyAll: `instance rotate-admin-key --all` over three
// instances, with rotate's JSON lines and then its text lines; one
// instance alone answers JSON; the user secrets still rotate afterwards.
func TestRotateAdminKeyAll(t *testing.T) {
	f := newAdminFleet(t, 3)
	before := f.keys
	out, stderr, code := run(t, f.db, "instance", "rotate-admin-key", "--all", "--json", "--parallel", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	lines, sum := rotLines(t, out)
	if len(lines) != 3 || sum.Total != 3 || sum.Succeeded != 3 || sum.Failed != 0 || sum.NotStarted != 0 || sum.Interrupted {
		t.Fatalf("%d lines, summary %+v\n%s", len(lines), sum, out)
	}
	for _, l := range lines {
		h := strings.TrimPrefix(l.InstanceId, "i-adm")
		var i int
		fmt.Sscan(h, &i)
		if l.Kind != service.FleetAdminKey || l.Result != service.FleetSuccess || l.SecretName != "" || l.VersionId != "" ||
			l.RemovedKeyLines == nil || *l.RemovedKeyLines != 1 || l.Warning != "" || l.Fingerprint != keyFingerprint(t, f.adminKey(t, i)) {
			t.Errorf("line %+v", l)
		}
	}
	f.checkKeys(t, before)

	// Text lines, as rotate prints them.
	before = [][]byte{f.adminKey(t, 0), f.adminKey(t, 1), f.adminKey(t, 2)}
	out, stderr, code = run(t, f.db, "instance", "rotate-admin-key", "--all")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	text := strings.Split(strings.TrimSpace(out), "\n")
	if len(text) != 4 || !strings.Contains(text[3], "3 admin key(s): 3 succeeded, 0 failed, 0 not started") {
		t.Fatalf("text output:\n%s", out)
	}
	for h, l := range text[:3] {
		if !strings.HasPrefix(l, "ok") || !strings.Contains(l, "admin key") || !strings.Contains(l, "new key SHA256:") || !strings.Contains(l, "1 old key line(s) removed") {
			t.Errorf("line %d: %q", h, l)
		}
	}
	f.checkKeys(t, before)

	// One instance: the action's JSON answer.
	before = [][]byte{f.adminKey(t, 0), f.adminKey(t, 1), f.adminKey(t, 2)}
	one := mustRun(t, f.db, "instance", "rotate-admin-key", "--InstanceId", adminInstance(1))
	if one["InstanceId"] != adminInstance(1) || one["Fingerprint"] != keyFingerprint(t, f.adminKey(t, 1)) ||
		one["PreviousFingerprint"] != keyFingerprint(t, before[1]) || one["OldKeyRefused"] != true || one["RemovedKeyLines"] != float64(1) {
		t.Fatalf("answer %v", one)
	}
	if string(f.adminKey(t, 0)) != string(before[0]) || string(f.adminKey(t, 2)) != string(before[2]) {
		t.Fatal("rotating one instance's admin key changed another's")
	}
	if err := f.hosts[1].KeyLogin(t, f.admins[1], before[1]); !errors.Is(err, sshdtest.ErrLoginRefused) {
		t.Fatalf("the old key of %s is not refused: %v", adminInstance(1), err)
	}

	// The user secrets still rotate, over the new management logins.
	out, stderr, code = run(t, f.db, "rotate", "--all", "--json")
	if _, sum := rotLines(t, out); code != 0 || sum.Succeeded != 3 {
		t.Fatalf("user rotations after the admin keys': exit %d\n%s\n%s", code, out, stderr)
	}
	show := mustRunPlain(t, f.db, "instance", "show", adminInstance(1))
	if show["AdminKeyFingerprint"] != keyFingerprint(t, f.adminKey(t, 1)) || show["AdminKeyRotated"] == nil {
		t.Errorf("instance show %v", show)
	}
	for h := range f.hosts {
		k := string(f.adminKey(t, h))
		b, _ := json.Marshal(show)
		for _, text := range []string{out, stderr, string(b)} {
			if strings.Contains(text, k[40:120]) || strings.Contains(text, string(before[h][40:120])) {
				t.Fatal("an admin key reached the output")
			}
		}
	}
}

// TestRotateAdminKeyBadInput: a clear, specific error for each bad line,
// and nothing changes. No host needed.
func TestRotateAdminKeyBadInput(t *testing.T) {
	p := seedBadInputStore(t)
	before := dump(t, p)
	for _, tc := range []struct {
		args []string
		code string
		text string
	}{
		{[]string{"rotate-admin-key", "--InstanceId", "i-nowhere"}, model.CodeNotFound, "The instance i-nowhere does not exist"},
		{[]string{"rotate-admin-key", "i-nowhere"}, model.CodeNotFound, "i-nowhere"},
		{[]string{"rotate-admin-key", "--InstanceId", "i-web1", "--all"}, model.CodeInvalidParameter, "give --InstanceId ID or --all, not both"},
		{[]string{"rotate-admin-key", "i-web1", "--all"}, model.CodeInvalidParameter, "not both"},
		{[]string{"rotate-admin-key", "i-web1", "--InstanceId", "i-web2"}, model.CodeInvalidParameter, "give one instance"},
		{[]string{"rotate-admin-key"}, model.CodeMissingParameter, "nothing selected: give --InstanceId ID or --all"},
		{[]string{"rotate-admin-key", "--InstanceId", ""}, model.CodeInvalidParameter, "--InstanceId needs an instance id"},
		{[]string{"rotate-admin-key", "--InstanceId", "web 1"}, model.CodeInvalidParameter, "InstanceId"},
		{[]string{"rotate-admin-key", "i-web1", "--json"}, model.CodeInvalidParameter, "go with --all"},
		{[]string{"rotate-admin-key", "--all", "--parallel", "0"}, model.CodeInvalidParameter, "--parallel must be"},
		{[]string{"rotate-admin-key", "--all", "--per-host", "2"}, model.CodeInvalidParameter, "unknown flag --per-host"},
		{[]string{"set-admin-key-period", "--InstanceId", "i-web1", "--Period", "30x"}, model.CodeInvalidParameter, `The parameter Period is invalid: must be a number followed by d, h, m or s between 6h and 8760h (e.g. 30d), or none, got "30x"`},
		{[]string{"set-admin-key-period", "--InstanceId", "i-web1", "--Period", "1h"}, model.CodeInvalidParameter, `between 6h and 8760h`},
		{[]string{"set-admin-key-period", "--InstanceId", "i-web1", "--Period", "9000h"}, model.CodeInvalidParameter, `got "9000h"`},
		{[]string{"set-admin-key-period", "--InstanceId", "i-web1", "--Period", ""}, model.CodeMissingParameter, "Period"},
		{[]string{"set-admin-key-period", "--InstanceId", "i-web1"}, model.CodeMissingParameter, "Period"},
		{[]string{"set-admin-key-period", "--Period", "30d"}, model.CodeMissingParameter, "InstanceId"},
		{[]string{"set-admin-key-period", "--InstanceId", "i-nowhere", "--Period", "30d"}, model.CodeNotFound, "i-nowhere"},
	} {
		out, stderr, code := run(t, p, append([]string{"instance"}, tc.args...)...)
		if code != 1 || out != "" {
			t.Errorf("%v: exit %d, stdout %q", tc.args, code, out)
			continue
		}
		c, msg, _ := errorOf(t, stderr)
		if c != tc.code || !strings.Contains(msg, tc.text) {
			t.Errorf("%v: %s %q, want %s containing %q", tc.args, c, msg, tc.code, tc.text)
		}
	}
	if dump(t, p) != before {
		t.Fatal("a refused command changed the store")
	}
	// A good period shows, and none takes it away.
	v := mustRunPlain(t, p, "instance", "set-admin-key-period", "i-web1", "--Period", "30d")
	if v["AdminKeyPeriod"] != "30d" || v["NextAdminKeyRotation"] == nil {
		t.Fatalf("set 30d: %v", v)
	}
	if v := mustRunPlain(t, p, "instance", "set-admin-key-period", "--InstanceId", "i-web1", "--Period", "none"); v["AdminKeyPeriod"] != nil {
		t.Fatalf("set none: %v", v)
	}
	if out, _, code := run(t, p, "instance", "rotate-admin-key", "--help"); code != 0 || !strings.Contains(out, "--all") || !strings.Contains(out, "authorized_keys") {
		t.Errorf("rotate-admin-key --help: exit %d %q", code, out)
	}
}
