package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kmsconsole/cli"
	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// run runs one command line with the full command table, as main does.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		DBPath: filepath.Join(t.TempDir(), "data", "kms.db"), Region: "cn-hangzhou"}
	code = cli.Run(args, env, Commands()...)
	return out.String(), errb.String(), code
}

// TestCommandTableHelp walks the whole command table, cli's commands and
// app's: every command is in the main help, every flag has a usage, and
// each command's --help lists each of its flags (a group's, each command).
func TestCommandTableHelp(t *testing.T) {
	all := append(cli.Commands(), Commands()...)
	main, _, code := run(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	listed := commandsSection(t, main)
	for _, c := range all {
		name := c.Name
		if name == "" {
			name = "(no command)"
		}
		if !listed[name] {
			t.Errorf("the main help does not list %q:\n%s", name, main)
		}
		for _, s := range c.Subs {
			if !listed[c.Name+" "+s.Name] {
				t.Errorf("the main help does not list %q under %q", s.Name, c.Name)
			}
		}
	}
	if !listed["operator set-role"] || !listed["serve"] {
		t.Error("the main help lacks operator set-role or serve")
	}

	var walk func(path []string, c *cli.Command)
	walk = func(path []string, c *cli.Command) {
		if c.Summary == "" {
			t.Errorf("%v has no summary", path)
		}
		if c.Name == "" {
			return // the console: what runs without a command
		}
		help, stderr, code := run(t, append(path, "--help")...)
		if code != 0 || !strings.HasPrefix(help, "Usage: ") {
			t.Errorf("%v --help: exit %d, %q %s", path, code, help, stderr)
			return
		}
		if (c.Run == nil) == (c.Subs == nil) {
			t.Errorf("%v: a command has a Run, a group has Subs, not both", path)
		}
		for _, s := range c.Subs {
			if !regexpLine(help, s.Name) {
				t.Errorf("%v --help does not list %s:\n%s", path, s.Name, help)
			}
			walk(append(append([]string{}, path...), s.Name), s)
		}
		for _, f := range c.Flags {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%v --%s has no usage", path, f.Name)
			}
			if !strings.Contains(help, "--"+f.Name+" ") && !strings.Contains(help, "--"+f.Name+"\n") {
				t.Errorf("%v --help does not list --%s:\n%s", path, f.Name, help)
			}
			if f.Usage != "" && !strings.Contains(strings.Join(strings.Fields(help), " "), strings.Join(strings.Fields(f.Usage), " ")) {
				t.Errorf("%v --help does not give --%s's usage %q", path, f.Name, f.Usage)
			}
		}
	}
	for _, c := range all {
		walk([]string{c.Name}, c)
	}
}

// commandsSection reads the main help's list of commands: "name" for a
// top-level command, "group name" for a group's commands.
func commandsSection(t *testing.T, help string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(help, "\nCommands:\n")
	if !ok {
		t.Fatalf("no Commands section:\n%s", help)
	}
	section, _, _ = strings.Cut(section, "\n\n")
	listed := map[string]bool{}
	group := ""
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "    ") && strings.TrimSpace(line[:5]) != "":
			listed[group+" "+strings.Fields(line)[0]] = true
		case strings.HasPrefix(line, "  (no command)"):
			listed["(no command)"] = true
		case strings.HasPrefix(line, "  ") && line[2] != ' ':
			group = strings.Fields(line)[0]
			listed[group] = true
		}
	}
	return listed
}

// regexpLine reports whether some line of text starts, after indentation,
// with word.
func regexpLine(text, word string) bool {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == word && strings.HasPrefix(line, "  ") {
			return true
		}
	}
	return false
}

// TestConsoleNeedsATerminal: `kmsconsole` with no command, run from a
// script (no terminal), says what to use instead and never opens the store.
func TestConsoleNeedsATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	dbPath := filepath.Join(t.TempDir(), "data", "kms.db")
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, DBPath: dbPath, Region: "cn-hangzhou"}
	if code := cli.Run(nil, env, Commands()...); code != 1 {
		t.Fatalf("exit %d", code)
	}
	var body struct {
		Code       string
		Message    string
		HttpStatus int
	}
	if err := json.Unmarshal(errb.Bytes(), &body); err != nil {
		t.Fatalf("stderr is not the JSON error: %v %q", err, errb.String())
	}
	if body.Code != "InvalidParameter" || body.HttpStatus != 400 || !strings.Contains(body.Message, "needs a terminal") || !strings.Contains(body.Message, "kmsconsole kms <Action>") {
		t.Fatalf("%+v", body)
	}
	if _, err := os.Stat(filepath.Dir(dbPath)); !os.IsNotExist(err) {
		t.Fatalf("the store was opened: %v", err)
	}
}

// TestServeRefusesBadFlags: serve's flags are checked before anything is
// opened; a bad one is InvalidParameter naming it.
func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"serve", "--bogus"}, "bogus"},
		{[]string{"serve", "--listen"}, "needs a value"},
		{[]string{"serve", "127.0.0.1:2222"}, "unexpected argument"},
		{[]string{"serve", "-listen", "127.0.0.1:0"}, "unknown flag"},
		{[]string{"serve", "--host-key", "a", "--host-key", "b"}, "more than once"},
	} {
		out, stderr, code := run(t, tc.args...)
		if code != 1 || out != "" || !strings.Contains(stderr, "InvalidParameter") || !strings.Contains(stderr, tc.mention) {
			t.Errorf("%v: exit %d, stdout %q, stderr %s", tc.args, code, out, stderr)
		}
	}
}

// TestOverSSHOnlyRemoteCommands: with a session's service (serve's exec
// path) only the remote commands run, and the main help lists only them.
func TestOverSSHOnlyRemoteCommands(t *testing.T) {
	store, err := db.Open(filepath.Join(t.TempDir(), "kms.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "alice", Role: model.RoleReadonly}})
	defer svc.Close()
	remote := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := cli.Run(args, &cli.Env{Stdout: &out, Stderr: &errb, Service: svc}, Commands()...)
		return out.String(), errb.String(), code
	}
	help, _, code := remote("--help")
	listed := commandsSection(t, help)
	if code != 0 || !listed["kms"] || !listed["rotate"] || !listed["audit"] || listed["serve"] || listed["operator"] || listed["instance"] || listed["(no command)"] {
		t.Fatalf("help over SSH: exit %d\n%s", code, help)
	}
	for _, args := range [][]string{{"serve"}, {"instance", "list"}, {"operator", "list"}, {"--db", "x", "kms", "ListSecrets"}} {
		if _, stderr, code := remote(args...); code != 1 || !strings.Contains(stderr, "SSH") {
			t.Errorf("%v over SSH: exit %d %s", args, code, stderr)
		}
	}
	if _, stderr, code := remote(); code != 1 || !strings.Contains(stderr, "no command") {
		t.Errorf("no command over SSH: exit %d %s", code, stderr)
	}
	if out, stderr, code := remote("kms", "ListSecrets"); code != 0 || !strings.Contains(out, "TotalCount") {
		t.Errorf("kms ListSecrets over SSH: exit %d %s %s", code, out, stderr)
	}
}
