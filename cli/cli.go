// Package cli is kmsconsole's command line: a table of commands, each
// declared once with its flags (command.go), from which parsing and help
// are made; the global flags; the `kms` actions with the cloud CLI's names
// and JSON; the instance, operator, rotate and audit commands. Package app
// adds the console and serve and calls Run.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Env is what a command runs with: its streams and the global settings.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	DBPath         string // a SQLite file or a postgres:// URL
	Region         string
	KeyPath        string // the master key file ("" = master.key in DataDir)
	// Dir is --data-dir: see DataDir.
	Dir string
	// LeaseTTL is the service's rotation lease lifetime (0 = default).
	LeaseTTL time.Duration
	// Service, when set, is used instead of opening the store: serve mode
	// runs `ssh host kms ...` commands with the session operator's service.
	// Store-level flags (--db) and local-only commands are then refused.
	Service *service.Service
	// Context, when set, bounds commands instead of SIGINT/SIGTERM: serve
	// passes the SSH session's, so a closed session cancels its command.
	Context context.Context
}

// Commands are kmsconsole's own commands, in the order help lists them.
// The console and serve are added by the caller of Run (package app):
// serve runs this package for its SSH commands, so this package cannot
// import it.
func Commands() []*Command {
	return []*Command{kmsCommand(), instanceCommand(), operatorCommand(), accessKeyCommand(), rotateCommand(), auditCommand(), storeCommand(), eventsCommand(), masterkeyCommand()}
}

// Run executes one command line against Commands and extra, and returns
// the process exit code. The command named "" in extra, if any, runs when
// the line names none.
func Run(args []string, env *Env, extra ...*Command) int {
	cmds := append(Commands(), extra...)
	rest, err := env.takeGlobalFlags(args, cmds)
	if err != nil {
		return env.Fail(err)
	}
	if len(rest) == 0 {
		if c := findCommand(cmds, ""); c != nil && env.Service == nil {
			return c.Run(env, &Args{cmd: c, values: map[string][]string{}})
		}
		return env.Fail(fmt.Errorf("no command given; see kmsconsole --help"))
	}
	name, rest := rest[0], rest[1:]
	if isHelp(name) {
		fmt.Fprint(env.Stdout, mainHelp(cmds, env.Service != nil))
		return 0
	}
	c := findCommand(cmds, name)
	if c == nil || name == "" {
		return env.Fail(model.Errorf(model.CodeInvalidParameter, "unknown command %q; see kmsconsole --help", name))
	}
	if env.Service != nil && !c.Remote {
		return env.Fail(model.Errorf(model.CodeNoPermission, "over SSH only %s commands run; %q is for the store's host", remoteNames(cmds), name))
	}
	path := name
	for c.Subs != nil {
		if len(rest) == 0 || isHelp(rest[0]) {
			fmt.Fprint(env.Stdout, groupHelp(path, c))
			return 0
		}
		sub := findCommand(c.Subs, rest[0])
		if sub == nil || rest[0] == "" {
			return env.Fail(c.unknownSub(path, rest[0]))
		}
		c, path, rest = sub, path+" "+sub.Name, rest[1:]
	}
	a, err := c.parse(path, rest)
	if err == errHelp {
		fmt.Fprint(env.Stdout, commandHelp(path, c))
		return 0
	}
	if err != nil {
		return env.Fail(err)
	}
	return c.Run(env, a)
}

// takeGlobalFlags removes --db and --region wherever they appear at a flag
// position. Every other flag takes a value, unless the command the line
// names so far declares it a switch (rotate --all), so positions are
// unambiguous.
func (env *Env) takeGlobalFlags(args []string, cmds []*Command) ([]string, error) {
	if env.DBPath == "" && env.Service == nil {
		env.DBPath = os.Getenv("KMSCONSOLE_DB")
	}
	if env.Dir == "" && env.Service == nil {
		env.Dir = os.Getenv("KMSCONSOLE_DATA_DIR")
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
		case "db", "data-dir", "region":
			if env.Service != nil {
				return nil, model.InvalidParam(name, "--%s cannot be changed over SSH", name)
			}
			if !inline {
				if i+1 >= len(args) {
					return nil, model.InvalidParam(name, "--%s needs a value", name)
				}
				i++
			}
			switch name {
			case "db":
				env.DBPath = value
			case "data-dir":
				env.Dir = value
			default:
				if err := model.ValidateRegionId("region", value); err != nil {
					return nil, err
				}
				env.Region = value
			}
		default:
			var f *Flag
			if c := resolve(cmds, rest); c != nil {
				f = c.flag(name)
			}
			rest = append(rest, a)
			if !inline && (f == nil || !f.Switch) && i+1 < len(args) {
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

// DataDir is where the process keeps its files (master key, serve's host
// key, the API certificate): --data-dir, else the SQLite store's directory,
// else, for a PostgreSQL store, the default data directory. Each serve
// replica of one PostgreSQL database has its own.
func (env *Env) DataDir() string {
	switch {
	case env.Dir != "":
		return env.Dir
	case db.IsPostgresURL(env.DBPath):
		return db.DefaultDataDir()
	default:
		return filepath.Dir(env.DBPath)
	}
}

// MasterKeyPath is the master key: KMSCONSOLE_MASTER_KEY_FILE, else
// master.key in DataDir.
func (env *Env) MasterKeyPath() string {
	if env.KeyPath != "" {
		return env.KeyPath
	}
	return filepath.Join(env.DataDir(), "master.key")
}

// WithService runs fn on the service of the command (serve's session
// service, or the store of --db opened for it), and returns the exit
// status: 1, with the error reported, if fn or the opening failed.
func (env *Env) WithService(fn func(*service.Service) error) int {
	if env.Service != nil {
		if err := fn(env.Service); err != nil {
			return env.Fail(err)
		}
		return 0
	}
	store, err := db.Open(env.DBPath, env.MasterKeyPath())
	if err != nil {
		return env.Fail(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Region: env.Region, LeaseTTL: env.LeaseTTL})
	defer svc.Close()
	if err := fn(svc); err != nil {
		return env.Fail(err)
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

// Fail reports err as the JSON error body on stderr and returns exit
// status 1.
func (env *Env) Fail(err error) int {
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
// WriteJSON prints an answer as the CLI does (indented JSON, one value).
func WriteJSON(w io.Writer, v any) { writeJSON(w, v) }

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

// IsTerminal reports whether f is a terminal (not /dev/null, a pipe or a
// file). charmbracelet/x/term is what Bubble Tea itself asks.
func IsTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(file.Fd())
}
