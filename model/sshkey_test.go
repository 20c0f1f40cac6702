package model

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func ed25519Line(t *testing.T) (string, ssh.Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spub, _ := ssh.NewPublicKey(pub)
	signer, _ := ssh.NewSignerFromKey(priv)
	return KeyLine(spub), signer
}

// certificateLine makes a host certificate, the kind of line that used to
// pass registration and fail at the first rotation.
func certificateLine(t *testing.T) string {
	t.Helper()
	_, ca := ed25519Line(t)
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	spub, _ := ssh.NewPublicKey(hostPub)
	cert := &ssh.Certificate{Key: spub, CertType: ssh.HostCert, ValidPrincipals: []string{"web1"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return KeyLine(cert)
}

func TestHostKeyRules(t *testing.T) {
	good, _ := ed25519Line(t)
	if _, line, err := ParseHostKey("HostKey", good+" web1.example"); err != nil || line != good {
		t.Fatalf("a plain ed25519 host key: %q %v", line, err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := ssh.NewPublicKey(&small.PublicKey)
	for name, line := range map[string]string{
		"certificate":  certificateLine(t),
		"1024-bit RSA": KeyLine(smallPub),
		"options":      `from="10.0.0.1" ` + good,
		"two lines":    good + "\n" + good,
		"garbage":      "ssh-ed25519 !!!",
	} {
		_, _, err := ParseHostKey("HostKey", line)
		ae := AsAPIError(err)
		if err == nil || ae.Code != CodeInvalidParameter || !strings.Contains(ae.Message, "HostKey") {
			t.Errorf("%s: got %v, want InvalidParameter naming HostKey", name, err)
		}
	}
}

func TestPrivateKeyRules(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret phrase"))
	_, err := ParsePrivateKey("AdminKeyFile", pem.EncodeToMemory(blk))
	if err == nil || !strings.Contains(err.Error(), "passphrase") || !strings.Contains(err.Error(), "AdminKeyFile") {
		t.Fatalf("a passphrase-protected key: %v", err)
	}
	plain, _ := ssh.MarshalPrivateKey(priv, "")
	if _, err := ParsePrivateKey("AdminKeyFile", pem.EncodeToMemory(plain)); err != nil {
		t.Fatalf("a plain ed25519 key: %v", err)
	}
	if _, err := ParsePrivateKey("AdminKeyFile", []byte("-----BEGIN NOTHING-----")); err == nil || strings.Contains(err.Error(), "NOTHING") {
		t.Fatalf("garbage: %v (and the content must not be quoted)", err)
	}
}

func TestUserKeyRulesKeepOptionsForTheCaller(t *testing.T) {
	good, _ := ed25519Line(t)
	_, opts, err := ParseUserPublicKey("Key", `from="10.0.0.0/8" `+good+" ops@laptop")
	if err != nil || len(opts) != 1 || !strings.HasPrefix(opts[0], "from=") {
		t.Fatalf("options %q, %v", opts, err)
	}
	if _, _, err := ParseUserPublicKey("Key", certificateLine(t)); err == nil {
		t.Fatal("a certificate was accepted as a user key")
	}
}
