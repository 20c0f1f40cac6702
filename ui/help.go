package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/ui/components"
)

// helpView is the ? overlay: the current screen's full help, then the keys
// that work everywhere. Both come from the same bindings the screens match.
func (m *Model) helpView() string {
	st := m.c.st
	k := m.c.keys
	groups := m.top().FullHelp()
	groups = append(groups, []key.Binding{k.Instances, k.Audit, k.Region, k.Help, k.Back, k.Quit})
	h := m.help
	h.ShowAll = true
	full := h.FullHelpView(groups)
	lines := strings.Split(full, "\n")
	w := 0
	for _, l := range lines {
		w = max(w, ansi.StringWidth(l))
	}
	w = min(max(w+4, 40), m.c.width-2)
	body := "\n" + indent(full, 1) + "\n\n " + st.Dim.Render("Keys are listed in the footer of every screen; esc closes this help.")
	hgt := min(len(lines)+6, m.bodyHeight())
	return components.Box(st.Modal, st.Modal.Title.Render("Help"), body, w, hgt)
}
