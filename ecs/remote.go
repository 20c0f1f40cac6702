package ecs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Remote scripts are single-line POSIX sh (they run under /bin/sh -c, started
// from whatever login shell the admin has). User names and tags are
// validated and shell-quoted before they are spliced in; credential values
// only ever travel on stdin, and only after the remote side has printed
// readyMarker (i.e. sudo succeeded and the user exists).
const (
	readyMarker  = "@kmsconsole-ready"
	noUserMarker = "@kmsconsole-nosuchuser"
	exitNoUser   = 97
	pathSetup    = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH; "
	readyCmd     = "echo " + readyMarker + "; "

	maxStdout = 1 << 20
	maxStderr = 64 << 10
)

// userCheck exits with exitNoUser (and noUserMarker on stderr) when the
// user (shell variable u) does not exist.
const userCheck = `if command -v getent >/dev/null 2>&1; then getent passwd "$u" >/dev/null 2>&1; else id -u "$u" >/dev/null 2>&1; fi || { echo ` +
	noUserMarker + ` >&2; exit 97; }; `

// userPrefix starts every script that runs as the managed user.
const userPrefix = readyCmd + "umask 077; " + pathSetup +
	`[ -n "$HOME" ] && cd "$HOME" || { echo "home directory of $(id -un) missing" >&2; exit 96; }; d="$HOME/.ssh"; f="$d/authorized_keys"; `

func (c *Client) isRoot() bool { return c.t.AdminUser == "root" }

// asRoot wraps a script to run as root (sudo -n unless the admin is root).
func (c *Client) asRoot(script string) string {
	if c.isRoot() {
		return "/bin/sh -c " + shellQuote(script)
	}
	return "sudo -n -- /bin/sh -c " + shellQuote(script)
}

// asUser wraps a script to run as the managed user.
func (c *Client) asUser(user, script string) string {
	if !c.isRoot() {
		return "sudo -n -u " + shellQuote(user) + " -H -- /bin/sh -c " + shellQuote(script)
	}
	q := shellQuote(script)
	wrapper := pathSetup + "u=" + shellQuote(user) + "; " + userCheck +
		`if command -v runuser >/dev/null 2>&1; then exec runuser -u "$u" -- /bin/sh -c ` + q +
		`; else exec su -s /bin/sh "$u" -c ` + q + `; fi`
	return "/bin/sh -c " + shellQuote(wrapper)
}

type result struct {
	out    string // stdout after the ready marker
	errOut string
	code   int
	ready  bool
}

// capBuffer keeps the first max bytes and discards the rest (but keeps
// accepting, so the remote side never blocks).
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newSession opens a session, retrying briefly when sshd refuses the channel
// (it frees a closed session's slot a moment after the client sees it
// closed, so a burst can hit MaxSessions). A failed channel open means
// nothing ran: every error it returns is ErrNotApplied.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	delay := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		sess, err := c.conn.NewSession()
		if err == nil {
			return sess, nil
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			return nil, notApplied(fmt.Errorf("%w: %s: management connection lost: %w", ErrUnreachable, c.addr, err))
		}
		if attempt == 8 {
			return nil, notApplied(fmt.Errorf("ecs: %s: cannot open session: %w", c.addr, err))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, notApplied(fmt.Errorf("ecs: %s: cannot open session: %w", c.addr, ctx.Err()))
		case <-t.C:
		}
		delay *= 2
	}
}

// run executes cmd in a new session. stdin is written only after the remote
// side printed readyMarker, then stdin is closed.
func (c *Client) run(ctx context.Context, cmd string, stdin []byte) (*result, error) {
	if c == nil || c.conn == nil {
		return nil, errors.New("ecs: client not connected")
	}
	cctx, cancel := c.commandContext(ctx)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-cctx.Done():
		return nil, notApplied(fmt.Errorf("ecs: %s: %w", c.addr, cctx.Err()))
	}
	sess, err := c.newSession(cctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	in, err := sess.StdinPipe()
	if err != nil {
		return nil, notApplied(fmt.Errorf("ecs: %s: %w", c.addr, err))
	}
	outPipe, err := sess.StdoutPipe()
	if err != nil {
		return nil, notApplied(fmt.Errorf("ecs: %s: %w", c.addr, err))
	}
	errBuf := &capBuffer{max: maxStderr}
	sess.Stderr = errBuf
	// A command whose work comes on stdin (every change: the credential,
	// the key, the lines to remove) does nothing until it is written; a
	// failure before that left the host as it was.
	var sent atomic.Bool
	unsent := func(err error) error {
		if len(stdin) > 0 && !sent.Load() {
			return notApplied(err)
		}
		return err
	}
	if err := sess.Start(cmd); err != nil {
		return nil, unsent(fmt.Errorf("%w: %s: cannot start remote command: %w", ErrUnreachable, c.addr, err))
	}

	res := &result{}
	done := make(chan error, 1)
	go func() {
		br := bufio.NewReader(outPipe)
		line, _ := br.ReadSlice('\n') // at most the 4 KiB buffer
		first := string(line)
		outBuf := &capBuffer{max: maxStdout}
		if strings.TrimRight(first, "\r\n") == readyMarker {
			res.ready = true
			if len(stdin) > 0 {
				sent.Store(true)
				_, _ = in.Write(stdin)
			}
		} else {
			outBuf.Write([]byte(first))
		}
		in.Close()
		_, _ = io.Copy(outBuf, br)
		werr := sess.Wait()
		res.out = outBuf.String()
		done <- werr
	}()

	var werr error
	select {
	case werr = <-done:
	case <-cctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		sess.Close()
		<-done
		return nil, unsent(fmt.Errorf("ecs: %s: remote command did not finish: %w", c.addr, cctx.Err()))
	}
	res.errOut = errBuf.String()
	var ee *ssh.ExitError
	var em *ssh.ExitMissingError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		res.code = ee.ExitStatus()
		if ee.Signal() != "" {
			res.code = -1
			res.errOut += "\n(killed by signal " + ee.Signal() + ")"
		}
	case errors.As(werr, &em):
		// sshd always reports how a command ended; a channel closed
		// without it means the connection went away mid-command. The
		// command may have done its work: the caller cannot tell.
		return nil, unsent(fmt.Errorf("%w: %s: the connection was lost before the host reported the outcome", ErrUnreachable, c.addr))
	default:
		return nil, unsent(fmt.Errorf("%w: %s: management connection lost: %w", ErrUnreachable, c.addr, werr))
	}
	return res, nil
}

// oneLine shortens remote stderr for an error message.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, readyMarker+"\n", "")
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	if s == "" {
		s = "(no message)"
	}
	return s
}

// check turns a result into the typed errors. secrets are redacted from any
// remote output quoted in the error.
func (c *Client) check(op, user string, r *result, secrets ...string) error {
	if r.code == 0 && r.ready {
		return nil
	}
	stderr := redact(r.errOut, secrets...)
	if strings.Contains(stderr, noUserMarker) {
		return fmt.Errorf("%w: %q on %s", ErrNoSuchUser, user, c.addr)
	}
	if !r.ready {
		if c.isRoot() {
			return fmt.Errorf("ecs: %s for %q on %s: remote command did not start (exit %d): %s", op, user, c.addr, r.code, oneLine(stderr))
		}
		if strings.Contains(stderr, "unknown user") {
			return fmt.Errorf("%w: %q on %s (sudo: unknown user)", ErrNoSuchUser, user, c.addr)
		}
		return c.sudoError(op, r.code, stderr)
	}
	return fmt.Errorf("ecs: %s for %q on %s failed (exit %d): %s", op, user, c.addr, r.code, oneLine(stderr))
}

func (c *Client) sudoError(op string, code int, stderr string) error {
	admin, lower := c.t.AdminUser, strings.ToLower(stderr)
	msg := oneLine(stderr)
	switch {
	case strings.Contains(lower, "must have a tty") || strings.Contains(lower, "requiretty"):
		return fmt.Errorf("%w: %s on %s as %q: remove requiretty for this user (e.g. 'Defaults:%s !requiretty'); kmsconsole never forces a tty because it would echo the credential (sudo said: %s)",
			ErrSudoRequiresTTY, op, c.addr, admin, admin, msg)
	case strings.Contains(lower, "password is required") || strings.Contains(lower, "terminal is required"):
		return fmt.Errorf("%w: %s on %s: sudo -n needs a password for %q (no NOPASSWD rule): %s", ErrSudo, op, c.addr, admin, msg)
	case strings.Contains(lower, "not in the sudoers") || strings.Contains(lower, "not allowed to") || strings.Contains(lower, "may not run sudo"):
		return fmt.Errorf("%w: %s on %s: %q is not allowed to use sudo: %s", ErrSudo, op, c.addr, admin, msg)
	case code == 127:
		return fmt.Errorf("%w: %s on %s: sudo is not installed: %s", ErrSudo, op, c.addr, msg)
	}
	return fmt.Errorf("%w: %s on %s as %q (exit %d): %s", ErrSudo, op, c.addr, admin, code, msg)
}

// UserExists reports whether user exists on the host (getent passwd).
func (c *Client) UserExists(ctx context.Context, user string) (bool, error) {
	if err := ValidateUser(user); err != nil {
		return false, err
	}
	script := pathSetup + "u=" + shellQuote(user) + "; " + userCheck + readyCmd
	r, err := c.run(ctx, "/bin/sh -c "+shellQuote(script), nil)
	if err != nil {
		return false, err
	}
	if r.code == exitNoUser && strings.Contains(r.errOut, noUserMarker) {
		return false, nil
	}
	if err := c.check("user lookup", user, r); err != nil {
		return false, err
	}
	return true, nil
}

// SetPassword sets user's password with chpasswd (as root, `sudo -n` when
// the admin is not root). The value is written to chpasswd's stdin only after
// sudo succeeded and the user was found.
func (c *Client) SetPassword(ctx context.Context, user, password string) error {
	if err := ValidateUser(user); err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	script := pathSetup + "u=" + shellQuote(user) + "; " + userCheck + readyCmd + "exec chpasswd"
	r, err := c.run(ctx, c.asRoot(script), []byte(user+":"+password+"\n"))
	if err != nil {
		return err
	}
	return c.check("set password", user, r, password)
}

// AddAuthorizedKey appends "<publicKey> <tag>" to user's
// ~/.ssh/authorized_keys, working as the user (0700 ~/.ssh, 0600 file). If
// the same line is already present nothing changes; if the tag is present
// with another key, that line is replaced.
func (c *Client) AddAuthorizedKey(ctx context.Context, user, publicKeyLine, tag string) error {
	if err := ValidateUser(user); err != nil {
		return err
	}
	if err := ValidateTag(tag); err != nil {
		return err
	}
	key, err := NormalizePublicKey(publicKeyLine)
	if err != nil {
		return err
	}
	sameTag := `NF==3 && substr($1,1,1)!="#" && $3==t`
	script := userPrefix +
		`mkdir -p "$d" && chmod 700 "$d" && touch "$f" && chmod 600 "$f" || exit 1; ` +
		`IFS= read -r k || [ -n "$k" ] || { echo "no key on stdin" >&2; exit 1; }; ` +
		`t=` + shellQuote(tag) + `; l="$k $t"; ` +
		`if grep -qxF -e "$l" "$f"; then echo present; exit 0; fi; ` +
		`if awk -v t="$t" '` + sameTag + ` { found=1 } END { exit !found }' "$f"; then ` +
		`tmp=$(mktemp "$d/.authorized_keys.XXXXXX") || exit 1; ` +
		`{ awk -v t="$t" '!(` + sameTag + `)' "$f" && printf '%s\n' "$l"; } > "$tmp" && chmod 600 "$tmp" && mv -f "$tmp" "$f" || { rm -f "$tmp"; exit 1; }; ` +
		`echo replaced; exit 0; fi; ` +
		`if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi; ` +
		`printf '%s\n' "$l" >> "$f" && echo added`
	r, err := c.run(ctx, c.asUser(user, script), []byte(key+"\n"))
	if err != nil {
		return err
	}
	return c.check("add authorized key", user, r)
}

// AuthorizedKeyLine is one line of a user's authorized_keys.
type AuthorizedKeyLine struct {
	// Raw is the line exactly as in the file (without its newline).
	Raw string
	// Key is the line's public key as "<type> <base64>", options and
	// comment stripped; empty for comments, blank and unparsable lines.
	Key string
	// Tag is the comment of a line the console added (exactly
	// "<type> <base64> <KeyTag>"), else empty.
	Tag string
}

// AuthorizedKeys reads and parses user's ~/.ssh/authorized_keys (as the
// user). A missing file is no lines.
func (c *Client) AuthorizedKeys(ctx context.Context, user string) ([]AuthorizedKeyLine, error) {
	if err := ValidateUser(user); err != nil {
		return nil, err
	}
	script := userPrefix + `[ -f "$f" ] || exit 0; cat "$f"`
	r, err := c.run(ctx, c.asUser(user, script), nil)
	if err != nil {
		return nil, err
	}
	if err := c.check("read authorized keys", user, r); err != nil {
		return nil, err
	}
	if len(r.out) >= maxStdout {
		return nil, fmt.Errorf("ecs: authorized_keys of %q on %s is larger than %d bytes; not touching it", user, c.addr, maxStdout)
	}
	if r.out == "" {
		return nil, nil
	}
	var lines []AuthorizedKeyLine
	for _, raw := range strings.Split(strings.TrimSuffix(r.out, "\n"), "\n") {
		lines = append(lines, parseAuthorizedKeyLine(raw))
	}
	return lines, nil
}

func parseAuthorizedKeyLine(raw string) AuthorizedKeyLine {
	l := AuthorizedKeyLine{Raw: raw}
	trimmed := strings.TrimSpace(raw)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return l
	}
	pk, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(trimmed))
	if err != nil {
		return l
	}
	l.Key = keyLine(pk)
	// A line the console added is exactly "<type> <base64> <tag>": a
	// look-alike with options was written by someone else.
	if len(options) == 0 && ValidateTag(comment) == nil && strings.Join(strings.Fields(trimmed), " ") == l.Key+" "+comment {
		l.Tag = comment
	}
	return l
}

// ManagedKeyTags lists the tags of the authorized_keys lines the console
// added for user, in file order, without duplicates.
func (c *Client) ManagedKeyTags(ctx context.Context, user string) ([]string, error) {
	lines, err := c.AuthorizedKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	var tags []string
	seen := map[string]bool{}
	for _, l := range lines {
		if l.Tag == "" || l.Key == "" || seen[l.Tag] {
			continue
		}
		seen[l.Tag] = true
		tags = append(tags, l.Tag)
	}
	return tags, nil
}

// RemoveAuthorizedKeys removes from user's authorized_keys the lines the
// console added (comment a kmsconsole tag) whose tag satisfies match.
func (c *Client) RemoveAuthorizedKeys(ctx context.Context, user string, match func(tag string) bool) (removed int, err error) {
	if match == nil {
		return 0, errors.New("ecs: RemoveAuthorizedKeys: nil match")
	}
	return c.RemoveAuthorizedKeyLines(ctx, user, func(l AuthorizedKeyLine) bool {
		return l.Tag != "" && l.Key != "" && match(l.Tag)
	})
}

// RemoveAuthorizedKeyLines removes from user's authorized_keys every line
// for which match is true, and reports how many went. The file is read and
// the choice made here; the host then drops exactly those lines (matched
// byte for byte, so a line added meanwhile is never touched), rewriting the
// file as the user via a temporary file in ~/.ssh and mv.
func (c *Client) RemoveAuthorizedKeyLines(ctx context.Context, user string, match func(AuthorizedKeyLine) bool) (removed int, err error) {
	if match == nil {
		return 0, errors.New("ecs: RemoveAuthorizedKeyLines: nil match")
	}
	lines, err := c.AuthorizedKeys(ctx, user)
	if err != nil {
		return 0, err
	}
	var del strings.Builder
	for _, l := range lines {
		if l.Key != "" && match(l) {
			del.WriteString(l.Raw + "\n")
		}
	}
	if del.Len() == 0 {
		return 0, nil
	}
	// awk reads the lines to drop from stdin ("-") first, then the file.
	script := userPrefix + `[ -f "$f" ] || { cat >/dev/null; echo 0; exit 0; }; ` +
		`tmp=$(mktemp "$d/.authorized_keys.XXXXXX") || exit 1; ` +
		`n=$(awk -v out="$tmp" 'NR==FNR { del[$0] = 1; next } ($0 in del) { c++; next } { print > out } END { close(out); print c+0 }' - "$f") || { rm -f "$tmp"; exit 1; }; ` +
		`if [ "$n" -gt 0 ]; then chmod 600 "$tmp" && mv -f "$tmp" "$f" || { rm -f "$tmp"; exit 1; }; else rm -f "$tmp"; fi; ` +
		`echo "$n"`
	r, err := c.run(ctx, c.asUser(user, script), []byte(del.String()))
	if err != nil {
		return 0, err
	}
	if err := c.check("remove authorized keys", user, r); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.out))
	if err != nil {
		return 0, fmt.Errorf("ecs: remove authorized keys for %q on %s: unexpected output %q", user, c.addr, oneLine(r.out))
	}
	return n, nil
}
