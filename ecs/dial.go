package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// dialAttempts is how often a connection dropped before the SSH
// identification exchange (sshd MaxStartups: "kex_exchange_identification")
// is tried in total.
const dialAttempts = 4

var errDropped = errors.New("connection closed by the host before SSH identification (kex_exchange_identification; sshd MaxStartups?)")

// errGotHostKey aborts the handshake once FetchHostKey has the key.
var errGotHostKey = errors.New("ecs: host key received")

// authStop aborts client authentication with a reason (never a credential).
type authStop struct{ reason string }

func (e *authStop) Error() string { return e.reason }

func address(host string, port int) string {
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// countingConn records how many bytes the server sent, to recognise a
// connection dropped before the SSH identification string, and the first
// read or write error: the SSH library turns a connection that fails in
// the middle of an authentication attempt into a failed attempt, which
// must not be read as the host refusing the credential.
type countingConn struct {
	net.Conn
	n atomic.Int64

	mu    sync.Mutex
	ioErr error
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	c.failed(err)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.failed(err)
	return n, err
}

func (c *countingConn) failed(err error) {
	// net.ErrClosed is our side closing the socket (the library does so
	// when the handshake fails), not the connection failing.
	if err == nil || errors.Is(err, net.ErrClosed) {
		return
	}
	c.mu.Lock()
	if c.ioErr == nil {
		c.ioErr = err
	}
	c.mu.Unlock()
}

// lost is the error that broke the connection during the handshake, if any.
func (c *countingConn) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ioErr
}

// hostKeyAlgos restricts the negotiated host key algorithm to the type of
// the pinned key, so that a host with several host keys presents the pinned
// one.
func hostKeyAlgos(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// pinnedConfig returns a client config that accepts exactly the pinned key.
func pinnedConfig(hostKey, user string) (*ssh.ClientConfig, ssh.PublicKey, error) {
	pinned, err := parseHostKey(hostKey)
	if err != nil {
		return nil, nil, err
	}
	want := pinned.Marshal()
	cfg := &ssh.ClientConfig{
		User:              user,
		HostKeyAlgorithms: hostKeyAlgos(pinned.Type()),
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if string(key.Marshal()) == string(want) {
				return nil
			}
			return &HostKeyMismatchError{
				Addr: hostname,
				Want: ssh.FingerprintSHA256(pinned),
				Got:  ssh.FingerprintSHA256(key),
			}
		},
	}
	return cfg, pinned, nil
}

// handshake dials addr and runs the SSH handshake, retrying connections
// dropped before identification. authErr is the sentinel reported for a
// refused login (ErrAdminAuth or ErrAuthFailed). pinned may be nil
// (FetchHostKey).
func (d Dialer) handshake(ctx context.Context, addr string, cfg *ssh.ClientConfig, pinned ssh.PublicKey, authErr error) (*ssh.Client, error) {
	backoff := 40 * time.Millisecond
	var err error
	for attempt := 1; attempt <= dialAttempts; attempt++ {
		if attempt > 1 {
			d := backoff + time.Duration(rand.Int64N(int64(backoff)))
			backoff *= 2
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctxError(ctx, addr)
			case <-t.C:
			}
		}
		var cl *ssh.Client
		cl, err = d.handshakeOnce(ctx, addr, cfg, pinned, authErr)
		if err == nil {
			return cl, nil
		}
		if !errors.Is(err, errDropped) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w (%d attempts)", err, dialAttempts)
}

// ctxError reports an ended context: a deadline counts as unreachable.
func ctxError(ctx context.Context, addr string) error {
	cerr := ctx.Err()
	if cerr == nil {
		// The socket deadline (= the context's) fired a moment before the
		// context's own timer.
		cerr = context.DeadlineExceeded
	}
	if errors.Is(cerr, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, cerr)
	}
	return fmt.Errorf("ecs: %s: %w", addr, cerr)
}

func deadlinePassed(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func (d Dialer) handshakeOnce(ctx context.Context, addr string, cfg *ssh.ClientConfig, pinned ssh.PublicKey, authErr error) (*ssh.Client, error) {
	if ctx.Err() != nil {
		return nil, ctxError(ctx, addr)
	}
	timeouts := d.Timeouts.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, timeouts.Dial)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError(ctx, addr)
		}
		return nil, fmt.Errorf("%w: connect %s: %w", ErrUnreachable, addr, err)
	}
	deadline := time.Now().Add(timeouts.Handshake)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = raw.SetDeadline(deadline)
	cc := &countingConn{Conn: raw}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn, chans, reqs, err := ssh.NewClientConn(cc, addr, cfg)
	if !stop() {
		// The context ended during the handshake and closed the socket.
		if err == nil {
			conn.Close()
		}
		return nil, ctxError(ctx, addr)
	}
	if err != nil {
		raw.Close()
		if ctx.Err() != nil || deadlinePassed(ctx) {
			return nil, ctxError(ctx, addr)
		}
		return nil, d.classifyHandshake(ctx, addr, cfg, pinned, err, cc.n.Load(), cc.lost(), authErr)
	}
	_ = raw.SetDeadline(time.Time{})
	return ssh.NewClient(conn, chans, reqs), nil
}

func (d Dialer) classifyHandshake(ctx context.Context, addr string, cfg *ssh.ClientConfig, pinned ssh.PublicKey, err error, received int64, lost, authErr error) error {
	var hk *HostKeyMismatchError
	if errors.As(err, &hk) {
		return hk
	}
	if errors.Is(err, errGotHostKey) {
		return errGotHostKey
	}
	// A refusal arrives as a message on a working connection. If the
	// connection itself failed, the attempt in progress never got an
	// answer, whatever the library reports (a host that disconnects us
	// says why in a message first).
	if lost != nil && !strings.Contains(err.Error(), "ssh: disconnect") {
		if errors.Is(lost, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: %s: SSH handshake timed out", ErrUnreachable, addr)
		}
		if received == 0 {
			return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, errDropped)
		}
		return fmt.Errorf("%w: %s: connection lost during the SSH handshake, before the host answered: %w", ErrUnreachable, addr, lost)
	}
	var stopErr *authStop
	if errors.As(err, &stopErr) {
		return fmt.Errorf("%w: %s@%s: %s", authErr, cfg.User, addr, stopErr.reason)
	}
	msg := strings.TrimPrefix(err.Error(), "ssh: handshake failed: ")
	if strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "Too many authentication failures") {
		return fmt.Errorf("%w: %s@%s: %s", authErr, cfg.User, addr, msg)
	}
	var neg *ssh.AlgorithmNegotiationError
	if errors.As(err, &neg) && neg.What == "host key" && pinned != nil {
		// The host has no key of the pinned type at all: report what it has.
		got := fmt.Sprintf("(no %s key; host offers %s)", pinned.Type(), strings.Join(neg.RequestedAlgorithms, ","))
		if line, ferr := d.FetchHostKey(ctx, hostOf(addr), portOf(addr)); ferr == nil {
			if fp, ferr := Fingerprint(line); ferr == nil {
				got = fp
			}
		}
		return &HostKeyMismatchError{Addr: addr, Want: ssh.FingerprintSHA256(pinned), Got: got}
	}
	if received == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, errDropped)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %s: SSH handshake timed out", ErrUnreachable, addr)
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %s: connection lost during SSH handshake: %w", ErrUnreachable, addr, err)
	}
	return fmt.Errorf("ecs: SSH handshake with %s: %w", addr, err)
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// fetchHostKeyAlgos is FetchHostKey's preference: ed25519 first.
var fetchHostKeyAlgos = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// FetchHostKey connects to host:port and returns the host key it presents
// ("<type> <base64>"), preferring ed25519. It does not log in. Use it to pin
// a host key (trust on first use, after an operator compared fingerprints).
func FetchHostKey(ctx context.Context, host string, port int) (string, error) {
	return Dialer{}.FetchHostKey(ctx, host, port)
}

// FetchHostKey is the package's FetchHostKey with d's timeouts.
func (d Dialer) FetchHostKey(ctx context.Context, host string, port int) (string, error) {
	if host == "" {
		return "", errors.New("ecs: empty host")
	}
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "kmsconsole-hostkey",
		HostKeyAlgorithms: fetchHostKeyAlgos,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return errGotHostKey
		},
	}
	addr := address(host, port)
	cl, err := d.handshake(ctx, addr, cfg, nil, ErrAuthFailed)
	if cl != nil {
		cl.Close()
	}
	if got != nil {
		return keyLine(got), nil
	}
	if err == nil {
		err = errors.New("ecs: no host key received")
	}
	return "", err
}

// maxSessions bounds concurrent sessions on one connection, below sshd's
// default MaxSessions 10 (the Pool hands a connection to at most as many
// callers).
const maxSessions = DefaultMaxSessions

// Client is an open management connection to one host.
type Client struct {
	t        Target
	addr     string
	conn     *ssh.Client
	sem      chan struct{} // bounds concurrent sessions (sshd MaxSessions is 10)
	timeouts Timeouts      // of the Dialer that opened it
}

// Alive reports whether the connection still answers (a keepalive round
// trip). A cached connection can die with the host's sshd; checking first
// tells "nothing ran" apart from "lost in the middle of a change".
func (c *Client) Alive(ctx context.Context) bool {
	done := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	select {
	case err := <-done:
		return err == nil
	case <-ctx.Done():
		return false
	}
}

// Dialer opens management connections and verification logins. Its
// Timeouts are fixed when it is made; the zero Dialer uses the defaults,
// and the package functions Dial, FetchHostKey, VerifyPassword, … are its
// methods on the zero Dialer.
type Dialer struct {
	Timeouts Timeouts
}

// Dial opens the management connection: public key login as t.AdminUser,
// host key pinned to t.HostKey.
func Dial(ctx context.Context, t Target) (*Client, error) { return Dialer{}.Dial(ctx, t) }

// Dial is the package's Dial with d's timeouts; the client's commands are
// bounded by d's command timeout.
func (d Dialer) Dial(ctx context.Context, t Target) (*Client, error) {
	if t.Host == "" {
		return nil, errors.New("ecs: empty host")
	}
	if err := ValidateUser(t.AdminUser); err != nil {
		return nil, fmt.Errorf("ecs: admin user: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(t.AdminKey)
	if err != nil {
		return nil, fmt.Errorf("ecs: cannot parse admin private key: %w", err)
	}
	cfg, pinned, err := pinnedConfig(t.HostKey, t.AdminUser)
	if err != nil {
		return nil, err
	}
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
	addr := address(t.Host, t.Port)
	cl, err := d.handshake(ctx, addr, cfg, pinned, ErrAdminAuth)
	if err != nil {
		return nil, err
	}
	return &Client{t: t, addr: addr, conn: cl, sem: make(chan struct{}, maxSessions), timeouts: d.Timeouts}, nil
}

// Close closes the management connection.
func (c *Client) Close() error {
	if c == nil || c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// VerifyPassword opens a FRESH SSH connection as user with password
// authentication (or keyboard-interactive answering the password) and runs
// `true`. Only one password attempt is made per call: a refused password
// costs the server's failure delay (2–4 s) once. ErrAuthFailed when the host
// refuses the login or offers neither method.
func VerifyPassword(ctx context.Context, host string, port int, hostKey, user, password string) error {
	return Dialer{}.VerifyPassword(ctx, host, port, hostKey, user, password)
}

// VerifyPassword is the package's VerifyPassword with d's timeouts.
func (d Dialer) VerifyPassword(ctx context.Context, host string, port int, hostKey, user, password string) error {
	return d.StartVerifyPassword(ctx, host, port, hostKey, user).Supply(password)
}

// PendingLogin is a verification login started before its credential
// exists. Connecting, key exchange and learning which methods the host
// offers run while the caller changes the credential on the host; the
// login completes when Supply hands over the new credential. This takes
// the verification's handshake off a rotation's critical path.
type PendingLogin struct {
	cred  chan any // string (password) or ssh.Signer
	abort chan struct{}
	done  chan error
	once  sync.Once
}

func newPendingLogin() *PendingLogin {
	return &PendingLogin{cred: make(chan any, 1), abort: make(chan struct{}), done: make(chan error, 1)}
}

// await returns the credential once supplied (or fails when abandoned).
func (p *PendingLogin) await(ctx context.Context) (any, error) {
	select {
	case c := <-p.cred:
		p.cred <- c // later auth rounds may need it again
		return c, nil
	case <-p.abort:
		return nil, &authStop{"verification abandoned"}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Supply hands over the credential and waits for the login's verdict.
func (p *PendingLogin) Supply(credential any) error {
	if pw, ok := credential.(string); ok {
		if err := validatePassword(pw); err != nil {
			p.Abort()
			<-p.done
			return err
		}
	}
	p.once.Do(func() { p.cred <- credential })
	return <-p.done
}

// Abort abandons the login (the change it was to verify did not happen).
func (p *PendingLogin) Abort() {
	select {
	case <-p.abort:
	default:
		close(p.abort)
	}
}

// StartVerifyPassword starts a password verification login as user; call
// Supply with the password (or Abort).
func StartVerifyPassword(ctx context.Context, host string, port int, hostKey, user string) *PendingLogin {
	return Dialer{}.StartVerifyPassword(ctx, host, port, hostKey, user)
}

// StartVerifyPassword is the package's StartVerifyPassword with d's timeouts.
func (d Dialer) StartVerifyPassword(ctx context.Context, host string, port int, hostKey, user string) *PendingLogin {
	return d.startLogin(ctx, host, port, hostKey, user, func(p *PendingLogin, used *atomic.Bool) authCallback {
		return passwordAuth(ctx, p, used)
	})
}

// passwordAuth answers the host's password or keyboard-interactive prompt
// once, with the credential the PendingLogin is given.
func passwordAuth(ctx context.Context, p *PendingLogin, used *atomic.Bool) authCallback {
	password := func() (string, error) {
		c, err := p.await(ctx)
		if err != nil {
			return "", err
		}
		used.Store(true)
		return c.(string), nil
	}
	kbdRounds := 0
	answer := func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		kbdRounds++
		if kbdRounds > 1 {
			return nil, &authStop{"host asked for more than the password (keyboard-interactive)"}
		}
		answers := make([]string, len(questions))
		for i, q := range questions {
			lq := strings.ToLower(q)
			if echos[i] {
				return nil, &authStop{fmt.Sprintf("unexpected keyboard-interactive prompt %q", q)}
			}
			if strings.Contains(lq, "new") || strings.Contains(lq, "retype") {
				return nil, &authStop{"host requires a password change"}
			}
			pw, err := password()
			if err != nil {
				return nil, err
			}
			answers[i] = pw
		}
		return answers, nil
	}
	return func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
		for _, m := range ac.TriedMethods {
			if m == "password" || m == "keyboard-interactive" {
				return nil, &authStop{"password refused"}
			}
		}
		for _, m := range ac.PartialSuccessMethods {
			if m == "password" || m == "keyboard-interactive" {
				return nil, &authStop{fmt.Sprintf("host requires further authentication (%s)", strings.Join(ac.AllowedMethods, ","))}
			}
		}
		if contains(ac.AllowedMethods, "password") {
			return ssh.PasswordCallback(password), nil
		}
		if contains(ac.AllowedMethods, "keyboard-interactive") {
			return ssh.KeyboardInteractive(answer), nil
		}
		return nil, &authStop{fmt.Sprintf("host does not offer password authentication (offers: %s)", strings.Join(ac.AllowedMethods, ","))}
	}
}

// authCallback picks the auth method for one round (ssh.ClientConfig.AuthCallback).
type authCallback = func(*ssh.ClientAuthContext) (ssh.AuthMethod, error)

// startLogin begins a verification login as user; auth builds the
// callback that waits for the PendingLogin's credential.
func (d Dialer) startLogin(ctx context.Context, host string, port int, hostKey, user string, auth func(*PendingLogin, *atomic.Bool) authCallback) *PendingLogin {
	p := newPendingLogin()
	if err := ValidateUser(user); err != nil {
		p.done <- err
		return p
	}
	cfg, pinned, err := pinnedConfig(hostKey, user)
	if err != nil {
		p.done <- err
		return p
	}
	var used atomic.Bool
	cfg.AuthCallback = auth(p, &used)
	go func() { p.done <- d.verify(ctx, address(host, port), cfg, pinned, &used) }()
	return p
}

func VerifyKey(ctx context.Context, host string, port int, hostKey, user string, privateKeyPEM []byte) error {
	return Dialer{}.VerifyKey(ctx, host, port, hostKey, user, privateKeyPEM)
}

// VerifyKey is the package's VerifyKey with d's timeouts.
func (d Dialer) VerifyKey(ctx context.Context, host string, port int, hostKey, user string, privateKeyPEM []byte) error {
	signer, err := ssh.ParsePrivateKey(privateKeyPEM)
	if err != nil {
		return fmt.Errorf("ecs: cannot parse private key: %w", err)
	}
	return d.StartVerifyKey(ctx, host, port, hostKey, user).Supply(signer)
}

// StartVerifyKey starts a public-key verification login as user; call
// Supply with the ssh.Signer of the new private key (or Abort).
func StartVerifyKey(ctx context.Context, host string, port int, hostKey, user string) *PendingLogin {
	return Dialer{}.StartVerifyKey(ctx, host, port, hostKey, user)
}

// StartVerifyKey is the package's StartVerifyKey with d's timeouts.
func (d Dialer) StartVerifyKey(ctx context.Context, host string, port int, hostKey, user string) *PendingLogin {
	return d.startLogin(ctx, host, port, hostKey, user, func(p *PendingLogin, used *atomic.Bool) authCallback {
		return func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			if contains(ac.TriedMethods, "publickey") {
				return nil, &authStop{"public key refused"}
			}
			if len(ac.PartialSuccessMethods) > 0 {
				return nil, &authStop{fmt.Sprintf("host requires further authentication (%s)", strings.Join(ac.AllowedMethods, ","))}
			}
			if !contains(ac.AllowedMethods, "publickey") {
				return nil, &authStop{fmt.Sprintf("host does not offer public key authentication (offers: %s)", strings.Join(ac.AllowedMethods, ","))}
			}
			c, err := p.await(ctx)
			if err != nil {
				return nil, err
			}
			signer, ok := c.(ssh.Signer)
			if !ok {
				return nil, &authStop{"a key verification needs an ssh.Signer"}
			}
			used.Store(true)
			return ssh.PublicKeys(signer), nil
		}
	})
}

func (d Dialer) verify(ctx context.Context, addr string, cfg *ssh.ClientConfig, pinned ssh.PublicKey, used *atomic.Bool) error {
	cl, err := d.handshake(ctx, addr, cfg, pinned, ErrAuthFailed)
	if err != nil {
		return err
	}
	defer cl.Close()
	if !used.Load() {
		// "none" authentication succeeded: the login proves nothing.
		return fmt.Errorf("ecs: %s@%s: host accepted the login without the credential (empty password permitted?)", cfg.User, addr)
	}
	// The host accepted the credential: sshd has already run PAM's account
	// checks (expiry, lock) before reporting success. A session is not
	// opened: it costs a login shell's start-up and would fail for users
	// whose shell is nologin (SFTP-only), whose credential is still valid.
	return nil
}

// commandContext bounds one remote command by the client's command
// timeout, unless the caller's context already has a deadline.
func (c *Client) commandContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeouts.withDefaults().Command)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
