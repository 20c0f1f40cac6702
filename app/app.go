// Package app wires kmsconsole's process together, in one place: the
// hardening of the process, the command line (package cli), and the two
// commands cli cannot hold because they import it: the console, with the
// scheduler running while it is open, and serve. main only calls Main.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"kmsconsole/apiserver"
	"kmsconsole/cli"
	"kmsconsole/events"
	"kmsconsole/model"
	"kmsconsole/scheduler"
	"kmsconsole/serve"
	"kmsconsole/service"
	"kmsconsole/ui"
)

// Main runs one command line with the process's standard streams and
// returns the exit status.
func Main(args []string) int {
	// Before any key or value is in memory: no core dumps, not dumpable.
	if err := serve.HardenProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "kmsconsole: %v\n", err)
		return 1
	}
	env := &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	return cli.Run(args, env, Commands()...)
}

// Commands are what app adds to cli's command table: the console, which
// runs when the line names no command, and serve.
func Commands() []*cli.Command {
	return []*cli.Command{consoleCommand(), serveCommand(), apiCommand()}
}

// drainTimeout bounds how long leaving the console waits for the
// rotations it started.
const drainTimeout = 2 * time.Minute

func consoleCommand() *cli.Command {
	return &cli.Command{
		Name:    "",
		Summary: "Open the console (needs a terminal); automatic rotations run while it is open.",
		Run:     runConsole,
	}
}

// runConsole opens the console on the store, with the scheduler running
// (SPEC §3): its first pass settles rotations a crash interrupted. Leaving
// lets the rotations in flight finish.
func runConsole(env *cli.Env, _ *cli.Args) int {
	if !cli.IsTerminal(env.Stdin) || !cli.IsTerminal(env.Stdout) {
		return env.Fail(model.Errorf(model.CodeInvalidParameter,
			"the console needs a terminal (standard input and output are not one); scripts use 'kmsconsole kms <Action>', see kmsconsole --help"))
	}
	return env.WithService(func(svc *service.Service) error {
		ctx, cancel := context.WithCancel(context.Background())
		go scheduler.Run(ctx, svc, scheduler.DefaultTick, nil)
		err := ui.Run(svc)
		cancel()
		drainCtx, stop := context.WithTimeout(context.Background(), drainTimeout)
		defer stop()
		svc.Drain(drainCtx)
		return err
	})
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:    "serve",
		Summary: "Serve the console and the kms, rotate and audit commands over SSH; run the scheduler.",
		Flags: []cli.Flag{
			{Name: "listen", Value: "ADDR", Default: serve.DefaultListen, Usage: "the address to listen on (0.0.0.0:2222 accepts other machines)"},
			{Name: "on-event", Value: "CMD", Usage: "run CMD with /bin/sh for each event (rotation succeeded, failed or settled; secret created, deleted, restored, purged), its JSON on stdin (never a value); exit 0 acknowledges it"},
			{Name: "on-rotation-failure", Value: "CMD", Usage: "the older name of --on-event (it now hears every event type: look at .Type)"},
			{Name: "event-webhook", Value: "URL", Usage: "POST each event's JSON to URL over HTTPS, signed in X-Kmsconsole-Signature (HMAC-SHA256); a 2xx answer acknowledges it"},
			{Name: "event-webhook-secret-file", Value: "FILE", Usage: "the HMAC key of --event-webhook (required with it)"},
			{Name: "host-key", Value: "PATH", Usage: "the server's ed25519 host key, created 0600 if missing (default " + serve.HostKeyFile + " beside the store)"},
			{Name: "api-listen", Value: "ADDR", Usage: "also serve the KMS OpenAPI over HTTPS on ADDR, for the official SDKs (off unless given)"},
			{Name: "tls-cert", Value: "PATH", Usage: "the API's TLS certificate (PEM); default: a self-signed one made in the data directory"},
			{Name: "tls-key", Value: "PATH", Usage: "the private key of --tls-cert (PEM)"},
			{Name: "api-insecure-http", Switch: true, Usage: "serve the API over plain HTTP instead; only on a loopback address"},
			{Name: "scheduler-tick", Value: "DURATION", Default: scheduler.DefaultTick.String(), Usage: "how often the scheduler looks for due rotations, purges and interrupted rotations"},
			{Name: "lease-ttl", Value: "DURATION", Default: service.DefaultLeaseTTL.String(), Usage: "how long a rotation lease lasts unless renewed: a replica that dies mid-rotation holds its secret that long (replicas of one database should agree)"},
		},
		Help: `Only public keys of registered operators log in ('kmsconsole operator add'); the
registry is read on every login, so changes need no restart. Each operator acts
with their own role, and the audit log names them.
  ssh -p 2222 HOST                       the console (needs a terminal)
  ssh -p 2222 HOST kms ListSecrets       one 'kms ...', 'rotate ...' or 'audit'
                                         command: its answer, exit status 0 or 1

At start, rotations a crash interrupted are settled. On SIGINT/SIGTERM serve
stops accepting connections, lets running rotations finish (up to 2 minutes;
new ones are refused), ends the sessions and exits 0; a second signal stops at
once. Logs go to stderr (logins, refused key fingerprints, scheduler work),
never a value.
`,
		Run: runServe,
	}
}

// runServe serves until SIGINT or SIGTERM, then shuts down gracefully; a
// second signal stops at once.
func runServe(env *cli.Env, a *cli.Args) int {
	tick, err := durationFlag(a, "scheduler-tick", time.Second, 24*time.Hour)
	if err != nil {
		return env.Fail(err)
	}
	if env.LeaseTTL, err = durationFlag(a, "lease-ttl", 2*time.Second, time.Hour); err != nil {
		return env.Fail(err)
	}
	evcfg, err := eventsConfig(a)
	if err != nil {
		return env.Fail(err)
	}
	hostKey := a.Value("host-key")
	if hostKey == "" {
		hostKey = serve.DefaultHostKeyPath(env.DataDir())
	}
	logOut := env.Stderr
	if logOut == nil {
		logOut = os.Stderr
	}
	logger := log.New(logOut, "kmsconsole serve: ", log.LstdFlags|log.LUTC|log.Lmsgprefix)
	return env.WithService(func(svc *service.Service) error {
		srv, err := serve.New(svc, serve.Config{Listen: a.Value("listen"), HostKeyPath: hostKey,
			Events: evcfg, Log: logOut,
			// The scheduler runs while serve serves; its first pass
			// settles rotations a crash left half-way.
			Background: func(ctx context.Context, logf func(string)) {
				scheduler.Run(ctx, svc, tick, logf)
			}})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if a.Value("api-listen") != "" {
			stop, err := startAPI(ctx, env, a, svc, logger)
			if err != nil {
				return err
			}
			defer stop()
		}
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			<-sigs
			cancel()
			// Commands running over SSH also listen for signals, so the
			// default action cannot be relied on: exit here.
			<-sigs
			logger.Print("second signal: stopping now; the next start settles any rotation left half-way")
			os.Exit(1)
		}()
		return srv.ListenAndServe(ctx)
	})
}

// eventsConfig reads serve's event flags (nil: no channel).
func eventsConfig(a *cli.Args) (*events.Config, error) {
	cmd := a.Value("on-event")
	if old := a.Value("on-rotation-failure"); old != "" {
		if cmd != "" && cmd != old {
			return nil, model.InvalidParam("on-rotation-failure", "--on-rotation-failure is the older name of --on-event: give one of them")
		}
		cmd = old
	}
	url, keyFile := a.Value("event-webhook"), a.Value("event-webhook-secret-file")
	if cmd == "" && url == "" {
		if keyFile != "" {
			return nil, model.InvalidParam("event-webhook-secret-file", "--event-webhook-secret-file goes with --event-webhook")
		}
		return nil, nil
	}
	cfg := &events.Config{Command: cmd, WebhookURL: url}
	if url != "" {
		if keyFile == "" {
			return nil, model.MissingParam("event-webhook-secret-file")
		}
		key, err := events.LoadWebhookKey(keyFile)
		if err != nil {
			return nil, model.InvalidParam("event-webhook-secret-file", "%v", err)
		}
		cfg.WebhookKey = key
	}
	return cfg, nil
}

// durationFlag reads a duration flag and keeps it within [lo, hi].
func durationFlag(a *cli.Args, name string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(a.Value(name))
	if err != nil {
		return 0, model.InvalidParam(name, "--%s takes a duration such as 30s or 2m, not %q", name, a.Value(name))
	}
	if d < lo || d > hi {
		return 0, model.InvalidParam(name, "--%s must be between %v and %v, not %v", name, lo, hi, d)
	}
	return d, nil
}

// APIEndpointFile, in the data directory, records where serve last offered
// the API (for `kmsconsole api info`).
const APIEndpointFile = "api_endpoint"

// startAPI starts the HTTPS API beside serve; stop shuts it down, letting
// requests in flight finish.
func startAPI(ctx context.Context, env *cli.Env, a *cli.Args, svc *service.Service, logger *log.Logger) (stop func(), err error) {
	addr := a.Value("api-listen")
	dataDir := env.DataDir()
	cfg := apiserver.Config{Service: svc, Logf: logger.Printf}
	scheme := "https"
	switch {
	case a.Switch("api-insecure-http"):
		if a.Value("tls-cert") != "" || a.Value("tls-key") != "" {
			return nil, model.InvalidParam("api-insecure-http", "plain HTTP takes no --tls-cert/--tls-key")
		}
		if err := apiserver.CheckInsecureAddr(addr); err != nil {
			return nil, model.InvalidParam("api-insecure-http", "%v", err)
		}
		cfg.InsecureHTTP, scheme = true, "http"
	case a.Value("tls-cert") != "" || a.Value("tls-key") != "":
		if a.Value("tls-cert") == "" || a.Value("tls-key") == "" {
			return nil, model.InvalidParam("tls-cert", "--tls-cert and --tls-key go together")
		}
		if cfg.Certificate, err = apiserver.LoadCertificate(a.Value("tls-cert"), a.Value("tls-key")); err != nil {
			return nil, err
		}
	default:
		host, _, _ := net.SplitHostPort(addr)
		if cfg.Certificate, err = apiserver.SelfSignedCertificate(dataDir, []string{host}, time.Now()); err != nil {
			return nil, err
		}
	}
	srv, err := apiserver.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--api-listen: %w", err)
	}
	endpoint := scheme + "://" + ln.Addr().String()
	if cfg.Certificate != nil {
		logger.Printf("API listening on %s (certificate SHA-256 %s)", endpoint, cfg.Certificate.Fingerprint)
	} else {
		logger.Printf("API listening on %s (plain HTTP, loopback only)", endpoint)
	}
	// Best effort: api info reads it; serving does not depend on it.
	_ = os.WriteFile(filepath.Join(dataDir, APIEndpointFile), []byte(endpoint+"\n"), 0o644)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			logger.Printf("API stopped: %v", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	return func() {
		shut, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		_ = srv.Shutdown(shut)
		<-done
	}, nil
}

// apiCommand is `kmsconsole api info`.
func apiCommand() *cli.Command {
	return &cli.Command{
		Name:    "api",
		Summary: "The KMS OpenAPI endpoint that 'serve --api-listen' offers.",
		Subs: []*cli.Command{{
			Name: "info", Summary: "Print the API's address and its certificate's SHA-256 fingerprint.", Run: apiInfo,
			Flags: []cli.Flag{{Name: "tls-cert", Value: "PATH", Usage: "the certificate serve was given (default: the self-signed one in the data directory)"}},
		}},
	}
}

func apiInfo(env *cli.Env, a *cli.Args) int {
	dataDir := env.DataDir()
	cert := a.Value("tls-cert")
	if cert == "" {
		cert = filepath.Join(dataDir, apiserver.SelfSignedCertFile)
	}
	out := map[string]string{"Certificate": cert}
	if b, err := os.ReadFile(filepath.Join(dataDir, APIEndpointFile)); err == nil {
		out["Endpoint"] = strings.TrimSpace(string(b))
	} else {
		out["Endpoint"] = "(serve has not offered the API from this data directory yet: kmsconsole serve --api-listen ADDR)"
	}
	fp, err := apiserver.ReadFingerprint(cert)
	switch {
	case err == nil:
		out["Fingerprint"] = "SHA256:" + fp
	case errors.Is(err, fs.ErrNotExist) && a.Value("tls-cert") == "":
		out["Fingerprint"] = "(no certificate yet: serve makes one on its first start with --api-listen)"
	default:
		return env.Fail(model.InvalidParam("tls-cert", "%v", err))
	}
	cli.WriteJSON(env.Stdout, out)
	return 0
}
