package serve

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/model"
)

// logLineRe is the start of every line serve logs.
var logLineRe = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d kmsconsole serve: `)

func TestEscapeLog(t *testing.T) {
	cases := []struct{ in, want string }{
		{"login alice (admin): exec kms ListSecrets", "login alice (admin): exec kms ListSecrets"},
		{`a "quoted" word`, `a "quoted" word`},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x1b[2J\x1b]0;title\x07\x00\x7f", `\x1b[2J\x1b]0;title\x07\x00\x7f`},
		{`back\slash`, `back\\slash`},
		{"bad \xff utf-8", `bad \xff utf-8`},
		{"é and 密钥", "é and 密钥"},
		{"line\u2028sep \u202eevil \u0085nel \u009b", `line\u2028sep \u202eevil \u0085nel \u009b`},
	}
	for _, c := range cases {
		if got := escapeLog(c.in); got != c.want {
			t.Errorf("escapeLog(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestLogForging: what a client chooses (the command of an exec session,
// the SSH user name, the version string) reaches the serve log escaped, on
// the login's own line: no forged line, no terminal control.
func TestLogForging(t *testing.T) {
	h := newHarness(t, Config{})
	alice := h.operator("alice", model.RoleAdmin)
	forged := "2026/01/01 00:00:00 kmsconsole serve: login root (admin) from 10.9.9.9:1: console"

	// The real OpenSSH client: the command string as sent.
	h.ssh(alice, "kms", "GetSecretValue\n"+forged+"\x1b[2J", "--SecretName", "x")

	// An x/crypto client: a user name and version string of its choice
	// (x/crypto sends no byte below 32 in a version line; DEL, 8-bit CSI
	// and invalid UTF-8 it does).
	priv, err := os.ReadFile(alice)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gossh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.port), &gossh.ClientConfig{
		User:            "ops\n" + forged + " user\x1b]0;title\x07",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		ClientVersion:   "SSH-2.0-evil\x9b2J\x7f\xff version",
		Timeout:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Run("kms ListSecrets")
	c.Close()

	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(h.log.String(), "logout alice") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	log := h.log.String()
	for _, b := range []byte(log) {
		if (b < 0x20 && b != '\n') || b == 0x7f {
			t.Errorf("control character %#x reached the log:\n%q", b, log)
			break
		}
	}
	if !utf8.ValidString(log) {
		t.Errorf("invalid UTF-8 reached the log:\n%q", log)
	}
	var logins []string
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if !logLineRe.MatchString(line) {
			t.Errorf("a log line does not start with the prefix: %q", line)
		}
		if strings.Contains(line, "10.9.9.9") {
			if !strings.Contains(line, "login alice (admin) from 127.0.0.1:") {
				t.Errorf("a forged line: %q", line)
			}
			logins = append(logins, line)
		}
	}
	want := []string{
		`: exec kms GetSecretValue\n` + forged + `\x1b[2J (ssh user `,
		`(ssh user ops\n` + forged + ` user\x1b]0;title\x07, client SSH-2.0-evil\x9b2J\x7f\xff version)`,
	}
	for _, w := range want {
		n := 0
		for _, line := range logins {
			if strings.Contains(line, w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("no single login line with %q", w)
		}
	}
	if t.Failed() {
		t.Logf("serve log:\n%s", log)
	}
}
