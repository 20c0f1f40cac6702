package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/ui/components"
)

// helpGroups are the ? overlay's columns: every enabled action of the
// current screen's table, then the keys that work everywhere (the root's
// table) — the same tables that handle the keys.
func (m *Model) helpGroups() [][]key.Binding {
	// Columns of 8 rows; narrow terminals get taller ones (fewer columns).
	rows := max(4, min(8, m.bodyHeight()-8))
	if m.c.width < 100 {
		rows = max(rows, m.bodyHeight()-8)
	}
	groups := m.top().actions().full(rows)
	var globals []key.Binding
	for _, a := range m.actions() {
		if a.on() {
			globals = append(globals, a.key)
		}
	}
	// The keys that work everywhere stay one column while the overlay has
	// the height: a second one would push it past the screen's width.
	return append(groups, columns(globals, max(rows, min(len(globals), m.bodyHeight()-8)))...)
}

// helpView is the ? overlay.
func (m *Model) helpView() string {
	st := m.c.st
	h := m.help
	h.ShowAll = true
	full := h.FullHelpView(m.helpGroups())
	lines := strings.Split(full, "\n")
	w := 0
	for _, l := range lines {
		w = max(w, ansi.StringWidth(l))
	}
	w = min(max(w+4, 40), m.c.width-2)
	note := "esc closes this help; : finds an action by its name."
	if !m.free() {
		note = "esc closes this help." // : works only outside fields and dialogs
	}
	body := "\n" + indent(full, 1) + "\n\n " + st.Dim.Render(note)
	hgt := min(len(lines)+6, m.bodyHeight())
	return components.Box(st.Modal, st.Modal.Title.Render("Help"), body, w, hgt)
}
