package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/ui/components"
)

// action is one key of a screen, k9s's KeyAction: the binding (keys and
// help text, from the key map), the sentence the : palette shows, when it
// works, and what it does. Each screen's actions() table is the one place
// its keys are bound: Update dispatches through it, and the footer, the ?
// overlay, the : palette and the README's key list are all made from it,
// so a hint cannot exist without its handler.
type action struct {
	key key.Binding
	// title is the palette's line, a short sentence ("Reveal the selected
	// version's value"); "" keeps the action out of the palette (cursor
	// and field movement, the palette's own keys).
	title string
	// enabled reports whether the key does anything now (nil: always). A
	// disabled action neither matches nor shows. What a role may not do is
	// disabled in the key map itself (keyMap.readonly).
	enabled func() bool
	// applies reports whether the action makes sense for what is selected
	// (nil: whenever enabled). An enabled action that does not apply still
	// runs when its key is pressed, to say why not (a flash); the footer
	// and the palette leave it out, the ? overlay lists it.
	applies func() bool
	run     func() tea.Cmd
	// hint shows the action in the footer while it applies. The footer
	// keeps the table's order; when the hints do not fit, the earlier ones
	// have priority.
	hint bool
	// nav marks cursor and field movement: a column of its own in the ?
	// overlay, one shared line in the README.
	nav bool
}

// on: the key works now.
func (a action) on() bool { return a.key.Enabled() && (a.enabled == nil || a.enabled()) }

// apt: the key works now and makes sense for what is selected.
func (a action) apt() bool { return a.on() && (a.applies == nil || a.applies()) }

// actions is a screen's table, in priority order.
type actions []action

// handle runs the first enabled action that msg matches; ok is false when
// none does (the key is then text for a focused field, or nothing).
func (as actions) handle(msg tea.KeyMsg) (cmd tea.Cmd, ok bool) {
	for _, a := range as {
		if a.on() && key.Matches(msg, a.key) {
			return a.run(), true
		}
	}
	return nil, false
}

// short are the footer's hints: the actions that apply and are hints.
func (as actions) short() []key.Binding {
	var out []key.Binding
	for _, a := range as {
		if a.hint && a.apt() {
			out = append(out, a.key)
		}
	}
	return out
}

// full is the ? overlay's part for the table: every enabled action, the
// screen's own in columns of at most rows, then the movement keys.
func (as actions) full(rows int) [][]key.Binding {
	var own, nav []key.Binding
	for _, a := range as {
		switch {
		case !a.on():
		case a.nav:
			nav = append(nav, a.key)
		default:
			own = append(own, a.key)
		}
	}
	return append(columns(own, rows), columns(nav, rows)...)
}

// columns splits bs into columns of at most rows, as even as they go.
func columns(bs []key.Binding, rows int) [][]key.Binding {
	rows = max(1, rows)
	if n := (len(bs) + rows - 1) / rows; n > 0 {
		rows = (len(bs) + n - 1) / n
	}
	var out [][]key.Binding
	for len(bs) > 0 {
		n := min(rows, len(bs))
		out = append(out, bs[:n])
		bs = bs[n:]
	}
	return out
}

// offered are the palette's entries: the actions that apply and have a
// title.
func (as actions) offered() []action {
	var out []action
	for _, a := range as {
		if a.title != "" && a.apt() {
			out = append(out, a)
		}
	}
	return out
}

// find is the offered action with title.
func (as actions) find(title string) (action, bool) {
	for _, a := range as.offered() {
		if a.title == title {
			return a, true
		}
	}
	return action{}, false
}

// Tables shared by screens.

// listActions are the cursor keys of a list: ↑ ↓ (footer hints when hint
// is set), page up and down, first and last (home and end only when ends
// is set); moved runs after every move (nil: nothing).
func (c *common) listActions(t *components.Table, enabled func() bool, hint, ends bool, moved func()) actions {
	k := c.keys
	move := func(f func()) func() tea.Cmd {
		return func() tea.Cmd {
			f()
			if moved != nil {
				moved()
			}
			return nil
		}
	}
	as := actions{
		{key: k.Up, enabled: enabled, run: move(func() { t.Move(-1) }), hint: hint, nav: true},
		{key: k.Down, enabled: enabled, run: move(func() { t.Move(1) }), hint: hint, nav: true},
		{key: k.PageUp, enabled: enabled, run: move(func() { t.Page(-1) }), nav: true},
		{key: k.PageDown, enabled: enabled, run: move(func() { t.Page(1) }), nav: true},
	}
	if ends {
		as = append(as,
			action{key: k.Home, enabled: enabled, run: move(t.Home), nav: true},
			action{key: k.End, enabled: enabled, run: move(t.End), nav: true})
	}
	return as
}

// hintLine renders hints on one line of at most w cells, as the footer
// shows them: all of them when they fit; else those that fit, earlier ones
// first, then more (the key that shows the rest).
func (c *common) hintLine(bs []key.Binding, w int, more key.Binding) string {
	st := c.st.Help
	sep := st.ShortSeparator.Inline(true).Render(" · ")
	item := func(b key.Binding) string {
		return st.ShortKey.Inline(true).Render(b.Help().Key) + " " + st.ShortDesc.Inline(true).Render(b.Help().Desc)
	}
	items := make([]string, 0, len(bs))
	total := 0
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		s := item(b)
		items = append(items, s)
		if total > 0 {
			total += ansi.StringWidth(sep)
		}
		total += ansi.StringWidth(s)
	}
	if total <= w {
		return strings.Join(items, sep)
	}
	tail := item(more)
	room := w - ansi.StringWidth(tail)
	var kept []string
	used := 0
	for _, s := range items {
		need := ansi.StringWidth(s) + ansi.StringWidth(sep) // each kept item is followed by a separator
		if used+need > room {
			continue
		}
		kept = append(kept, s)
		used += need
	}
	return strings.Join(append(kept, tail), sep)
}
