package ui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// confirmDialog asks yes or no about one action and runs it the way every
// dialog submits (waiter): a spinner, then a refusal inline (with the
// service's code) or, on success, closes with what done returns. Restore
// and Remove Instance are confirmDialogs; they differ only in words and in
// the keys that confirm.
type confirmDialog struct {
	pageBase
	c        *common
	title    string
	width    int                   // the modal's widest
	body     func(iw int) []string // the question and what it means
	busyText string                // shown beside the spinner
	yes, no  key.Binding           // what confirms, what cancels (keys and hints)
	yesTitle string                // the palette's words for yes
	act      func() error          // runs in the command's goroutine
	done     func() tea.Cmd        // after success
	wait     waiter[struct{}]
	w, h     int
}

func (d *confirmDialog) dialog()          {}
func (d *confirmDialog) Init() tea.Cmd    { return nil }
func (d *confirmDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *confirmDialog) Capturing() bool  { return false }

func (d *confirmDialog) actions() actions {
	idle := func() bool { return !d.wait.busy }
	act := d.act
	return actions{
		{key: d.yes, title: d.yesTitle, enabled: idle, hint: true, run: func() tea.Cmd {
			return d.wait.start(d.busyText, func() (struct{}, error) { return struct{}{}, act() })
		}},
		{key: d.no, title: "Cancel", enabled: idle, hint: true, run: pop},
	}
}

func (d *confirmDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end != nil && end.err == nil {
			return tea.Batch(pop(), d.done())
		}
		return cmd
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		cmd, _ := d.actions().handle(msg)
		return cmd
	}
	return nil
}

func (d *confirmDialog) View() string {
	w := min(d.width, d.w-4)
	iw := w - 4
	lines := append([]string{""}, d.body(iw)...)
	lines = append(append(lines, ""), d.wait.status(d.c, iw, d.actions().short())...)
	return d.c.modal(d.title, lines, w, d.h)
}

// withHelp is b with other help text.
func withHelp(b key.Binding, keys, desc string) key.Binding {
	b.SetHelp(keys, desc)
	return b
}

// orKeys is b matching the keys of others too (help text of b).
func orKeys(b key.Binding, others ...key.Binding) key.Binding {
	keys := b.Keys()
	for _, o := range others {
		keys = append(keys, o.Keys()...)
	}
	b.SetKeys(keys...)
	return b
}

// onlyKeys is b matching only keys (help text of b).
func onlyKeys(b key.Binding, keys ...string) key.Binding {
	b.SetKeys(keys...)
	return b
}
