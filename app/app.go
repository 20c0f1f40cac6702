// Package app wires kmsconsole's process together, in one place: the
// hardening of the process, the command line (package cli), and the two
// commands cli cannot hold because they import it: the console, with the
// scheduler running while it is open, and serve. main only calls Main.
package app

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kmsconsole/cli"
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
	return []*cli.Command{consoleCommand(), serveCommand()}
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
			{Name: "on-rotation-failure", Value: "CMD", Usage: "run CMD with /bin/sh after each failed rotation, the event as JSON on stdin (never a value)"},
			{Name: "host-key", Value: "PATH", Usage: "the server's ed25519 host key, created 0600 if missing (default " + serve.HostKeyFile + " beside the store)"},
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
	hostKey := a.Value("host-key")
	if hostKey == "" {
		hostKey = serve.DefaultHostKeyPath(env.DBPath)
	}
	logOut := env.Stderr
	if logOut == nil {
		logOut = os.Stderr
	}
	return env.WithService(func(svc *service.Service) error {
		srv, err := serve.New(svc, serve.Config{Listen: a.Value("listen"), HostKeyPath: hostKey,
			OnRotationFailure: a.Value("on-rotation-failure"), Log: logOut})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			<-sigs
			cancel()
			// Commands running over SSH also listen for signals, so the
			// default action cannot be relied on: exit here.
			<-sigs
			log.New(logOut, "kmsconsole serve: ", log.LstdFlags|log.LUTC|log.Lmsgprefix).
				Print("second signal: stopping now; the next start settles any rotation left half-way")
			os.Exit(1)
		}()
		return srv.ListenAndServe(ctx)
	})
}
