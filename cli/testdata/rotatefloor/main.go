// Command rotatefloor is the smallest Go program that does what one password
// rotation must do on a host, written as an operator would write a
// hand-made tool with golang.org/x/crypto/ssh: generate a new password, log
// in as the admin (public key, pinned host key), run `sudo -n chpasswd`
// (plain chpasswd as root) with `user:password` on stdin, hang up, then
// prove the password with a fresh login as the user (password or
// keyboard-interactive). No store, no versions, no undo: it is the floor
// BenchmarkFleetVsFloor times `kmsconsole rotate --all` against, run by
// `xargs -P 8`, one fresh process per (host, user).
//
// It lives under testdata so that ./... neither builds nor vets it as part
// of the product; build it with `go build ./cli/testdata/rotatefloor`.
//
// Usage: rotatefloor HOST PORT "TYPE BASE64" ADMIN ADMIN_KEY_FILE USER
//
// The password is never printed, logged or put on a command line.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%+,-./=?@^_~"

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rotatefloor: "+format+"\n", args...)
	os.Exit(1)
}

func newPassword() string {
	b := make([]byte, 32)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			fail("random: %v", err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

func main() {
	if len(os.Args) != 7 {
		fail("usage: rotatefloor HOST PORT \"TYPE BASE64\" ADMIN ADMIN_KEY_FILE USER")
	}
	host, port, hostKey, admin, keyFile, user := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6]
	addr := net.JoinHostPort(host, port)

	f := strings.Fields(hostKey)
	if len(f) < 2 {
		fail("host key must be \"<type> <base64>\"")
	}
	raw, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		fail("host key: %v", err)
	}
	pinned, err := ssh.ParsePublicKey(raw)
	if err != nil {
		fail("host key: %v", err)
	}
	want := pinned.Marshal()
	hostKeyCallback := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		if string(key.Marshal()) != string(want) {
			return fmt.Errorf("host key mismatch: want %s, got %s", ssh.FingerprintSHA256(pinned), ssh.FingerprintSHA256(key))
		}
		return nil
	}

	pem, err := os.ReadFile(keyFile)
	if err != nil {
		fail("admin key: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		fail("admin key: %v", err)
	}
	password := newPassword()

	// 1. Apply: admin login, chpasswd reading user:password on stdin.
	ac, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:              admin,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: []string{pinned.Type()},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		fail("%s@%s: %v", admin, addr, err)
	}
	sess, err := ac.NewSession()
	if err != nil {
		fail("%s@%s: session: %v", admin, addr, err)
	}
	sess.Stdin = strings.NewReader(user + ":" + password + "\n")
	cmd := "sudo -n chpasswd"
	if admin == "root" {
		cmd = "chpasswd"
	}
	out, err := sess.CombinedOutput(cmd)
	sess.Close()
	ac.Close()
	if err != nil {
		fail("%s@%s: %s: %v: %s", admin, addr, cmd, err, strings.ReplaceAll(strings.TrimSpace(string(out)), password, "***"))
	}

	// 2. Prove it: a fresh login as the user with the new password.
	answer := func(_, _ string, questions []string, _ []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range answers {
			answers[i] = password
		}
		return answers, nil
	}
	uc, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.Password(password), ssh.KeyboardInteractive(answer)},
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: []string{pinned.Type()},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		fail("verify %s@%s: %s", user, addr, strings.ReplaceAll(err.Error(), password, "***"))
	}
	uc.Close()
}
