// Package cli is kmsconsole's command line: global flags, the `kms` actions
// with the cloud CLI's names and JSON, and the instance, operator and audit
// commands. main.go only calls Run.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/scheduler"
	"kmsconsole/service"
)

// Env is what a command runs with: its streams and the global settings.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	DBPath         string
	Region         string
	KeyPath        string
	// Console opens the interactive console; nil in tests of the CLI alone.
	Console func(svc *service.Service) error
	// Serve runs serve mode with the remaining arguments.
	Serve func(env *Env, svc *service.Service, args []string) error
	// Service, when set, is used instead of opening the store: serve mode
	// runs `ssh host kms ...` commands with the session operator's service.
	// Store-level flags (--db) and local-only commands are then refused.
	Service *service.Service
	// Context, when set, bounds commands instead of SIGINT/SIGTERM: serve
	// passes the SSH session's, so a closed session cancels its command.
	Context context.Context
}

// Run executes one command line and returns the process exit code.
func Run(args []string, env *Env) int {
	rest, err := env.takeGlobalFlags(args)
	if err != nil {
		return env.fail(err)
	}
	if len(rest) == 0 {
		if env.Console == nil {
			return env.fail(fmt.Errorf("no command given; see kmsconsole --help"))
		}
		if !isTerminal(env.Stdin) || !isTerminal(env.Stdout) {
			return env.fail(model.Errorf(model.CodeInvalidParameter,
				"the console needs a terminal (standard input and output are not one); scripts use 'kmsconsole kms <Action>', see kmsconsole --help"))
		}
		return env.withService(func(svc *service.Service) error {
			// The scheduler runs while the console is open (SPEC §3);
			// its first pass settles rotations a crash interrupted.
			ctx, cancel := context.WithCancel(context.Background())
			go scheduler.Run(ctx, svc, scheduler.DefaultTick, nil)
			err := env.Console(svc)
			cancel()
			drainCtx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
			defer stop()
			svc.Drain(drainCtx)
			return err
		})
	}
	cmd, rest := rest[0], rest[1:]
	if env.Service != nil && cmd != "kms" && cmd != "audit" && cmd != "rotate" && !isHelp(cmd) {
		return env.fail(model.Errorf(model.CodeNoPermission, "over SSH only 'kms', 'rotate' and 'audit' commands run; %q is for the store's host", cmd))
	}
	if isHelp(cmd) {
		fmt.Fprint(env.Stdout, mainHelp)
		return 0
	}
	switch cmd {
	case "kms":
		return env.kms(rest)
	case "instance":
		return env.instance(rest)
	case "operator":
		return env.operator(rest)
	case "audit":
		return env.audit(rest)
	case "rotate":
		return env.rotate(rest)
	case "serve":
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprint(env.Stdout, serveHelp)
			return 0
		}
		if env.Serve == nil {
			return env.fail(fmt.Errorf("serve is not available in this build"))
		}
		return env.withService(func(svc *service.Service) error { return env.Serve(env, svc, rest) })
	}
	return env.fail(model.Errorf(model.CodeInvalidParameter, "unknown command %q; see kmsconsole --help", cmd))
}

func isHelp(s string) bool { return s == "--help" || s == "-h" || s == "help" }

// takeGlobalFlags removes --db and --region wherever they appear at a flag
// position (every flag takes a value, so positions are unambiguous; only
// rotate's --all, --dry-run and --json take none).
func (env *Env) takeGlobalFlags(args []string) ([]string, error) {
	if env.DBPath == "" && env.Service == nil {
		env.DBPath = os.Getenv("KMSCONSOLE_DB")
	}
	if env.Region == "" {
		env.Region = os.Getenv("KMSCONSOLE_REGION")
	}
	if env.KeyPath == "" {
		env.KeyPath = os.Getenv("KMSCONSOLE_MASTER_KEY_FILE")
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || isHelp(a) {
			rest = append(rest, a)
			continue
		}
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !inline && i+1 < len(args) {
			value = args[i+1]
		}
		switch name {
		case "db", "region":
			if env.Service != nil {
				return nil, model.InvalidParam(name, "--%s cannot be changed over SSH", name)
			}
			if !inline {
				if i+1 >= len(args) {
					return nil, model.InvalidParam(name, "--%s needs a value", name)
				}
				i++
			}
			if name == "db" {
				env.DBPath = value
			} else {
				if err := model.ValidateRegionId("region", value); err != nil {
					return nil, err
				}
				env.Region = value
			}
		default:
			boolFlag := len(rest) > 0 && rest[0] == "rotate" && rotateBoolFlag(name)
			rest = append(rest, a)
			if !inline && !boolFlag && i+1 < len(args) {
				rest = append(rest, args[i+1])
				i++
			}
		}
	}
	if env.DBPath == "" {
		env.DBPath = db.DefaultPath()
	}
	if env.Region == "" {
		env.Region = service.DefaultRegion
	}
	return rest, nil
}

// withService opens the store, runs fn, and reports its error.
func (env *Env) withService(fn func(*service.Service) error) int {
	if env.Service != nil {
		if err := fn(env.Service); err != nil {
			return env.fail(err)
		}
		return 0
	}
	store, err := db.Open(env.DBPath, env.KeyPath)
	if err != nil {
		return env.fail(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Region: env.Region})
	defer svc.Close()
	if err := fn(svc); err != nil {
		return env.fail(err)
	}
	return 0
}

// commandContext bounds one command: by the caller's context when given,
// else by SIGINT/SIGTERM.
func (env *Env) commandContext() (context.Context, context.CancelFunc) {
	if env.Context != nil {
		return context.WithCancel(env.Context)
	}
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// errorBody is the JSON shape of a failure, as the cloud returns it.
type errorBody struct {
	RequestId   string
	Code        string
	Message     string
	HttpStatus  int
	HostKey     string `json:",omitempty"`
	Fingerprint string `json:",omitempty"`
}

func (env *Env) fail(err error) int {
	body := errorBody{RequestId: uuid.NewString()}
	if hk, ok := err.(*service.HostKeyUnconfirmedError); ok {
		body.HostKey, body.Fingerprint = hk.HostKey, hk.Fingerprint
		err = hk.APIError
	}
	ae := model.AsAPIError(err)
	body.Code, body.Message, body.HttpStatus = ae.Code, ae.Message, ae.HttpStatus
	writeJSON(env.Stderr, body)
	return 1
}

// writeJSON writes v as pretty JSON. Characters such as < > & stay as they
// are: the output is for terminals and JSON parsers, not for HTML.
func writeJSON(w io.Writer, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "{\"Code\":\"InternalFailure\",\"Message\":%q}\n", err.Error())
		return
	}
	w.Write(b.Bytes())
}

// kms runs `kmsconsole kms <Action> --Param value ...`.
func (env *Env) kms(args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(env.Stdout, kmsHelp())
		return 0
	}
	a := findAction(args[0])
	if a == nil {
		return env.fail(model.Errorf(model.CodeUnsupportedAction, "unknown action %q; see kmsconsole kms --help", args[0]))
	}
	if len(args) > 1 && isHelp(args[1]) {
		fmt.Fprint(env.Stdout, actionHelp(a))
		return 0
	}
	params, err := parseParams(args[1:])
	if err != nil {
		return env.fail(err)
	}
	if params["SecretData"] == "-" {
		value, err := readSecretData(env.Stdin)
		if err != nil {
			return env.fail(err)
		}
		params["SecretData"] = value
	}
	req := a.newRequest()
	if err := decode(a.name, params, req); err != nil {
		return env.fail(err)
	}
	ctx, cancel := env.commandContext()
	defer cancel()
	return env.withService(func(svc *service.Service) error {
		resp, err := a.run(ctx, svc, req)
		if err != nil {
			return err
		}
		writeJSON(env.Stdout, resp)
		return nil
	})
}

// maxStdinSecretData bounds what `--SecretData -` reads: above the largest
// value the service accepts, so an oversized value is refused by the same
// rule as one given on the command line, without reading without end.
const maxStdinSecretData = 64 << 10

// readSecretData reads the value of `--SecretData -` from standard input,
// so that a value need not stand in argv (visible to every user in
// /proc/PID/cmdline) or in a shell's history. One trailing newline, the
// one echo or a here-document adds, is dropped; nothing else is changed.
func readSecretData(stdin io.Reader) (string, error) {
	if stdin == nil {
		return "", model.InvalidParam("SecretData", "--SecretData - reads standard input, and there is none")
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxStdinSecretData+1))
	if err != nil {
		return "", model.InvalidParam("SecretData", "reading standard input: %v", err)
	}
	if len(b) > maxStdinSecretData {
		return "", model.InvalidParam("SecretData", "standard input holds more than %d bytes", maxStdinSecretData)
	}
	v := string(b)
	if t, ok := strings.CutSuffix(v, "\r\n"); ok {
		v = t
	} else {
		v = strings.TrimSuffix(v, "\n")
	}
	if v == "" {
		return "", model.InvalidParam("SecretData", "--SecretData - read nothing from standard input")
	}
	return v, nil
}

// isTerminal reports whether f is a terminal (not /dev/null, a pipe or a
// file). charmbracelet/x/term is what Bubble Tea itself asks.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(file.Fd())
}
