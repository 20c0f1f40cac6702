package ui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
)

// confirmDialog asks yes or no about one action, runs it in a tea.Cmd
// with a spinner, shows a refusal inline (with the service's code) and, on
// success, closes with what done returns. Restore and Remove Instance are
// confirmDialogs; they differ only in words and in the keys that confirm.
type confirmDialog struct {
	c        *common
	title    string
	width    int                   // the modal's widest
	body     func(iw int) []string // the question and what it means
	busyText string                // shown beside the spinner
	yes, no  []key.Binding         // what confirms, what cancels
	hints    []key.Binding         // the footer
	act      func() error          // runs in the command's goroutine
	done     func() tea.Cmd        // after success
	busy     bool
	err      error
	spin     spinner.Model
	w, h     int
}

// confirmedMsg ends a confirmDialog's action; d tells whose.
type confirmedMsg struct {
	d   *confirmDialog
	err error
}

func (d *confirmDialog) dialog()          {}
func (d *confirmDialog) Init() tea.Cmd    { return nil }
func (d *confirmDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *confirmDialog) Capturing() bool  { return false }

func (d *confirmDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case confirmedMsg:
		if msg.d != d {
			return nil
		}
		d.busy = false
		if msg.err != nil {
			d.err = msg.err
			return nil
		}
		return tea.Batch(pop(), d.done())
	case spinner.TickMsg:
		if !d.busy {
			return nil
		}
		var cmd tea.Cmd
		d.spin, cmd = d.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		if d.busy {
			return nil
		}
		switch {
		case key.Matches(msg, d.no...):
			return pop()
		case key.Matches(msg, d.yes...):
			d.busy, d.err = true, nil
			act := d.act
			return tea.Batch(d.spin.Tick, func() tea.Msg { return confirmedMsg{d: d, err: act()} })
		}
	}
	return nil
}

func (d *confirmDialog) View() string {
	w := min(d.width, d.w-4)
	iw := w - 4
	lines := append([]string{""}, d.body(iw)...)
	lines = append(append(lines, ""), d.c.dialogStatus(d.busy, d.spin, d.busyText, d.err, iw, d.ShortHelp())...)
	return d.c.modal(d.title, lines, w, d.h)
}

func (d *confirmDialog) ShortHelp() []key.Binding  { return d.hints }
func (d *confirmDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.hints} }

// withHelp is b with other help text.
func withHelp(b key.Binding, keys, desc string) key.Binding {
	b.SetHelp(keys, desc)
	return b
}
