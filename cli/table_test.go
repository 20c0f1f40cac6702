package cli

import (
	"bytes"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"kmsconsole/model"
)

// TestGlobalFlagsInHelp: the global flags have a usage and the main help
// gives it. (app's TestCommandTableHelp walks every command's flags.)
func TestGlobalFlagsInHelp(t *testing.T) {
	var out bytes.Buffer
	if code := Run([]string{"--help"}, &Env{Stdout: &out, Stderr: &out}); code != 0 {
		t.Fatal(out.String())
	}
	for _, f := range globalFlags {
		if f.Usage == "" || !strings.Contains(out.String(), "--"+f.Name+" "+f.Value) {
			t.Errorf("--%s: usage %q, in the main help: %v", f.Name, f.Usage, strings.Contains(out.String(), "--"+f.Name))
		}
	}
}

// TestActionFlagsAreRequestFields: a kms action's flags are exactly the
// parameters its request decodes, each with a usage.
func TestActionFlagsAreRequestFields(t *testing.T) {
	for i := range actions {
		a := &actions[i]
		var names []string
		for _, f := range a.flags() {
			names = append(names, f.Name)
			if f.Usage == "" {
				t.Errorf("%s --%s has no usage", a.name, f.Name)
			}
		}
		slices.Sort(names)
		if want := paramNames(reflect.TypeOf(a.request).Elem()); !slices.Equal(names, want) {
			t.Errorf("%s: flags %v, request parameters %v", a.name, names, want)
		}
	}
}

// TestParse: the one set of rules every command's arguments follow.
func TestParse(t *testing.T) {
	c := &Command{Name: "x", Params: "[NAME ...]", Flags: []Flag{
		{Name: "all", Switch: true, Usage: "u"},
		{Name: "id", Value: "ID", Repeat: true, Usage: "u"},
		{Name: "data", Usage: "u"},
		{Name: "n", Default: "16", Usage: "u"},
		{Name: "name", Required: true, Usage: "u"},
	}}
	for _, tc := range []struct {
		args []string
		want string // params|all|ids|data|n, or "help", or the error's code and part of its message
	}{
		{[]string{"--name", "a", "p1", "--all", "p2"}, "p1,p2|true|||16"},
		{[]string{"--name=a", "--all=false", "--id", "i1", "--id=i2"}, "|false|i1,i2||16"},
		{[]string{"--name", "a", "--data", "-", "--n", "3"}, "|false||-|3"},
		{[]string{"--name", "a", "--data", "--x"}, "|false||--x|16"},
		{[]string{"--name", "a", "--", "--all", "p"}, "--all,p|false|||16"},
		{[]string{"--name", "a", "--help"}, "help"},
		{[]string{"--data", "-h"}, "help"},
		{[]string{"help"}, "help"},
		{[]string{"--all"}, "MissingParameter: name"},
		{[]string{"--name", ""}, "MissingParameter: name"},
		{[]string{"--name", "a", "--data"}, "InvalidParameter: --data needs a value"},
		{[]string{"--name", "a", "--data", "--all"}, "InvalidParameter: --data needs a value"},
		{[]string{"--name", "a", "--data", "1", "--data", "2"}, "InvalidParameter: --data given more than once"},
		{[]string{"--name", "a", "--all=yes"}, "InvalidParameter: --all takes no value"},
		{[]string{"--name", "a", "--bogus", "1"}, "InvalidParameter: unknown flag --bogus; x takes [NAME ...], --all, --id, --data, --n, --name"},
		{[]string{"--name", "a", "-b"}, `InvalidParameter: unknown flag "-b"`},
	} {
		a, err := c.parse("x", tc.args)
		var got string
		switch {
		case err == errHelp:
			got = "help"
		case err != nil:
			ae := model.AsAPIError(err)
			got = ae.Code + ": " + ae.Message
		default:
			got = strings.Join([]string{strings.Join(a.Params, ","), strconv.FormatBool(a.Switch("all")),
				strings.Join(a.Values("id"), ","), a.Value("data"), a.Value("n")}, "|")
		}
		if code, msg, isErr := strings.Cut(tc.want, ": "); got != tc.want && !(isErr && strings.HasPrefix(got, code+": ") && strings.Contains(got, msg)) {
			t.Errorf("%v: %s, want %s", tc.args, got, tc.want)
		}
	}
	// A command without Params takes none.
	if _, err := (&Command{Name: "y"}).parse("y", []string{"s1"}); !strings.Contains(model.AsAPIError(err).Message, "--Name value") {
		t.Errorf("a positional argument: %v", err)
	}
}
