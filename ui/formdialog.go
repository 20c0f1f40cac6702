package ui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/ui/components"
)

// Plumbing shared by the dialogs: input handling and the status line.

// formDialogInput is what every form dialog (put value, move stage, plan
// deletion, edit) does with a spinner tick or a key: the spinner turns only
// while the dialog is busy; keys are ignored while it is; esc cancels,
// tab / shift+tab move between fields, enter submits; any other key goes to
// the form, after which changed (if any) shows or hides dependent fields.
// handled is false for any other message.
func (c *common) formDialogInput(msg tea.Msg, busy bool, spin *spinner.Model, form *components.Form,
	submit func() tea.Cmd, changed func()) (cmd tea.Cmd, handled bool) {
	switch msg := msg.(type) {
	case spinner.TickMsg:
		if busy {
			*spin, cmd = spin.Update(msg)
		}
		return cmd, true
	case tea.KeyMsg:
		if busy {
			return nil, true
		}
		k := c.keys
		switch {
		case key.Matches(msg, k.Cancel):
			return pop(), true
		case key.Matches(msg, k.NextField):
			return form.Next(), true
		case key.Matches(msg, k.PrevField):
			return form.Prev(), true
		case key.Matches(msg, k.Confirm):
			return submit(), true
		}
		cmd = form.Update(msg)
		if changed != nil {
			changed()
		}
		return cmd, true
	}
	return nil, false
}

// dialogStatus is a dialog's last line(s): the spinner and what is being
// done while busy, else the error with its code, else the key hints.
func (c *common) dialogStatus(busy bool, spin spinner.Model, doing string, err error, width int, hints []key.Binding) []string {
	switch {
	case busy:
		return []string{spin.View() + c.st.Dim.Render(" "+doing)}
	case err != nil:
		return c.errLines(err, width)
	}
	return []string{c.help(hints...)}
}
