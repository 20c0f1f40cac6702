// Package serve is `kmsconsole serve` (SPEC §5): an SSH server (wish) that
// gives each registered operator the console, or runs their `kms ...` and
// `audit` commands, with the operator's own role; it also runs the
// scheduler, and on SIGINT/SIGTERM lets running rotations finish before it
// exits.
package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/charmbracelet/wish/activeterm"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"kmsconsole/cli"
	"kmsconsole/events"
	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui"
)

// DefaultListen is where serve listens unless told otherwise: loopback
// only, so exposing it is a deliberate choice.
const DefaultListen = "127.0.0.1:2222"

// DefaultDrainTimeout bounds how long shutdown waits for running rotations.
const DefaultDrainTimeout = 2 * time.Minute

// Config configures a Server.
type Config struct {
	// Listen is the address ListenAndServe binds; DefaultListen if empty.
	Listen string
	// HostKeyPath is the server's ed25519 host key, created 0600 on first
	// start (see DefaultHostKeyPath). Required.
	HostKeyPath string
	// Events, when set, configures the delivery of the store's events
	// (SPEC §9: --on-event, --event-webhook); the worker runs while serve
	// serves, beside Background.
	Events *events.Config
	// Log receives one line per thing that happens (never a value);
	// os.Stderr if nil.
	Log io.Writer
	// Background runs while serve serves and is stopped (its context
	// ends) when shutdown begins, before running rotations are drained:
	// the rotation scheduler, which the caller wires (package app), or
	// nil for none. logf writes to serve's log.
	Background func(ctx context.Context, logf func(line string))
	// DrainTimeout bounds the wait for running rotations at shutdown;
	// DefaultDrainTimeout if zero.
	DrainTimeout time.Duration
	// LoginTimeout bounds a connection's handshake and authentication, up
	// to its first session; DefaultLoginTimeout if zero.
	LoginTimeout time.Duration
	// RecheckEvery is how often an open console looks its operator up
	// again; DefaultRecheckEvery if zero.
	RecheckEvery time.Duration
}

// DefaultRecheckEvery bounds how long a console outlives the removal of its
// operator, or a change of their role: a removed key must stop working in
// seconds, not at the next login. Actions check the registry themselves too.
const DefaultRecheckEvery = 2 * time.Second

// DefaultLoginTimeout is how long a connection may take to log in and open
// a session: a client that never does is dropped.
const DefaultLoginTimeout = 30 * time.Second

// StoreUnreachableBanner is shown to an SSH client, before its login is
// refused, when the operator registry cannot be read (the store is down or
// unreachable): otherwise all it sees is "Permission denied (publickey)".
// It says why and nothing more: never the store's address or its error,
// which the log has.
const StoreUnreachableBanner = "kmsconsole: the secret store cannot be reached; logins fail until it is back\r\n"

// registryReadTimeout bounds the registry read at the start of a login, so
// a store that hangs rather than refuses still gets the client the banner.
const registryReadTimeout = 10 * time.Second

// loginRegistryFresh is how long the registry read at the start of a login
// may stand in for the read of the first key the client offers.
const loginRegistryFresh = 5 * time.Second

// Server is one serve instance.
type Server struct {
	cfg Config
	svc *service.Service // the base service: scheduler, drain, operator look-ups
	ssh *ssh.Server
	pub gossh.PublicKey
	log *logger // escapes what clients send: no forged lines

	events *events.Worker // delivers the outbox (nil: no channel configured)

	closing  atomic.Bool
	mu       sync.Mutex
	sessions map[ssh.Session]*sessionState
}

// sessionState is what shutdown needs to know about a running session.
type sessionState struct {
	program *tea.Program // the console, once started
	exec    bool
	ended   string // why the operator check ended the session, if it did
}

// ctxKey carries the session's operator service in the ssh context.
type ctxKey struct{}

// connKey carries the connection's *loginConn in the ssh context.
type connKey struct{}

// registryKey carries the connection's *registryRead in the ssh context
// until its first key is checked.
type registryKey struct{}

// registryRead is the operator registry as the start of a login read it.
type registryRead struct {
	at  time.Time
	ops []model.Operator
	err error
}

// Permissions extensions the auth handler sets for the key it accepted.
const (
	extOperator = "kmsconsole-operator"
	extRole     = "kmsconsole-role"
)

// New prepares a server over svc (the service the command line opened).
// It loads or creates the host key; nothing listens until Serve.
func New(svc *service.Service, cfg Config) (*Server, error) {
	if cfg.HostKeyPath == "" {
		return nil, errors.New("serve: no host key path")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	if cfg.RecheckEvery <= 0 {
		cfg.RecheckEvery = DefaultRecheckEvery
	}
	s := &Server{
		cfg:      cfg,
		svc:      svc,
		log:      &logger{log.New(cfg.Log, "kmsconsole serve: ", log.LstdFlags|log.LUTC|log.Lmsgprefix)},
		sessions: map[ssh.Session]*sessionState{},
	}
	if cfg.Events != nil {
		ecfg := *cfg.Events
		if ecfg.CommandOutput == nil {
			ecfg.CommandOutput = cfg.Log
		}
		if ecfg.Log == nil {
			ecfg.Log = func(line string) { s.log.Print("events: " + line) }
		}
		// The service wakes the worker after each commit that queued
		// events, in every copy As makes: each session's changes too.
		w, err := svc.EventWorker(ecfg)
		if err != nil {
			return nil, err
		}
		s.events = w
	}
	signer, pemBytes, created, err := loadOrCreateHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s.pub = signer.PublicKey()
	if created {
		s.log.Printf("created host key %s", cfg.HostKeyPath)
	}
	// Middlewares run last-first: logging (ours: it never prints the
	// command's arguments, which may hold a value), then exec commands,
	// then activeterm for sessions without a terminal, then the console.
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Listen),
		wish.WithHostKeyPEM(pemBytes),
		wish.WithPublicKeyAuth(s.authenticate),
		wish.WithBannerHandler(s.banner),
		wish.WithMiddleware(
			// Ascii as the minimum: never force colours on a client (NO_COLOR).
			bm.MiddlewareWithProgramHandler(s.console, termenv.Ascii),
			activeterm.Middleware(),
			s.execMiddleware,
			s.sessionMiddleware,
		),
	)
	if err != nil {
		return nil, err
	}
	srv.ConnCallback = func(ctx ssh.Context, c net.Conn) net.Conn {
		lc := newLoginConn(c, time.Now().Add(cfg.LoginTimeout))
		ctx.SetValue(connKey{}, lc)
		return lc
	}
	srv.ConnectionFailedCallback = func(c net.Conn, err error) {
		// Refused keys are logged by authenticate; scanners hang up (EOF).
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "no auth passed yet") {
			s.log.Printf("connection from %s failed: %v", c.RemoteAddr(), err)
		}
	}
	s.ssh = srv
	return s, nil
}

// HostKey is the server's public host key as an authorized_keys line
// ("ssh-ed25519 AAAA…"), for known_hosts files.
func (s *Server) HostKey() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.pub)))
}

// Fingerprint is the host key's SHA256 fingerprint, as ssh prints it.
func (s *Server) Fingerprint() string { return gossh.FingerprintSHA256(s.pub) }

// ListenAndServe listens on cfg.Listen and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ctx, l)
}

// Serve accepts connections on l and runs Background (the scheduler) until ctx ends,
// then shuts down gracefully: it stops accepting, lets running rotations
// finish (the service refuses new ones), lets commands in flight answer,
// ends console sessions and returns. l is closed.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	schedCtx, stopSched := context.WithCancel(context.Background())
	defer stopSched()
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		var worker sync.WaitGroup
		if s.events != nil {
			worker.Add(1)
			go func() {
				defer worker.Done()
				s.events.Run(schedCtx)
			}()
		}
		if s.cfg.Background != nil {
			s.cfg.Background(schedCtx, func(line string) { s.log.Print("scheduler: " + line) })
		}
		worker.Wait()
	}()

	served := make(chan error, 1)
	go func() { served <- s.ssh.Serve(l) }()
	s.log.Printf("listening on %s", l.Addr())
	s.log.Printf("host key %s %s", s.pub.Type(), s.Fingerprint())
	s.log.Print(operatorSummary(ctx, s.svc))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		if errors.Is(serveErr, ssh.ErrServerClosed) {
			serveErr = nil
		}
	}
	return errors.Join(serveErr, s.shutdown(stopSched, schedDone))
}

// shutdown is the graceful stop (SPEC §5: never interrupt a rotation).
func (s *Server) shutdown(stopSched func(), schedDone <-chan struct{}) error {
	s.closing.Store(true)
	s.log.Printf("shutting down: no new connections; waiting up to %s for running rotations", s.cfg.DrainTimeout)
	// Shutdown closes the listeners at once, then waits for connections;
	// we end those ourselves below, so its wait is cut short by Close.
	shutCtx, cancelShut := context.WithCancel(context.Background())
	defer cancelShut()
	go s.ssh.Shutdown(shutCtx)
	stopSched()

	drainCtx, cancelDrain := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancelDrain()
	drainErr := s.svc.Drain(drainCtx)
	select {
	case <-schedDone:
	case <-drainCtx.Done():
	}
	// Commands in flight (their rotation done) write their answer and exit.
	s.waitSessions(func(st *sessionState) bool { return st.exec }, 10*time.Second)
	// Consoles are told to quit: the terminal is restored, exit status 0.
	s.mu.Lock()
	for _, st := range s.sessions {
		if st.program != nil {
			st.program.Quit()
		}
	}
	s.mu.Unlock()
	s.waitSessions(func(*sessionState) bool { return true }, 3*time.Second)
	_ = s.ssh.Close()
	if drainErr != nil {
		s.log.Printf("stopped with rotations still running after %s; the next start settles them", s.cfg.DrainTimeout)
		return fmt.Errorf("rotations still running after %s: %w", s.cfg.DrainTimeout, drainErr)
	}
	s.log.Printf("stopped")
	return nil
}

// waitSessions waits until no session matching match is left, or d passes.
func (s *Server) waitSessions(match func(*sessionState) bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := 0
		for _, st := range s.sessions {
			if match(st) {
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authenticate accepts a key that belongs to a registered operator, from
// an address its from= option allows. The registry is read for every
// attempt (for the first key of a connection, by the banner an instant
// before), so `operator add/remove` takes effect for new connections at
// once; the session re-reads it when it starts.
func (s *Server) authenticate(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.closing.Load() {
		return false
	}
	ops, err := s.loginRegistry(ctx)
	var op *model.Operator
	if err == nil {
		op, err = matchOperator(ops, key, ctx.RemoteAddr())
	}
	var refused *keyRefused
	switch {
	case errors.As(err, &refused):
		s.log.Printf("refused key %s %s of operator %s from %s: %s", key.Type(), gossh.FingerprintSHA256(key), refused.operator, ctx.RemoteAddr(), refused.reason)
		return false
	case err != nil:
		s.log.Printf("login from %s refused: %v", ctx.RemoteAddr(), err)
		return false
	case op == nil:
		s.log.Printf("refused key %s %s from %s", key.Type(), gossh.FingerprintSHA256(key), ctx.RemoteAddr())
		return false
	}
	// Recorded in the permissions of this very key: the SSH library hands
	// the session the permissions of the key that actually authenticated.
	p := ctx.Permissions()
	if p.Extensions == nil {
		p.Extensions = map[string]string{}
	}
	p.Extensions[extOperator] = op.Name
	p.Extensions[extRole] = op.Role
	return true
}

// sessionMiddleware resolves the session's operator, logs the login and
// logout, keeps a panic in one session from taking the server down, and
// tracks the session for shutdown.
func (s *Server) sessionMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		remote := sess.RemoteAddr().String()
		if s.closing.Load() {
			fmt.Fprint(sess.Stderr(), "kmsconsole serve is shutting down; try again shortly\r\n")
			_ = sess.Exit(1)
			return
		}
		if lc, ok := sess.Context().Value(connKey{}).(*loginConn); ok {
			lc.loggedIn()
		}
		op, err := s.sessionOperator(sess)
		if err != nil {
			s.log.Printf("session from %s refused: %v", remote, err)
			fmt.Fprintf(sess.Stderr(), "kmsconsole: %v\r\n", err)
			_ = sess.Exit(1)
			return
		}
		opSvc := s.svc.As(service.Actor{Name: op.Name, Role: op.Role, Recheck: s.recheck(sess.PublicKey(), op.Name, sess.RemoteAddr())})
		sess.Context().SetValue(ctxKey{}, opSvc)
		st := &sessionState{exec: len(sess.Command()) > 0}
		s.mu.Lock()
		s.sessions[sess] = st
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
		}()

		what := "console"
		if st.exec {
			what = describeCommand(sess.Command())
		} else if _, _, ok := sess.Pty(); !ok {
			what = "no terminal, no command"
		}
		// The command, the SSH user name and the client's version string
		// are the client's choice: the log escapes them.
		s.log.Printf("login %s (%s) from %s: %s (ssh user %s, client %s)", op.Name, op.Role, remote, what, sess.User(), sess.Context().ClientVersion())
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				// The panic value may hold anything; log only where it was.
				s.log.Lines(fmt.Sprintf("session of %s from %s panicked (%T); stack:", op.Name, remote, r), string(debug.Stack()))
				_ = sess.Exit(1)
			}
			s.log.Printf("logout %s from %s after %s", op.Name, remote, time.Since(start).Round(time.Millisecond))
		}()
		if !st.exec {
			stopWatch := s.watchOperator(sess, st, opSvc.Actor())
			defer stopWatch()
		}
		next(sess)
		s.mu.Lock()
		ended := st.ended
		s.mu.Unlock()
		switch {
		case ended != "":
			fmt.Fprintf(sess.Stderr(), "kmsconsole: %s; the session has ended.\r\n", ended)
			_ = sess.Exit(1)
		case !st.exec && s.closing.Load():
			fmt.Fprint(sess.Stderr(), "kmsconsole serve is shutting down.\r\n")
		}
	}
}

// sessionOperator is the operator of the key that authenticated the
// connection, looked up again now (it may have been removed since).
func (s *Server) sessionOperator(sess ssh.Session) (*operator, error) {
	key := sess.PublicKey()
	if key == nil {
		return nil, errors.New("no public key authenticated this session")
	}
	name := sess.Permissions().Extensions[extOperator]
	role, err := s.currentRole(sess.Context(), key, name, sess.RemoteAddr())
	if err != nil {
		return nil, err
	}
	return &operator{Name: name, Role: role}, nil
}

type operator struct{ Name, Role string }

// errNotOperator: the key a session logged in with no longer belongs to the
// operator it logged in as (removed, or the key given to someone else).
var errNotOperator = errors.New("the key of this session no longer belongs to an operator")

// currentRole is the role that operator name, logged in with key from
// remote, has in the registry now: at login, at each privileged action
// (recheck) and at each tick of an open console (watchOperator).
func (s *Server) currentRole(ctx context.Context, key gossh.PublicKey, name string, remote net.Addr) (string, error) {
	op, err := s.operatorFor(ctx, key, remote)
	if err != nil {
		return "", err
	}
	if op == nil || op.Name != name {
		return "", errNotOperator
	}
	return op.Role, nil
}

// recheck is Actor.Recheck for the operator who logged in with key as name.
func (s *Server) recheck(key gossh.PublicKey, name string, remote net.Addr) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) { return s.currentRole(ctx, key, name, remote) }
}

// keyRefused: the key is an operator's, but may not log in from the
// client's address (its from= list), or at all (an option serve does not
// support, or a key registered twice).
type keyRefused struct{ operator, reason string }

func (e *keyRefused) Error() string {
	return "the key of operator " + e.operator + " is refused: " + e.reason
}

// operatorFor finds the operator whose registered key is key and checks
// the key line's options against a client at remote. nil, nil: no operator
// has this key. The key is compared by its blob, so a stored line may carry
// options (from=) or not; one with an option serve does not support is
// refused with the reason, never taken without it.
func (s *Server) operatorFor(ctx context.Context, key gossh.PublicKey, remote net.Addr) (*model.Operator, error) {
	ops, err := s.operators(ctx)
	if err != nil {
		return nil, err
	}
	return matchOperator(ops, key, remote)
}

// operators reads the operator registry.
func (s *Server) operators(ctx context.Context) ([]model.Operator, error) {
	ops, err := s.svc.Operators(ctx)
	if err != nil {
		return nil, fmt.Errorf("operator look-up failed: %v", err)
	}
	return ops, nil
}

// banner is the SSH banner, sent before the first authentication attempt of
// every connection: empty unless the operator registry cannot be read, then
// StoreUnreachableBanner. The registry is read here, once, and the first key
// the client offers is checked against this read (loginRegistry), so a
// login reads the registry as often as without a banner; a client that
// never asks to authenticate (a port scanner) costs no read.
func (s *Server) banner(ctx ssh.Context) string {
	if s.closing.Load() {
		return ""
	}
	rctx, cancel := context.WithTimeout(ctx, registryReadTimeout)
	defer cancel()
	ops, err := s.operators(rctx)
	ctx.SetValue(registryKey{}, &registryRead{at: time.Now(), ops: ops, err: err})
	if err != nil {
		return StoreUnreachableBanner
	}
	return ""
}

// loginRegistry is the registry for the key authenticate checks: the read
// the banner made for this connection if it is the first key and the read
// is fresh (a failed read is not made again: the client was just told),
// else a new read.
func (s *Server) loginRegistry(ctx ssh.Context) ([]model.Operator, error) {
	if r, _ := ctx.Value(registryKey{}).(*registryRead); r != nil {
		ctx.SetValue(registryKey{}, (*registryRead)(nil))
		if time.Since(r.at) < loginRegistryFresh {
			return r.ops, r.err
		}
	}
	return s.operators(ctx)
}

// matchOperator finds the operator of ops whose registered key is key and
// checks the key line's options against a client at remote (see
// operatorFor).
func matchOperator(ops []model.Operator, key gossh.PublicKey, remote net.Addr) (*model.Operator, error) {
	var found *model.Operator
	var options []string
	for i := range ops {
		pk, opts, err := model.ParseOperatorKeyLine(ops[i].PublicKey)
		if err != nil || !bytes.Equal(pk.Marshal(), key.Marshal()) {
			continue
		}
		if found != nil {
			return nil, &keyRefused{operator: found.Name, reason: "the same key is also registered to operator " + ops[i].Name}
		}
		found, options = &ops[i], opts
	}
	if found == nil {
		return nil, nil
	}
	from, err := model.OperatorKeyOptions(options)
	if err != nil {
		return nil, &keyRefused{operator: found.Name, reason: "its registered key line: " + err.Error()}
	}
	ok := &model.OperatorKey{Key: key, From: from}
	if !ok.AllowsFrom(remote) {
		return nil, &keyRefused{operator: found.Name, reason: fmt.Sprintf("the client's address is not in the key's from=%q list", strings.Join(from, ","))}
	}
	return found, nil
}

// watchOperator ends the console of an operator who has been removed, or
// whose role has changed, since the session began: the screens offer
// actions by the role at login, and the key may be the one that leaked.
// A failed look-up (a busy store) is tried again at the next tick rather
// than taken as removal.
func (s *Server) watchOperator(sess ssh.Session, st *sessionState, actor service.Actor) (stop func()) {
	ctx, cancel := context.WithCancel(sess.Context())
	go func() {
		t := time.NewTicker(s.cfg.RecheckEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			role, err := s.currentRole(ctx, sess.PublicKey(), actor.Name, sess.RemoteAddr())
			var why string
			var refused *keyRefused
			switch {
			case errors.Is(err, errNotOperator):
				why = "operator " + actor.Name + " has been removed"
			case errors.As(err, &refused):
				why = refused.Error()
			case err != nil, role == actor.Role:
				continue
			default:
				why = fmt.Sprintf("the role of operator %s changed from %s to %s; log in again", actor.Name, actor.Role, role)
			}
			s.log.Printf("ending the console of %s from %s: %s", actor.Name, sess.RemoteAddr(), why)
			s.mu.Lock()
			st.ended = why
			p := st.program
			s.mu.Unlock()
			if p != nil {
				// Quit restores the client's terminal; a rotation the
				// console started goes on in the service and finishes.
				p.Quit()
			} else {
				_ = sess.Close()
			}
			return
		}
	}()
	return cancel
}

// describeCommand names what an exec session runs, for the log: the command
// and, for kms, the action — never the parameters (they may hold a value).
func describeCommand(cmd []string) string {
	var words []string
	for _, w := range cmd {
		if strings.HasPrefix(w, "-") {
			break
		}
		words = append(words, w)
		if len(words) == 2 {
			break
		}
	}
	if len(words) == 0 {
		return "exec (flags only)"
	}
	return "exec " + strings.Join(words, " ")
}

// execMiddleware runs `ssh host kms ...` (and `audit`, `--help`) through
// the command line with the operator's service, and exits with its status.
// A session with neither a command nor a terminal gets a clear message.
func (s *Server) execMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		opSvc, _ := sess.Context().Value(ctxKey{}).(*service.Service)
		if opSvc == nil {
			_ = sess.Exit(1)
			return
		}
		if cmd := sess.Command(); len(cmd) > 0 {
			code := cli.Run(cmd, &cli.Env{Stdin: sess, Stdout: sess, Stderr: sess.Stderr(), Service: opSvc, Context: sess.Context()})
			_ = sess.Exit(code)
			return
		}
		if _, _, ok := sess.Pty(); !ok {
			fmt.Fprint(sess.Stderr(), "kmsconsole: the console needs a terminal (ssh -t), or give a command, e.g.\n"+
				"  ssh -p PORT HOST kms ListSecrets\n"+
				"  ssh -p PORT HOST kms GetSecretValue --SecretName NAME\n"+
				"  ssh -p PORT HOST --help\n")
			_ = sess.Exit(1)
			return
		}
		next(sess)
	}
}

// console makes the session's Bubble Tea program: the console on the
// operator's service, styled by the session's own renderer.
func (s *Server) console(sess ssh.Session) *tea.Program {
	opSvc, _ := sess.Context().Value(ctxKey{}).(*service.Service)
	pty, _, ok := sess.Pty()
	if opSvc == nil || !ok {
		return nil
	}
	m := ui.New(opSvc, ui.Options{
		Renderer: bm.MakeRenderer(sess),
		Width:    pty.Window.Width,
		Height:   pty.Window.Height,
		Context:  sess.Context(),
	})
	opts := append([]tea.ProgramOption{
		tea.WithAltScreen(),
		// The server's SIGTERM is handled by shutdown, which lets
		// rotations finish first; it must not quit every console at once.
		tea.WithoutSignalHandler(),
		tea.WithEnvironment(append(sess.Environ(), "TERM="+pty.Term)),
	}, bm.MakeOptions(sess)...)
	p := tea.NewProgram(m, opts...)
	s.mu.Lock()
	if st := s.sessions[sess]; st != nil {
		st.program = p
	}
	s.mu.Unlock()
	return p
}

// operatorSummary names the registered operators (for the start-up log).
func operatorSummary(ctx context.Context, svc *service.Service) string {
	ops, err := svc.Operators(ctx)
	if err != nil {
		return "operators: " + err.Error()
	}
	if len(ops) == 0 {
		return "no operators registered: add one with `kmsconsole operator add --name NAME --key FILE --role admin`"
	}
	names := make([]string, 0, len(ops))
	for _, o := range ops {
		names = append(names, o.Name+" ("+o.Role+")")
	}
	sort.Strings(names)
	return fmt.Sprintf("%d operators: %s", len(ops), strings.Join(names, ", "))
}

// loginConn holds a connection to a deadline until its first session: the
// SSH library clears deadlines on every read and write (no idle timeout is
// set), so the login deadline is re-imposed here until loggedIn.
type loginConn struct {
	net.Conn
	mu    sync.Mutex
	until time.Time // zero once logged in
}

func newLoginConn(c net.Conn, until time.Time) *loginConn {
	lc := &loginConn{Conn: c, until: until}
	_ = c.SetDeadline(until)
	return lc
}

func (c *loginConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.until.IsZero() && (t.IsZero() || t.After(c.until)) {
		t = c.until
	}
	return c.Conn.SetDeadline(t)
}

func (c *loginConn) loggedIn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.until.IsZero() {
		c.until = time.Time{}
		_ = c.Conn.SetDeadline(time.Time{})
	}
}
