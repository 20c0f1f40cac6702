package ui

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

type fakeEnv map[string]string

func (e fakeEnv) Getenv(k string) string { return e[k] }
func (e fakeEnv) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// NO_COLOR removes every colour but keeps reverse video and bold, so that
// the cursor row and the focused field still show.
func TestNoColor(t *testing.T) {
	r := lipgloss.NewRenderer(&bytes.Buffer{}, termenv.WithEnvironment(fakeEnv{"NO_COLOR": "1", "TERM": "xterm-256color"}), termenv.WithTTY(true))
	st := newStyles(r)
	cursor := st.Table.Cursor.Render("row")
	if !strings.Contains(cursor, "7") || !strings.Contains(cursor, "\x1b[") {
		t.Fatalf("the cursor row lost its reverse video: %q", cursor)
	}
	for name, s := range map[string]string{
		"cursor": cursor, "error": st.Err.Render("x"), "header": st.HeaderBar.Render("x"),
		"status": st.Warn.Render("x"), "label": st.Form.FocusedLabel.Render("x"),
	} {
		if hasColour(s) {
			t.Errorf("%s has a colour under NO_COLOR: %q", name, s)
		}
	}

	// Without NO_COLOR the same terminal gets colours.
	r = lipgloss.NewRenderer(&bytes.Buffer{}, termenv.WithEnvironment(fakeEnv{"TERM": "xterm-256color"}), termenv.WithTTY(true))
	if s := newStyles(r).Err.Render("x"); !hasColour(s) {
		t.Fatalf("no colour on a 256-colour terminal: %q", s)
	}
}

var sgrRE = regexp.MustCompile(`\x1b\[([0-9;]*)m`)

// hasColour reports an SGR colour parameter (30–49, 90–107) in s.
func hasColour(s string) bool {
	for _, m := range sgrRE.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.Split(m[1], ";") {
			n, _ := strconv.Atoi(p)
			if n >= 30 && n <= 49 || n >= 90 && n <= 107 {
				return true
			}
		}
	}
	return false
}
