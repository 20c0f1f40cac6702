// Package ecs is the SSH backend that changes credentials (login passwords
// and authorized keys) on a managed Linux host.
//
// Everything goes over golang.org/x/crypto/ssh. The management login is pinned
// to a known host key; credential values (passwords, private keys) are only
// ever sent on the standard input of a remote command, never in its argv or
// environment, and never appear in an error message.
//
// A *Client keeps one management connection open; every remote command runs
// in its own session on that connection.
package ecs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/model"
)

// Default timeouts, used when the caller's context carries no (earlier)
// deadline and the Dialer sets none.
const (
	// DefaultDialTimeout bounds the TCP connect.
	DefaultDialTimeout = 5 * time.Second
	// DefaultHandshakeTimeout bounds SSH version exchange, key exchange and
	// authentication (a refused password costs sshd 2–4 s by design).
	DefaultHandshakeTimeout = 15 * time.Second
	// DefaultCommandTimeout bounds one remote command.
	DefaultCommandTimeout = 60 * time.Second
)

// Timeouts bound the steps of a connection when the caller's context
// carries no earlier deadline. A zero field means its default.
type Timeouts struct {
	Dial      time.Duration // the TCP connect
	Handshake time.Duration // SSH version exchange, key exchange, authentication
	Command   time.Duration // one remote command
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Dial <= 0 {
		t.Dial = DefaultDialTimeout
	}
	if t.Handshake <= 0 {
		t.Handshake = DefaultHandshakeTimeout
	}
	if t.Command <= 0 {
		t.Command = DefaultCommandTimeout
	}
	return t
}

// Typed errors. Use errors.Is (and errors.As for *HostKeyMismatchError).
var (
	// ErrUnreachable: the host could not be reached (connect failure,
	// timeout, connection refused, connection dropped before the SSH
	// identification exchange — e.g. by sshd MaxStartups — even after
	// retries, or the management connection was lost).
	ErrUnreachable = errors.New("ecs: host unreachable")
	// ErrAdminAuth: the management login was refused.
	ErrAdminAuth = errors.New("ecs: management login refused")
	// ErrSudo: `sudo -n` could not run the command (needs a password, not
	// allowed, requiretty, sudo missing).
	ErrSudo = errors.New("ecs: sudo failed")
	// ErrSudoRequiresTTY wraps ErrSudo: the host's sudoers has
	// `Defaults requiretty` for the admin user.
	ErrSudoRequiresTTY = fmt.Errorf("%w: the host's sudoers sets 'Defaults requiretty' (sudo refuses to run without a tty)", ErrSudo)
	// ErrNoSuchUser: the managed user does not exist on the host.
	ErrNoSuchUser = errors.New("ecs: no such user on host")
	// ErrAuthFailed: the verification login as the managed user was refused.
	ErrAuthFailed = errors.New("ecs: login refused")
	// ErrNotApplied marks a failure that happened before anything reached
	// the host: no session could be opened, or the connection broke before
	// the command's input (the credential) was sent. The host is as it was,
	// so there is nothing to roll back and the call may simply be retried.
	ErrNotApplied = errors.New("ecs: not applied")
)

// notApplied marks err as having changed nothing on the host.
func notApplied(err error) error {
	if err == nil || errors.Is(err, ErrNotApplied) {
		return err
	}
	return &notAppliedError{err}
}

type notAppliedError struct{ err error }

func (e *notAppliedError) Error() string   { return e.err.Error() + " (nothing was changed on the host)" }
func (e *notAppliedError) Unwrap() []error { return []error{e.err, ErrNotApplied} }

// HostKeyMismatchError is returned when the host presents a key other than
// the pinned one. Want and Got are SHA256 fingerprints ("SHA256:...").
type HostKeyMismatchError struct {
	Addr string // host:port, informational
	Want string // fingerprint of the pinned key
	Got  string // fingerprint of the key the host presented
}

func (e *HostKeyMismatchError) Error() string {
	addr := e.Addr
	if addr == "" {
		addr = "host"
	}
	return fmt.Sprintf("ecs: host key mismatch for %s: pinned %s, host presented %s (host key changed or man-in-the-middle)", addr, e.Want, e.Got)
}

// Target is a managed host and its management login.
type Target struct {
	Host      string
	Port      int
	HostKey   string // pinned host key, authorized_keys format "<type> <base64>"
	AdminUser string // root, or a user with passwordless sudo
	AdminKey  []byte // PEM private key of the admin (never logged)
}

const tagPrefix = "kmsconsole:"

var (
	keyBase64Re = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)
)

// KeyTag is the comment that marks an authorized_keys line added by the
// console for one secret version: "kmsconsole:<secretName>:<versionId>".
func KeyTag(secretName, versionId string) string {
	return tagPrefix + secretName + ":" + versionId
}

// ParseKeyTag splits a tag made by KeyTag. ok is false for anything that is
// not a valid kmsconsole tag.
func ParseKeyTag(tag string) (secretName, versionId string, ok bool) {
	if ValidateTag(tag) != nil {
		return "", "", false
	}
	rest := strings.TrimPrefix(tag, tagPrefix)
	secretName, versionId, ok = strings.Cut(rest, ":")
	return secretName, versionId, ok
}

// ValidateTag reports whether tag is a well-formed kmsconsole tag (safe to
// put, quoted, into a remote shell command).
func ValidateTag(tag string) error {
	name, version, _ := strings.Cut(strings.TrimPrefix(tag, tagPrefix), ":")
	if !strings.HasPrefix(tag, tagPrefix) || !charsIn(name, 1, 256, "_/+=.@-") || !charsIn(version, 1, 64, "_/+=.@-") {
		return fmt.Errorf("ecs: invalid key tag %q (want kmsconsole:<secret>:<version> with [A-Za-z0-9_/+=.@-])", tag)
	}
	return nil
}

// charsIn reports whether s has min..max characters, each an ASCII letter,
// a digit or one of extra. (A regexp with {1,256} costs milliseconds to
// compile at start-up, in every CLI invocation.)
func charsIn(s string, min, max int, extra string) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// ValidateUser reports whether user is an acceptable Linux user name.
func ValidateUser(user string) error {
	if !model.IsLinuxUserName(user) {
		return fmt.Errorf("ecs: invalid user name %q (want ^[a-z_][a-z0-9_.-]{0,31}$)", user)
	}
	return nil
}

// validatePassword checks a password can be passed as one chpasswd line. The
// value itself is never part of the error.
func validatePassword(password string) error {
	switch {
	case password == "":
		return errors.New("ecs: empty password")
	case len(password) > 1024:
		return errors.New("ecs: password longer than 1024 bytes")
	case strings.ContainsAny(password, "\n\r\x00"):
		return errors.New("ecs: password contains a newline, carriage return or NUL byte")
	}
	return nil
}

// parseHostKey parses an authorized_keys style line ("<type> <base64>"
// possibly followed by a comment).
func parseHostKey(line string) (ssh.PublicKey, error) {
	pk, _, err := model.ParseHostKey("HostKey", line)
	if err != nil {
		return nil, fmt.Errorf("ecs: pinned host key: %w", err)
	}
	return pk, nil
}

// Fingerprint returns the SHA256 fingerprint ("SHA256:...") of a key given
// as "<type> <base64>".
func Fingerprint(hostKeyLine string) (string, error) {
	pk, err := parseHostKey(hostKeyLine)
	if err != nil {
		return "", err
	}
	return ssh.FingerprintSHA256(pk), nil
}

// keyLine formats a public key as "<type> <base64>".
func keyLine(pk ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// NormalizePublicKey parses a public key line (options and comment allowed)
// and returns it as "<type> <base64>", the form AuthorizedKeyLine.Key has.
func NormalizePublicKey(line string) (string, error) {
	pk, options, err := model.ParseUserPublicKey("PublicKey", line)
	if err != nil {
		return "", fmt.Errorf("ecs: public key: %w", err)
	}
	if len(options) > 0 {
		return "", errors.New("ecs: a managed public key carries no authorized_keys options")
	}
	out := keyLine(pk)
	typ, b64, ok := strings.Cut(out, " ")
	if !ok || !charsIn(typ, 1, 64, "@._-") || !keyBase64Re.MatchString(b64) {
		return "", errors.New("ecs: unexpected public key format")
	}
	return out, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redact removes secret values from s (defence in depth: remote output is
// never expected to contain them).
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}
