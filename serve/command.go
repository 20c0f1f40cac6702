package serve

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"kmsconsole/cli"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Command is `kmsconsole serve [--listen ADDR] [--on-rotation-failure CMD]
// [--host-key PATH]`, wired into cli.Env.Serve by main. It serves until
// SIGINT or SIGTERM, then shuts down gracefully; a second signal stops at
// once.
func Command(env *cli.Env, svc *service.Service, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", DefaultListen, "")
	onFailure := fs.String("on-rotation-failure", "", "")
	hostKey := fs.String("host-key", "", "")
	if err := fs.Parse(args); err != nil {
		return model.InvalidParam(flagName(err.Error()), "%v; see kmsconsole serve --help", err)
	}
	if fs.NArg() > 0 {
		return model.InvalidParam("serve", "unexpected argument %q; see kmsconsole serve --help", fs.Arg(0))
	}
	if *hostKey == "" {
		*hostKey = DefaultHostKeyPath(env.DBPath)
	}
	logOut := env.Stderr
	if logOut == nil {
		logOut = os.Stderr
	}
	srv, err := New(svc, Config{Listen: *listen, HostKeyPath: *hostKey, OnRotationFailure: *onFailure, Log: logOut})
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
		srv.log.Print("second signal: stopping now; the next start settles any rotation left half-way")
		os.Exit(1)
	}()
	return srv.ListenAndServe(ctx)
}

// flagName pulls the flag's name out of a flag package error, for the
// InvalidParameter body.
func flagName(msg string) string {
	if i := strings.Index(msg, "-"); i >= 0 {
		f := strings.TrimLeft(msg[i:], "-")
		if j := strings.IndexAny(f, " :"); j >= 0 {
			f = f[:j]
		}
		if f != "" {
			return f
		}
	}
	return "serve"
}
