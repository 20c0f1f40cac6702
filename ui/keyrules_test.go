package ui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"kmsconsole/model"
	"kmsconsole/service"
)

// The console judges SSH keys by the service's rules (model/sshkey.go):
// what the Add Instance form and the key fields refuse, AddInstance
// refuses with the same words, and what they accept it accepts.

// zeroReader makes signatures and nonces deterministic (goldens).
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// hostCertLine is an OpenSSH host certificate line (deterministic).
func hostCertLine(t *testing.T) string {
	t.Helper()
	ca, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)).Public())
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: host, CertType: ssh.HostCert, KeyId: "web2", ValidPrincipals: []string{"web2"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(zeroReader{}, ca); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))
}

func rsaKey(t *testing.T, bits int) (pubLine string, pemText []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return model.KeyLine(pub), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func passphraseKey(t *testing.T) []byte {
	t.Helper()
	blk, err := ssh.MarshalPrivateKeyWithPassphrase(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)), "", []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(blk)
}

// TestKeyRulesAsService compares the Add Instance form's verdicts on host
// keys and admin keys with AddInstance's own.
func TestKeyRulesAsService(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	c := &common{svc: f.svc, st: newStyles(plainRenderer()), keys: newKeyMap(), now: fixedClock, ctx: ctx}
	form := newInstanceForm(c)
	_, adminKey := fixedPrivateKey(t, 2)
	short, shortPEM := rsaKey(t, 1024)
	good := fixedHostKey(6)

	// add asks the service; a key it accepts fails later, at the login
	// (port 1 is closed).
	add := func(hostKey string, admin []byte) error {
		_, err := f.svc.AddInstance(ctx, service.AddInstanceRequest{InstanceId: "i-keys", Host: "127.0.0.1", Port: 1,
			AdminUser: "root", AdminKey: admin, HostKey: hostKey})
		if err == nil {
			t.Fatal("AddInstance succeeded against a closed port")
		}
		return err
	}
	same := func(what string, ui, svc error) {
		t.Helper()
		if ui == nil {
			// Past the key rules, the service logs in: port 1 refuses.
			if ae := model.AsAPIError(svc); !strings.Contains(ae.Message, "unreachable") {
				t.Errorf("%s: the console accepts it, the service refuses it: %v", what, svc)
			}
			return
		}
		u, s := model.AsAPIError(ui), model.AsAPIError(svc)
		if u.Code != s.Code || u.Message != s.Message {
			t.Errorf("%s: the console says %s: %s; the service says %s: %s", what, u.Code, u.Message, s.Code, s.Message)
		}
	}

	for _, c := range []struct {
		what, line string
		refused    bool
	}{
		{"plain ed25519", good, false},
		{"with a comment", good + " root@web2", false},
		{"certificate", hostCertLine(t), true},
		{"options", `from="10.0.0.1" ` + good, true},
		{"short RSA", short, true},
		{"not base64", "ssh-ed25519 AAAA!!!", true},
		{"two lines", good + "\n" + good, true},
	} {
		uiErr := form.hostKey.Validate(c.line)
		if (uiErr != nil) != c.refused {
			t.Errorf("host key %s: console verdict %v", c.what, uiErr)
		}
		same("host key "+c.what, uiErr, add(c.line, adminKey))
	}

	for _, c := range []struct {
		what    string
		pem     []byte
		refused bool
	}{
		{"ed25519 PKCS#8", adminKey, false},
		{"passphrase", passphraseKey(t), true},
		{"short RSA", shortPEM, true},
		{"garbage", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), true},
	} {
		msg := parseKey(form.adminKey, string(c.pem), string(c.pem))
		if (msg.err != nil) != c.refused {
			t.Errorf("admin key %s: console verdict %v", c.what, msg.err)
		}
		same("admin key "+c.what, msg.err, add(good, c.pem))
	}
}

// TestInstanceAddCertificateHost: a certificate pasted as the host key is
// refused under the Host key field, with the service's reason, and enter
// does not send the form.
func TestInstanceAddCertificateHost(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("c")
	s.waitFor("Add Instance")
	s.typeText("i-web2")
	s.press("tab", "tab", "tab")
	s.typeText("10.0.0.7")
	s.press("tab", "tab", "tab")
	_, priv := fixedPrivateKey(t, 2)
	s.typeText(strings.ReplaceAll(strings.TrimSpace(string(priv)), "\n", " "))
	s.waitFor("key read: ssh-ed25519")
	s.press("tab")
	s.typeText(hostCertLine(t))
	v := s.waitFor("An SSH certificate is not accepted here")
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		if strings.Contains(l, "An SSH certificate") && (i == 0 || !strings.Contains(lines[i-1], "Host key")) {
			t.Fatalf("the refusal is not under the Host key field:\n%s", v)
		}
	}
	s.press("enter")
	if v := s.view(); strings.Contains(v, "Logging in as") || strings.Contains(v, "Fetching") {
		t.Fatalf("the form went on with a refused host key:\n%s", v)
	}
	s.golden()
	if _, err := f.svc.Instance(context.Background(), "i-web2"); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("i-web2 was added: %v", err)
	}
}

// TestKeyInputPassphrase: a passphrase-protected key, pasted or as a
// file, gets the service's message, in the Add Instance form and in the
// wizard's key pair field.
func TestKeyInputPassphrase(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "locked")
	if err := os.WriteFile(keyFile, passphraseKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [2]")
	s.press("c")
	s.waitFor("Add Instance")
	for range 6 {
		s.press("tab")
	}
	s.typeText(keyFile)
	s.waitFor("The private key is protected by a passphrase")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.press("y")
	s.waitGone("Add Instance")
	s.press("esc")
	s.waitFor("Secrets [5]")

	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText("web1/app")
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "right", "tab")
	s.typeText(strings.ReplaceAll(strings.TrimSpace(string(passphraseKey(t))), "\n", " "))
	s.waitFor("The private key is protected by a passphrase")
}
