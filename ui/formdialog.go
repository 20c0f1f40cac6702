package ui

import (
	"slices"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/ui/components"
)

// What the dialogs and forms share: one submit-and-wait behaviour
// (waiter), one esc that asks before it throws typed input away
// (discard), and one table of form keys (formKit).

// waiter is the submit-and-wait behaviour of every dialog: start runs the
// work in a command (its result comes back to the dialog, like every
// reply); while it runs the spinner turns beside what is being done and
// the dialog's keys are off; its end is an error, shown in the dialog with
// the input kept, or a result, with which the dialog closes.
type waiter[T any] struct {
	busy  bool
	doing string
	err   error
	spin  spinner.Model
}

// waitedMsg is the end of a waiter's work.
type waitedMsg[T any] struct {
	result T
	err    error
}

func newWaiter[T any](c *common) waiter[T] { return waiter[T]{spin: c.spinner()} }

// start runs work, saying doing while it runs.
func (w *waiter[T]) start(doing string, work func() (T, error)) tea.Cmd {
	w.busy, w.doing, w.err = true, doing, nil
	return tea.Batch(w.spin.Tick, func() tea.Msg {
		r, err := work()
		return waitedMsg[T]{result: r, err: err}
	})
}

// update takes the waiter's messages (ok): spinner frames while busy, and
// the end, which it returns; its error stays in err for the view.
func (w *waiter[T]) update(msg tea.Msg) (cmd tea.Cmd, end *waitedMsg[T], ok bool) {
	switch m := msg.(type) {
	case spinner.TickMsg:
		if w.busy {
			w.spin, cmd = w.spin.Update(m)
		}
		return cmd, nil, true
	case waitedMsg[T]:
		w.busy, w.err = false, m.err
		return nil, &m, true
	}
	return nil, nil, false
}

// status is a dialog's last line(s): the spinner and what is being done
// while busy, else the error with its code, else the key hints.
func (w *waiter[T]) status(c *common, width int, hints []key.Binding) []string {
	switch {
	case w.busy:
		return []string{w.spin.View() + c.st.Dim.Render(" "+w.doing)}
	case w.err != nil:
		return c.errLines(w.err, width)
	}
	return []string{c.help(hints...)}
}

// discard is esc on a form: with nothing typed it closes at once; once a
// field differs from what the form opened with, it asks first — y throws
// the input away, n or esc goes back to it.
type discard struct {
	asking  bool
	items   []components.Item
	initial []string
}

// watch remembers the fields' values as they are now: the form's start.
func (g *discard) watch(items ...components.Item) {
	g.items = items
	g.initial = fieldValues(items)
}

func fieldValues(items []components.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		switch f := it.(type) {
		case *components.TextField:
			out[i] = f.Value()
		case *components.Choice:
			// The choice made, not its text: a picker's options load later.
			out[i] = strconv.Itoa(f.Selected)
		}
	}
	return out
}

// dirty: something was typed or chosen since the form opened.
func (g *discard) dirty() bool { return !slices.Equal(fieldValues(g.items), g.initial) }

// cancel is esc: close at once, or ask first.
func (g *discard) cancel(close func() tea.Cmd) func() tea.Cmd {
	return func() tea.Cmd {
		if g.dirty() {
			g.asking = true
			return nil
		}
		return close()
	}
}

// actions are the question's keys, enabled while it is asked.
func (g *discard) actions(c *common, close func() tea.Cmd) actions {
	asking := func() bool { return g.asking }
	return actions{
		{key: c.keys.Discard, title: "Discard what was typed and close", enabled: asking, run: close, hint: true},
		{key: c.keys.KeepEditing, title: "Keep editing", enabled: asking, hint: true, run: func() tea.Cmd {
			g.asking = false
			return nil
		}},
	}
}

// prompt is the question, for the dialog's status line.
func (g *discard) prompt(c *common, hints []key.Binding) string {
	return c.st.Warn.Render("Discard what you typed?") + "  " + c.help(hints...)
}

// formKit is the part of a form's page that every form has: the fields,
// the keys that move between them and change a choice, and esc.
type formKit struct {
	c       *common
	form    components.Form
	discard discard
	// changed runs after a field took a key: dependent fields show or hide.
	changed func()
}

// choiceFocused: ←/→ and space change the focused field's choice.
func (f *formKit) choiceFocused() bool {
	_, ok := f.form.Focused().(*components.Choice)
	return ok
}

// actions are the form's table: the discard question, then the submit
// key (enter; one action per meaning, each with its own enabled, nil for
// always), tab and shift+tab, ←/→ on a choice, and esc as cancel, which
// asks before it throws input away. idle (nil: always) is when the form
// takes keys at all (not while it waits).
func (f *formKit) actions(idle func() bool, confirms []action, cancel key.Binding, close func() tea.Cmd) actions {
	k := f.c.keys
	on := func() bool { return !f.discard.asking && (idle == nil || idle()) }
	onChoice := func() bool { return on() && f.choiceFocused() }
	several := func() bool {
		n := 0
		for _, it := range f.form.Items {
			if !it.Hidden() {
				n++
			}
		}
		return on() && n > 1
	}
	choose := func(t tea.KeyType) func() tea.Cmd {
		return func() tea.Cmd { return f.input(tea.KeyMsg{Type: t}) }
	}
	as := f.discard.actions(f.c, close)
	for _, a := range confirms {
		when := a.enabled
		a.enabled = func() bool { return on() && (when == nil || when()) }
		a.hint = true
		as = append(as, a)
	}
	return append(as,
		action{key: k.NextField, enabled: several, run: f.form.Next, hint: true, nav: true},
		action{key: k.PrevField, enabled: several, run: f.form.Prev, nav: true},
		action{key: k.ChoiceNext, enabled: onChoice, run: choose(tea.KeyRight), hint: true, nav: true},
		action{key: k.ChoicePrev, enabled: onChoice, run: choose(tea.KeyLeft), nav: true},
		action{key: cancel, title: "Cancel", enabled: on, run: f.discard.cancel(close), hint: true},
	)
}

// input gives a key no action took to the focused field.
func (f *formKit) input(msg tea.KeyMsg) tea.Cmd {
	if f.discard.asking {
		return nil
	}
	cmd := f.form.Update(msg)
	if f.changed != nil {
		f.changed()
	}
	return cmd
}

// onKey handles a key on a form page: the table first, else the field.
func (f *formKit) onKey(msg tea.KeyMsg, as actions, idle bool) tea.Cmd {
	if cmd, ok := as.handle(msg); ok {
		return cmd
	}
	if !idle {
		return nil
	}
	return f.input(msg)
}

// formStatus is a form dialog's last line(s): the discard question while
// it is asked, else the waiter's status.
func formStatus[T any](f *formKit, w *waiter[T], width int, as actions) []string {
	if f.discard.asking {
		return []string{f.discard.prompt(f.c, as.short())}
	}
	return w.status(f.c, width, as.short())
}
