package cli

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The help is made from the command table: the main help lists every
// command, a group's help its commands, a command's help its flags.

func jsonLine(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// helpWidth is the width help is wrapped to.
const helpWidth = 80

// globalFlags are read anywhere on the line (takeGlobalFlags).
var globalFlags = []Flag{
	{Name: "db", Value: "PATH|URL", Usage: "the store: a SQLite file, or a postgres:// URL of a PostgreSQL database that several serve replicas may share (env KMSCONSOLE_DB; default $XDG_DATA_HOME/kmsconsole/kms.db)"},
	{Name: "data-dir", Value: "DIR", Usage: "where the master key, serve's host key and the API certificate live (env KMSCONSOLE_DATA_DIR; default: the SQLite file's directory, or $XDG_DATA_HOME/kmsconsole with PostgreSQL)"},
	{Name: "region", Value: "ID", Usage: "the region to work in (env KMSCONSOLE_REGION; default cn-hangzhou)"},
}

// mainHelp lists every command of the table and the global flags; over
// SSH (remote), only the commands that run there.
func mainHelp(cmds []*Command, remote bool) string {
	var b strings.Builder
	b.WriteString("kmsconsole — a Secrets Manager console for machines you run yourself.\n\n")
	if remote {
		b.WriteString("Usage over SSH: COMMAND [flags] (the console: no command, with a terminal)\n\nCommands:\n")
	} else {
		b.WriteString("Usage: kmsconsole [--db PATH|URL] [--data-dir DIR] [--region ID] [COMMAND] [flags]\n\nCommands:\n")
	}
	var rows []row
	for _, c := range withConsoleFirst(cmds) {
		if remote && !c.Remote {
			continue
		}
		left := "  " + words(c.Name, c.Params)
		if c.Name == "" {
			left = "  (no command)"
		}
		rows = append(rows, row{left, c.Summary})
		for _, s := range c.Subs {
			rows = append(rows, row{"    " + words(s.Name, s.Params), s.Summary})
		}
	}
	writeRows(&b, rows)
	if !remote {
		b.WriteString("\nGlobal flags (anywhere on the line):\n")
		writeRows(&b, flagRows(globalFlags))
		b.WriteString("Environment:\n")
		writeRows(&b, []row{{"  KMSCONSOLE_MASTER_KEY_FILE", "the master key (default: master.key beside the store)"}})
		b.WriteString("\nRun 'kmsconsole COMMAND --help' for a command's flags.\n")
	} else {
		b.WriteString("\nRun 'COMMAND --help' for a command's flags.\n")
	}
	return b.String()
}

// groupHelp is the help of a group: its commands.
func groupHelp(path string, c *Command) string {
	var b strings.Builder
	params := c.Params
	if params == "" {
		params = "<" + c.subNoun() + ">"
	}
	writeWrapped(&b, "Usage: ", strings.Fields("kmsconsole "+path+" "+params+" [flags]"))
	b.WriteString("\n")
	writeWrapped(&b, "", strings.Fields(c.Summary))
	if c.Help != "" {
		b.WriteString("\n" + strings.TrimRight(c.Help, "\n") + "\n")
	}
	b.WriteString("\n" + strings.ToUpper(c.subNoun()[:1]) + c.subNoun()[1:] + "s:\n")
	var rows []row
	for _, s := range c.Subs {
		rows = append(rows, row{"  " + words(s.Name, s.Params), s.Summary})
	}
	writeRows(&b, rows)
	b.WriteString("\nRun 'kmsconsole " + path + " " + params + " --help' for a" + article(c.subNoun()) + " " + c.subNoun() + "'s flags.\n")
	return b.String()
}

// commandHelp is the help of one command: synopsis, summary, every flag.
func commandHelp(path string, c *Command) string {
	var b strings.Builder
	writeWrapped(&b, "Usage: ", synopsis(path, c))
	b.WriteString("\n")
	writeWrapped(&b, "", strings.Fields(c.Summary))
	if len(c.Flags) > 0 {
		b.WriteString("\nFlags:\n")
		writeRows(&b, flagRows(c.Flags))
	}
	if c.Help != "" {
		b.WriteString("\n" + strings.TrimRight(c.Help, "\n") + "\n")
	}
	return b.String()
}

// synopsis is a command's usage line as units that wrapping keeps whole:
// required flags bare, the others in brackets.
func synopsis(path string, c *Command) []string {
	units := append(strings.Fields("kmsconsole "+path), strings.Fields(c.Params)...)
	for _, f := range c.Flags {
		u := "--" + f.Name
		if !f.Switch {
			u += " " + f.value()
		}
		if !f.Required {
			u = "[" + u + "]"
		}
		if f.Repeat {
			u += "..."
		}
		units = append(units, u)
	}
	return units
}

func (f *Flag) value() string {
	if f.Value == "" {
		return "VALUE"
	}
	return f.Value
}

func flagRows(flags []Flag) []row {
	rows := make([]row, len(flags))
	for i, f := range flags {
		left := "  --" + f.Name
		if !f.Switch {
			left += " " + f.value()
		}
		usage := f.Usage
		if f.Default != "" {
			usage += " (default " + f.Default + ")"
		}
		if f.Repeat {
			usage += " (repeatable)"
		}
		rows[i] = row{left, usage}
	}
	return rows
}

// row is one line of a two-column list: what to type, what it does.
type row struct{ left, right string }

// maxLeft bounds the first column: a longer entry puts its text on the
// next line instead of pushing every row's text to the right.
const maxLeft = 34

// writeRows writes rows with the right column aligned and wrapped.
func writeRows(b *strings.Builder, rows []row) {
	col := 0
	for _, r := range rows {
		if n := utf8.RuneCountInString(r.left); n <= maxLeft {
			col = max(col, n)
		}
	}
	col += 2
	pad := strings.Repeat(" ", col)
	for _, r := range rows {
		lines := wrapUnits(strings.Fields(r.right), helpWidth-col)
		if len(lines) == 0 {
			lines = []string{""}
		}
		n := utf8.RuneCountInString(r.left)
		if n > col-2 {
			b.WriteString(r.left + "\n")
		} else {
			lines[0] = r.left + strings.Repeat(" ", col-n) + lines[0]
			b.WriteString(strings.TrimRight(lines[0], " ") + "\n")
			lines = lines[1:]
		}
		for _, l := range lines {
			b.WriteString(pad + l + "\n")
		}
	}
}

// writeWrapped writes units after prefix, wrapped, continuation lines
// indented under the first unit.
func writeWrapped(b *strings.Builder, prefix string, units []string) {
	indent := utf8.RuneCountInString(prefix)
	if len(units) > 1 && strings.HasPrefix(prefix, "Usage") {
		indent += utf8.RuneCountInString(units[0]) + 1
	}
	lines := wrapUnits(units, helpWidth-indent)
	for i, l := range lines {
		if i == 0 {
			b.WriteString(prefix + l + "\n")
		} else {
			b.WriteString(strings.Repeat(" ", indent) + l + "\n")
		}
	}
}

// wrapUnits joins units with spaces into lines of at most width runes,
// never splitting a unit (a long unit has a line to itself).
func wrapUnits(units []string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, u := range units {
		w := utf8.RuneCountInString(u)
		if n > 0 && n+1+w > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(u)
		n += w
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func words(parts ...string) string {
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "n"
	}
	return ""
}
