package ecs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/ecs/sshdtest"
)

// ---- helpers ----

func testPassword(t testing.TB) string {
	t.Helper()
	// All four classes plus characters that would break naive quoting.
	const set = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$%&'()*+,-./:;<=>?@[]^_`{|}~\\\" "
	var b strings.Builder
	b.WriteString("Aa1!")
	for i := 0; i < 28; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(set[n.Int64()])
	}
	return b.String()
}

// ctxT bounds a whole test's host work: generous, since a loaded CI machine
// (every package's tests at once on 2 cores) slows every login and su.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func target(s *sshdtest.Server, admin string, key []byte) Target {
	return Target{Host: s.Host, Port: s.Port, HostKey: s.HostKey, AdminUser: admin, AdminKey: key}
}

func dial(t testing.TB, tg Target) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), tg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// leakCheck collects every error a test saw and, at the end, asserts that
// no secret appears in them or in sshd's DEBUG3 log (which records every
// remote command line).
type leakCheck struct {
	mu      sync.Mutex
	errs    []string
	secrets []string
}

func (l *leakCheck) secret(s ...string) {
	l.mu.Lock()
	l.secrets = append(l.secrets, s...)
	l.mu.Unlock()
}

func (l *leakCheck) err(err error) error {
	if err != nil {
		l.mu.Lock()
		l.errs = append(l.errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		l.mu.Unlock()
	}
	return err
}

func (l *leakCheck) verify(t testing.TB, servers ...*sshdtest.Server) {
	t.Helper()
	var logs []string
	for _, s := range servers {
		logs = append(logs, s.Log())
	}
	all := strings.Join(logs, "\n")
	if len(servers) > 0 && !strings.Contains(all, "debug3") {
		t.Fatalf("sshd log is not at DEBUG3; the leak scan would prove nothing")
	}
	for _, sec := range l.secrets {
		if strings.Contains(all, sec) {
			t.Errorf("a secret appears in sshd's log")
		}
		for _, e := range l.errs {
			if strings.Contains(e, sec) {
				t.Errorf("a secret appears in an error: %q", e)
			}
		}
	}
}

func wantIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want errors.Is(%v)", err, target)
	}
}

// ---- pure functions ----

func TestKeyTagAndValidation(t *testing.T) {
	tag := KeyTag("prod/db-root@ecs.1", "v-0123456789abcdef")
	if tag != "kmsconsole:prod/db-root@ecs.1:v-0123456789abcdef" {
		t.Fatalf("KeyTag = %q", tag)
	}
	if err := ValidateTag(tag); err != nil {
		t.Fatal(err)
	}
	name, ver, ok := ParseKeyTag(tag)
	if !ok || name != "prod/db-root@ecs.1" || ver != "v-0123456789abcdef" {
		t.Fatalf("ParseKeyTag = %q %q %v", name, ver, ok)
	}
	for _, bad := range []string{"", "kmsconsole:", "kmsconsole:a", "kmsconsole:a:", "other:a:b", "kmsconsole:a b:c",
		"kmsconsole:a:b;rm", "kmsconsole:a:b'c", "kmsconsole:a:" + strings.Repeat("v", 65), "kmsconsole:a:b\n"} {
		if ValidateTag(bad) == nil {
			t.Errorf("ValidateTag(%q) accepted", bad)
		}
	}
	for _, good := range []string{"root", "ecs-user", "_svc", "a.b_c-d", strings.Repeat("a", 32)} {
		if err := ValidateUser(good); err != nil {
			t.Errorf("ValidateUser(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "Root", "1abc", "a b", "a;b", "-x", "a'b", strings.Repeat("a", 33), "a$(id)"} {
		if ValidateUser(bad) == nil {
			t.Errorf("ValidateUser(%q) accepted", bad)
		}
	}
	if shellQuote("it's") != `'it'\''s'` {
		t.Fatal(shellQuote("it's"))
	}
}

func TestFingerprint(t *testing.T) {
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	fp, err := Fingerprint(pub)
	if err != nil || !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("Fingerprint = %q, %v", fp, err)
	}
	if fp2, _ := Fingerprint(pub + " some comment"); fp2 != fp {
		t.Fatalf("comment changes fingerprint")
	}
	if _, err := Fingerprint("ssh-ed25519 not-base64"); err == nil {
		t.Fatal("bad key accepted")
	}
}

// Validation happens before anything is sent; the password never shows up
// in the error.
func TestInputValidation(t *testing.T) {
	c := &Client{t: Target{AdminUser: "admin"}, addr: "x:22"}
	ctx := context.Background()
	secret := "Secr3t!\nroot:owned"
	for _, err := range []error{
		c.SetPassword(ctx, "bob", secret),
		c.SetPassword(ctx, "bob", ""),
		c.SetPassword(ctx, "bob;id", "Passw0rd!"),
		c.AddAuthorizedKey(ctx, "bob", "ssh-ed25519 AAAA", "kmsconsole:a:b"),
		c.AddAuthorizedKey(ctx, "Bob", "ssh-ed25519 AAAA", "kmsconsole:a:b"),
		VerifyPassword(ctx, "127.0.0.1", 1, "ssh-ed25519 AAAA", "bob", secret),
	} {
		if err == nil {
			t.Fatal("invalid input accepted")
		}
		if strings.Contains(err.Error(), "Secr3t") {
			t.Fatalf("password in error: %v", err)
		}
	}
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	if err := c.AddAuthorizedKey(ctx, "bob", pub, "kmsconsole:a:b'; rm -rf ~ #"); err == nil {
		t.Fatal("bad tag accepted")
	}
	if err := c.AddAuthorizedKey(ctx, "bob", pub+"\nssh-ed25519 AAAA evil", "kmsconsole:a:b"); err == nil {
		t.Fatal("two-line key accepted")
	}
}

// ---- against real sshd ----

func TestPasswordRotationSudoAdmin(t *testing.T) {
	t.Parallel()
	var leak leakCheck
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	oldPw, newPw := testPassword(t), testPassword(t)
	leak.secret(oldPw, newPw)
	user := sshdtest.CreateUser(t, "pw", oldPw)
	ctx := ctxT(t)

	start := time.Now()
	c := dial(t, target(srv, admin, key))
	if ok, err := c.UserExists(ctx, user); err != nil || !ok {
		t.Fatalf("UserExists(%s) = %v, %v", user, ok, err)
	}
	if ok, err := c.UserExists(ctx, "ktnosuchuser000"); err != nil || ok {
		t.Fatalf("UserExists(missing) = %v, %v", ok, err)
	}
	if err := leak.err(c.SetPassword(ctx, user, newPw)); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if err := leak.err(VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, newPw)); err != nil {
		t.Fatalf("VerifyPassword(new): %v", err)
	}
	t.Logf("dial + 2×UserExists + SetPassword + VerifyPassword: %v", time.Since(start))

	start = time.Now()
	err := leak.err(VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, oldPw))
	wantIs(t, err, ErrAuthFailed)
	t.Logf("refused old password after %v: %v", time.Since(start), err)

	if !strings.Contains(srv.Log(), "chpasswd") {
		t.Fatalf("DEBUG3 log does not show the remote command")
	}
	leak.verify(t, srv)
}

func TestPasswordRotationRootAdmin(t *testing.T) {
	t.Parallel()
	var leak leakCheck
	srv := sshdtest.Start(t, sshdtest.Options{})
	rootKey := sshdtest.RootAdmin(t)
	pw := testPassword(t)
	leak.secret(pw)
	user := sshdtest.CreateUser(t, "pwr", "Initial-Passw0rd")
	ctx := ctxT(t)
	c := dial(t, target(srv, "root", rootKey))
	if err := leak.err(c.SetPassword(ctx, user, pw)); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if err := leak.err(VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, pw)); err != nil {
		t.Fatalf("VerifyPassword: %v", err)
	}
	// A password containing ':' and shell metacharacters survives stdin.
	odd := `a:b'c"d$(id)` + "`x`\\ e;f|g Zz9!"
	leak.secret(odd)
	if err := leak.err(c.SetPassword(ctx, user, odd)); err != nil {
		t.Fatalf("SetPassword(odd): %v", err)
	}
	if err := leak.err(VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, odd)); err != nil {
		t.Fatalf("VerifyPassword(odd): %v", err)
	}
	leak.verify(t, srv)
}

// keyFlow exercises add / verify / idempotent add / list / remove.
func keyFlow(t *testing.T, srv *sshdtest.Server, c *Client, user string) {
	ctx := ctxT(t)
	pub1, priv1 := sshdtest.GenerateKey(t, "ed25519")
	pub2, priv2 := sshdtest.GenerateKey(t, "rsa")
	tag1, tag2 := KeyTag("ecs/"+user, "v1"), KeyTag("ecs/"+user, "v2")

	if err := c.AddAuthorizedKey(ctx, user, pub1, tag1); err != nil {
		t.Fatalf("AddAuthorizedKey: %v", err)
	}
	if err := c.AddAuthorizedKey(ctx, user, pub1+" ignored-comment", tag1); err != nil {
		t.Fatalf("AddAuthorizedKey (again): %v", err)
	}
	if err := VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv1); err != nil {
		t.Fatalf("VerifyKey(key1): %v", err)
	}
	if err := c.AddAuthorizedKey(ctx, user, pub2, tag2); err != nil {
		t.Fatalf("AddAuthorizedKey(key2): %v", err)
	}
	if err := VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv2); err != nil {
		t.Fatalf("VerifyKey(key2, rsa): %v", err)
	}
	tags, err := c.ManagedKeyTags(ctx, user)
	if err != nil || !slices.Equal(tags, []string{tag1, tag2}) {
		t.Fatalf("ManagedKeyTags = %q, %v; want [%s %s] (idempotent add)", tags, err, tag1, tag2)
	}
	n, err := c.RemoveAuthorizedKeys(ctx, user, func(tag string) bool { return tag == tag1 })
	if err != nil || n != 1 {
		t.Fatalf("RemoveAuthorizedKeys = %d, %v", n, err)
	}
	start := time.Now()
	err = VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv1)
	wantIs(t, err, ErrAuthFailed)
	t.Logf("removed key refused after %v: %v", time.Since(start), err)
	if err := VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv2); err != nil {
		t.Fatalf("VerifyKey(key2) after removing key1: %v", err)
	}
	if n, err := c.RemoveAuthorizedKeys(ctx, user, func(string) bool { return false }); err != nil || n != 0 {
		t.Fatalf("RemoveAuthorizedKeys(none) = %d, %v", n, err)
	}
	if tags, err := c.ManagedKeyTags(ctx, user); err != nil || !slices.Equal(tags, []string{tag2}) {
		t.Fatalf("ManagedKeyTags after removal = %q, %v", tags, err)
	}
	// The same tag with another key replaces that line.
	pub3, priv3 := sshdtest.GenerateKey(t, "ed25519")
	if err := c.AddAuthorizedKey(ctx, user, pub3, tag2); err != nil {
		t.Fatalf("AddAuthorizedKey(replace): %v", err)
	}
	if tags, err := c.ManagedKeyTags(ctx, user); err != nil || !slices.Equal(tags, []string{tag2}) {
		t.Fatalf("ManagedKeyTags after replace = %q, %v", tags, err)
	}
	if err := VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv3); err != nil {
		t.Fatalf("VerifyKey(key3): %v", err)
	}
	wantIs(t, VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, user, priv2), ErrAuthFailed)
}

func checkKeyFile(t *testing.T, user string) []string {
	t.Helper()
	u := lookupUser(t, user)
	dir := filepath.Join(u.home, ".ssh")
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, "authorized_keys"), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != c.mode || int(st.Uid) != u.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", c.path, fi.Mode().Perm(), st.Uid, c.mode, u.uid)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".authorized_keys.") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "authorized_keys"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func TestAuthorizedKeysSudoAdmin(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "key", "")
	other, _ := sshdtest.GenerateKey(t, "ed25519")
	opt, _ := sshdtest.GenerateKey(t, "ed25519")
	// Lines the console did not add, including look-alikes, and no final
	// newline.
	unmanaged := []string{
		other + " user@laptop",
		"# kmsconsole:ecs/" + user + ":v1",
		`from="10.0.0.1" ` + opt + " kmsconsole:ecs/" + user + ":v1",
	}
	sshdtest.WriteAuthorizedKeys(t, user, unmanaged...)
	u := lookupUser(t, user)
	f := filepath.Join(u.home, ".ssh", "authorized_keys")
	if err := os.WriteFile(f, []byte(strings.Join(unmanaged, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, target(srv, admin, key))
	keyFlow(t, srv, c, user)
	lines := checkKeyFile(t, user)
	if len(lines) != 4 || !slices.Equal(lines[:3], unmanaged) || !strings.HasSuffix(lines[3], ":v2") {
		t.Fatalf("authorized_keys now:\n%s", strings.Join(lines, "\n"))
	}

	// Managing the admin's own keys never touches its login key.
	ctx := ctxT(t)
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	if err := c.AddAuthorizedKey(ctx, admin, pub, KeyTag("self", "v1")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.RemoveAuthorizedKeys(ctx, admin, func(string) bool { return true }); err != nil || n != 1 {
		t.Fatalf("remove on admin = %d, %v", n, err)
	}
	c2, err := Dial(ctx, target(srv, admin, key))
	if err != nil {
		t.Fatalf("admin cannot log in after managing its own keys: %v", err)
	}
	c2.Close()
	if lines := checkKeyFile(t, admin); len(lines) != 1 || !strings.HasSuffix(lines[0], "sshdtest-admin") {
		t.Fatalf("admin authorized_keys: %q", lines)
	}
}

func TestAuthorizedKeysRootAdmin(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, target(srv, "root", sshdtest.RootAdmin(t)))
	user := sshdtest.CreateUser(t, "keyr", "") // no ~/.ssh yet
	keyFlow(t, srv, c, user)
	if lines := checkKeyFile(t, user); len(lines) != 1 {
		t.Fatalf("authorized_keys: %q", lines)
	}
}

func TestHostKeyMismatch(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	ctx := ctxT(t)

	got, err := FetchHostKey(ctx, srv.Host, srv.Port)
	if err != nil || got != srv.HostKey {
		t.Fatalf("FetchHostKey = %q, %v; want %q", got, err, srv.HostKey)
	}
	pinned := srv.HostKey
	wantFP, _ := Fingerprint(pinned)
	srv.RotateHostKey(t)
	gotFP, _ := Fingerprint(srv.HostKey)

	tg := target(srv, admin, key)
	tg.HostKey = pinned
	check := func(what string, err error) {
		t.Helper()
		var hk *HostKeyMismatchError
		if !errors.As(err, &hk) {
			t.Fatalf("%s: got %v, want *HostKeyMismatchError", what, err)
		}
		if hk.Want != wantFP || hk.Got != gotFP {
			t.Fatalf("%s: mismatch Want=%s Got=%s, want %s / %s", what, hk.Want, hk.Got, wantFP, gotFP)
		}
		if !strings.Contains(err.Error(), wantFP) || !strings.Contains(err.Error(), gotFP) {
			t.Fatalf("%s: message lacks a fingerprint: %v", what, err)
		}
	}
	_, err = Dial(ctx, tg)
	check("Dial", err)
	t.Logf("Dial: %v", err)
	check("VerifyPassword", VerifyPassword(ctx, srv.Host, srv.Port, pinned, admin, "Whatever-1"))
	_, priv := sshdtest.GenerateKey(t, "ed25519")
	check("VerifyKey", VerifyKey(ctx, srv.Host, srv.Port, pinned, admin, priv))

	// Pinned key of a type the host does not have at all.
	rsaPub, _ := sshdtest.GenerateKey(t, "rsa")
	wantFP, _ = Fingerprint(rsaPub)
	tg.HostKey = rsaPub
	_, err = Dial(ctx, tg)
	check("Dial(rsa pin)", err)

	tg.HostKey = srv.HostKey
	c, err := Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial with the new key: %v", err)
	}
	c.Close()
}

func TestWrongAdminKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, _ := sshdtest.CreateAdmin(t)
	_, wrong := sshdtest.GenerateKey(t, "ed25519")
	ctx := ctxT(t)
	_, err := Dial(ctx, target(srv, admin, wrong))
	wantIs(t, err, ErrAdminAuth)
	t.Logf("wrong key: %v", err)
	_, err = Dial(ctx, target(srv, "ktnosuchadmin", wrong))
	wantIs(t, err, ErrAdminAuth)
	if _, err := Dial(ctx, target(srv, admin, []byte("not a key"))); err == nil || errors.Is(err, ErrAdminAuth) {
		t.Fatalf("garbage key: %v", err)
	}
}

func TestSudoFailures(t *testing.T) {
	t.Parallel()
	var leak leakCheck
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "sudo", "Initial-Passw0rd")
	pw := testPassword(t)
	leak.secret(pw)
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	ctx := ctxT(t)
	c := dial(t, target(srv, admin, key))

	// requiretty: reported as such, never worked around with a tty.
	sshdtest.WriteSudoers(t, admin, "Defaults:"+admin+" requiretty\n"+admin+" ALL=(ALL:ALL) NOPASSWD: ALL\n")
	err := leak.err(c.SetPassword(ctx, user, pw))
	wantIs(t, err, ErrSudoRequiresTTY)
	wantIs(t, err, ErrSudo)
	if !strings.Contains(err.Error(), "requiretty") {
		t.Fatalf("requiretty not named: %v", err)
	}
	t.Logf("requiretty: %v", err)

	sshdtest.RevokeSudo(t, admin)
	err = leak.err(c.SetPassword(ctx, user, pw))
	wantIs(t, err, ErrSudo)
	if errors.Is(err, ErrSudoRequiresTTY) {
		t.Fatalf("not a requiretty case: %v", err)
	}
	t.Logf("revoked: %v", err)
	wantIs(t, leak.err(c.AddAuthorizedKey(ctx, user, pub, KeyTag("s", "v1"))), ErrSudo)
	_, err = c.ManagedKeyTags(ctx, user)
	wantIs(t, leak.err(err), ErrSudo)
	_, err = c.RemoveAuthorizedKeys(ctx, user, func(string) bool { return true })
	wantIs(t, leak.err(err), ErrSudo)
	// The password was never sent anywhere: the old one still works.
	if err := VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, "Initial-Passw0rd"); err != nil {
		t.Fatalf("old password no longer works: %v", err)
	}
	leak.verify(t, srv)
}

func TestNoSuchUser(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	rootKey := sshdtest.RootAdmin(t)
	pub, _ := sshdtest.GenerateKey(t, "ed25519")
	ctx := ctxT(t)
	for _, tg := range []Target{target(srv, admin, key), target(srv, "root", rootKey)} {
		c := dial(t, tg)
		missing := "ktmissing" + fmt.Sprint(time.Now().UnixNano()%1e9)
		if ok, err := c.UserExists(ctx, missing); ok || err != nil {
			t.Fatalf("%s: UserExists = %v, %v", tg.AdminUser, ok, err)
		}
		wantIs(t, c.SetPassword(ctx, missing, "Passw0rd!x"), ErrNoSuchUser)
		wantIs(t, c.AddAuthorizedKey(ctx, missing, pub, KeyTag("s", "v1")), ErrNoSuchUser)
		_, err := c.ManagedKeyTags(ctx, missing)
		wantIs(t, err, ErrNoSuchUser)
		_, err = c.RemoveAuthorizedKeys(ctx, missing, func(string) bool { return true })
		wantIs(t, err, ErrNoSuchUser)
		t.Logf("%s: %v", tg.AdminUser, err)
	}
}

func TestPasswordAuthDisabled(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	pw := testPassword(t)
	user := sshdtest.CreateUser(t, "nopw", pw)
	ctx := ctxT(t)
	if err := VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, pw); err != nil {
		t.Fatalf("VerifyPassword before: %v", err)
	}
	srv.Restart(t, sshdtest.Options{DisablePassword: true})
	start := time.Now()
	err := VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, pw)
	wantIs(t, err, ErrAuthFailed)
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatal("password in error")
	}
	t.Logf("%v", err)
}

func TestKeyboardInteractiveOnly(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"PasswordAuthentication no"}})
	pw := testPassword(t)
	user := sshdtest.CreateUser(t, "kbd", pw)
	if err := VerifyPassword(ctxT(t), srv.Host, srv.Port, srv.HostKey, user, pw); err != nil {
		t.Fatalf("VerifyPassword over keyboard-interactive: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	ctx := ctxT(t)
	c := dial(t, target(srv, admin, key))
	srv.Stop()

	_, err := c.UserExists(ctx, admin)
	wantIs(t, err, ErrUnreachable) // the kept connection died with the host
	_, err = Dial(ctx, target(srv, admin, key))
	wantIs(t, err, ErrUnreachable)
	t.Logf("host down: %v", err)
	wantIs(t, VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, admin, "Passw0rd!x"), ErrUnreachable)
	_, priv := sshdtest.GenerateKey(t, "ed25519")
	wantIs(t, VerifyKey(ctx, srv.Host, srv.Port, srv.HostKey, admin, priv), ErrUnreachable)
	_, err = FetchHostKey(ctx, srv.Host, srv.Port)
	wantIs(t, err, ErrUnreachable)
}

// listen serves a fake host on 127.0.0.1 with handle run per connection.
func listen(t *testing.T, handle func(n int, c net.Conn)) (int, *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var count atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(int(count.Add(1)), c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, &count
}

func TestDroppedBeforeIdentification(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	ctx := ctxT(t)

	// Always dropped (what MaxStartups does): retried, then ErrUnreachable.
	port, count := listen(t, func(_ int, c net.Conn) { c.Close() })
	tg := target(srv, admin, key)
	tg.Port = port
	_, err := Dial(ctx, tg)
	wantIs(t, err, ErrUnreachable)
	if !strings.Contains(err.Error(), "kex_exchange_identification") || count.Load() != dialAttempts {
		t.Fatalf("attempts=%d err=%v", count.Load(), err)
	}

	// Dropped twice, then forwarded to the real sshd: the retry succeeds.
	port, _ = listen(t, func(n int, c net.Conn) {
		defer c.Close()
		if n <= 2 {
			return
		}
		up, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(up, c)
		io.Copy(c, up)
	})
	tg.Port = port
	cl, err := Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial through dropping proxy: %v", err)
	}
	cl.Close()

	// Accepts but never speaks: the context deadline wins.
	port, _ = listen(t, func(_ int, c net.Conn) { time.Sleep(5 * time.Second); c.Close() })
	tg.Port = port
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Dial(sctx, tg)
	wantIs(t, err, ErrUnreachable)
	wantIs(t, err, context.DeadlineExceeded)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("deadline ignored: %v", d)
	}
}

func TestCommandContextAndConcurrency(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	c := dial(t, target(srv, admin, key))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.run(ctx, "sleep 10", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run(sleep) = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// Many concurrent commands on the one connection (sshd MaxSessions 10).
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := c.UserExists(ctxT(t), admin)
			if err == nil && !ok {
				err = errors.New("admin missing")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ---- benchmark ----

// BenchmarkRotatePassword: SetPassword + VerifyPassword with the management
// connection kept open, versus a fresh management login per rotation.
func BenchmarkRotatePassword(b *testing.B) {
	srv := sshdtest.Start(b, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(b)
	user := sshdtest.CreateUser(b, "bench", "Initial-Passw0rd")
	pws := []string{testPassword(b), testPassword(b)}
	ctx := context.Background()
	tg := target(srv, admin, key)

	b.Run("kept", func(b *testing.B) {
		c, err := Dial(ctx, tg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var set, ver time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			pw := pws[i%2]
			t0 := time.Now()
			if err := c.SetPassword(ctx, user, pw); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, pw); err != nil {
				b.Fatal(err)
			}
			set, ver = set+t1.Sub(t0), ver+time.Since(t1)
		}
		b.ReportMetric(float64(set.Milliseconds())/float64(b.N), "set-ms/op")
		b.ReportMetric(float64(ver.Milliseconds())/float64(b.N), "verify-ms/op")
	})
	b.Run("fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pw := pws[i%2]
			c, err := Dial(ctx, tg)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.SetPassword(ctx, user, pw); err != nil {
				b.Fatal(err)
			}
			c.Close()
			if err := VerifyPassword(ctx, srv.Host, srv.Port, srv.HostKey, user, pw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// ---- small helpers ----

type localUser struct {
	uid  int
	home string
}

func lookupUser(t testing.TB, name string) localUser {
	t.Helper()
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 6 && f[0] == name {
			var uid int
			fmt.Sscan(f[2], &uid)
			return localUser{uid: uid, home: f[5]}
		}
	}
	t.Fatalf("no user %s", name)
	return localUser{}
}

// TestLinkCutDuringVerification: a verification login whose connection
// drops while it authenticates is reported as unreachable, never as a
// refused credential. The difference decides a crash recovery: a refusal
// drops the pending version, so a drop mistaken for one would leave the
// host with a credential the store no longer holds.
func TestLinkCutDuringVerification(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	const password = "Link-Cut-Passw0rd!"
	user := sshdtest.CreateUser(t, "lnk", password)
	pub, priv := sshdtest.GenerateKey(t, "ed25519")
	sshdtest.WriteAuthorizedKeys(t, user, pub+" link-test")
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		start func(ctx context.Context, port int) *PendingLogin
		cred  any
	}{
		{"password", func(ctx context.Context, port int) *PendingLogin {
			return StartVerifyPassword(ctx, "127.0.0.1", port, srv.HostKey, user)
		}, password},
		{"key", func(ctx context.Context, port int) *PendingLogin {
			return StartVerifyKey(ctx, "127.0.0.1", port, srv.HostKey, user)
		}, signer},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			// Through an intact link the credential is accepted.
			ok := sshdtest.NewLink(t, srv.Addr())
			if err := c.start(ctx, ok.Port).Supply(c.cred); err != nil {
				t.Fatalf("through an intact link: %v", err)
			}
			link := sshdtest.NewLink(t, srv.Addr())
			p := c.start(ctx, link.Port)
			// The login connects, exchanges keys and waits for its
			// credential inside the authentication exchange.
			time.Sleep(500 * time.Millisecond)
			link.Cut()
			err := p.Supply(c.cred)
			if errors.Is(err, ErrAuthFailed) {
				t.Fatalf("a dropped link was reported as a refused credential: %v", err)
			}
			wantIs(t, err, ErrUnreachable)
			t.Logf("link cut during authentication: %v", err)
		})
	}
}
