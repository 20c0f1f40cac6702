package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"kmsconsole/model"
)

// Command is one command of the command line, declared once: its name, a
// one-line summary, its flags with their usage, and what runs it. Parsing,
// `kmsconsole --help` and `kmsconsole CMD --help` are all made from it, so
// the help cannot leave out a command or a flag the command line takes.
type Command struct {
	// Name is the word that selects the command. The command named ""
	// runs when the line names none (the console).
	Name string
	// Summary says what the command does, in one line.
	Summary string
	// Params shows its positional arguments in the synopsis ("ID",
	// "[NAME ...]"); a command without Params accepts none. A group's
	// Params show how its commands are named ("<Action> --Param value ...").
	Params string
	// Flags are the flags it takes.
	Flags []Flag
	// Help is more text for the command's own --help, after the flags.
	Help string
	// Subs are a group's commands (the kms actions, instance add, …). A
	// group has no Run; its --help lists them.
	Subs []*Command
	// SubNoun is what a group calls its commands in help and messages:
	// "command" when empty. The kms actions are "action"s, and an unknown
	// one is InvalidAction.NotFound, as in the cloud API.
	SubNoun string
	// Remote top-level commands also run over serve's SSH, with the
	// operator's role; the others are for the store's host only.
	Remote bool
	// Run runs the command and returns the process exit status.
	Run func(env *Env, a *Args) int
}

// Flag is one flag of a command: --Name VALUE, or --Name alone for a switch.
// Every flag takes '--Name value' or '--Name=value'.
type Flag struct {
	Name     string // without the dashes: "SecretName", "per-host"
	Value    string // what the value is, in help: "PATH", "N"
	Usage    string // what the flag does, one line
	Default  string // the value when the flag is absent (shown in help)
	Switch   bool   // takes no value: --all, --all=true or --all=false
	Required bool   // absent or empty is MissingParameter
	Repeat   bool   // may be given more than once; every value is kept
}

// Args are a command's parsed arguments.
type Args struct {
	cmd    *Command
	values map[string][]string
	// Params are the positional arguments, in order.
	Params []string
}

// flag returns the declaration of a flag a command reads. Reading a flag
// the command does not declare is a bug in the command, not in the input.
func (a *Args) flag(name string) *Flag {
	f := a.cmd.flag(name)
	if f == nil {
		panic(fmt.Sprintf("cli: command %q reads --%s, which it does not declare", a.cmd.Name, name))
	}
	return f
}

// Value is the flag's value (the last one given), or its Default.
func (a *Args) Value(name string) string {
	f := a.flag(name)
	if v := a.values[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return f.Default
}

// Given reports whether the flag is on the line.
func (a *Args) Given(name string) bool {
	a.flag(name)
	return len(a.values[name]) > 0
}

// Values are every value given to the flag, in order.
func (a *Args) Values(name string) []string {
	a.flag(name)
	return a.values[name]
}

// Switch reports whether a switch is on.
func (a *Args) Switch(name string) bool { return a.Value(name) == "true" }

// given maps each flag on the line to its value, for decoding a request.
func (a *Args) given() map[string]string {
	out := make(map[string]string, len(a.values))
	for name, v := range a.values {
		out[name] = v[len(v)-1]
	}
	return out
}

func (c *Command) flag(name string) *Flag {
	for i := range c.Flags {
		if c.Flags[i].Name == name {
			return &c.Flags[i]
		}
	}
	return nil
}

func findCommand(cmds []*Command, name string) *Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// resolve is the deepest command the leading words of a line name (nil if
// none): the global flag scan asks it which flags are switches.
func resolve(cmds []*Command, words []string) *Command {
	var c *Command
	for _, w := range words {
		next := findCommand(cmds, w)
		if next == nil || w == "" {
			break
		}
		c, cmds = next, next.Subs
	}
	return c
}

// errHelp: the line asks for the command's help.
var errHelp = errors.New("help requested")

func isHelp(s string) bool { return s == "--help" || s == "-h" || s == "help" }

func isHelpFlag(s string) bool { return s == "--help" || s == "-h" }

// isFlagWord reports whether a word is one of c's flags (or asks for help):
// it cannot then be the value of the flag before it.
func (c *Command) isFlagWord(w string) bool {
	if isHelpFlag(w) {
		return true
	}
	name, ok := strings.CutPrefix(w, "--")
	name, _, _ = strings.Cut(name, "=")
	return ok && c.flag(name) != nil
}

// parse reads the arguments of the command at path ("operator set-role"):
// its flags as '--Name value' or '--Name=value' (a switch alone, or with
// =true / =false), and positional arguments if it takes any; "--" ends the
// flags. A value is the word after its flag, whatever it starts with,
// unless that word is another flag of the command. "help" as the first
// word, or --help / -h where a flag may stand, returns errHelp.
func (c *Command) parse(path string, args []string) (*Args, error) {
	a := &Args{cmd: c, values: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		w := args[i]
		switch {
		case isHelpFlag(w) || (i == 0 && w == "help"):
			return nil, errHelp
		case w == "--" && c.Params != "":
			a.Params = append(a.Params, args[i+1:]...)
			i = len(args)
			continue
		case !strings.HasPrefix(w, "-"):
			if c.Params == "" {
				return nil, model.InvalidParam(w, "unexpected argument %q: %s takes only flags, as --Name value; see kmsconsole %s --help", w, path, path)
			}
			a.Params = append(a.Params, w)
			continue
		case !strings.HasPrefix(w, "--") || w == "--":
			return nil, model.InvalidParam(w, "unknown flag %q; see kmsconsole %s --help", w, path)
		}
		name, value, inline := strings.Cut(w[2:], "=")
		f := c.flag(name)
		if f == nil {
			return nil, model.InvalidParam(name, "unknown flag --%s; %s takes %s", name, path, c.takes())
		}
		if len(a.values[name]) > 0 && !f.Repeat {
			return nil, model.InvalidParam(name, "--%s given more than once", name)
		}
		switch {
		case f.Switch && !inline:
			value = "true"
		case f.Switch:
			if value != "true" && value != "false" {
				return nil, model.InvalidParam(name, "--%s takes no value (or =true / =false), got %q", name, value)
			}
		case !inline:
			if i+1 < len(args) && isHelpFlag(args[i+1]) {
				return nil, errHelp
			}
			if i+1 >= len(args) || c.isFlagWord(args[i+1]) {
				return nil, model.InvalidParam(name, "--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		a.values[name] = append(a.values[name], value)
	}
	for _, f := range c.Flags {
		if f.Required && a.Value(f.Name) == "" {
			return nil, model.MissingParam(f.Name)
		}
	}
	return a, nil
}

// takes lists what a command accepts, for an unknown flag's message.
func (c *Command) takes() string {
	var parts []string
	if c.Params != "" {
		parts = append(parts, c.Params)
	}
	for _, f := range c.Flags {
		parts = append(parts, "--"+f.Name)
	}
	if len(parts) == 0 {
		return "no flags"
	}
	return strings.Join(parts, ", ")
}

// unknownSub is the error for a word that names none of a group's commands.
func (c *Command) unknownSub(path, word string) error {
	names := make([]string, len(c.Subs))
	for i, s := range c.Subs {
		names[i] = s.Name
	}
	if c.subNoun() == "action" {
		return model.Errorf(model.CodeUnsupportedAction, "unknown action %q; see kmsconsole %s --help", word, path)
	}
	return model.Errorf(model.CodeInvalidParameter, "unknown %s %s %q (%s)", path, c.subNoun(), word, strings.Join(names, ", "))
}

func (c *Command) subNoun() string {
	if c.SubNoun == "" {
		return "command"
	}
	return c.SubNoun
}

// remoteNames quotes the commands that run over SSH, for the refusal of
// the others.
func remoteNames(cmds []*Command) string {
	var names []string
	for _, c := range cmds {
		if c.Remote {
			names = append(names, "'"+c.Name+"'")
		}
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, "")
}

// withConsoleFirst orders a table for help: the no-command entry first,
// the rest as declared.
func withConsoleFirst(cmds []*Command) []*Command {
	out := slices.Clone(cmds)
	slices.SortStableFunc(out, func(a, b *Command) int {
		switch {
		case a.Name == "" && b.Name != "":
			return -1
		case b.Name == "" && a.Name != "":
			return 1
		}
		return 0
	})
	return out
}
