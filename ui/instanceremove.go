package ui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// instanceRemoveDialog confirms RemoveInstance: the store forgets the
// instance, its admin key and its pinned host key. The service refuses
// while secrets still manage it; the refusal shows here with its code.
type instanceRemoveDialog struct {
	c    *common
	inst service.InstanceView
	busy bool
	err  error
	spin spinner.Model
	w, h int
}

type instanceRemovedMsg struct {
	id  string
	err error
}

func newInstanceRemoveDialog(c *common, inst service.InstanceView) *instanceRemoveDialog {
	return &instanceRemoveDialog{c: c, inst: inst, spin: c.spinner()}
}

func (d *instanceRemoveDialog) dialog()          {}
func (d *instanceRemoveDialog) Init() tea.Cmd    { return nil }
func (d *instanceRemoveDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *instanceRemoveDialog) Capturing() bool  { return false }

func (d *instanceRemoveDialog) Update(msg tea.Msg) tea.Cmd {
	k := d.c.keys
	switch msg := msg.(type) {
	case instanceRemovedMsg:
		if msg.id != d.inst.InstanceId {
			return nil
		}
		d.busy = false
		if msg.err != nil {
			d.err = msg.err
			return nil
		}
		return tea.Batch(pop(), msgCmd(instancesChangedMsg{}),
			flash(flashOK, fmt.Sprintf("Removed instance %s (%s)", d.inst.InstanceId, d.inst.InstanceName)))
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
		case key.Matches(msg, k.No):
			return pop()
		case key.Matches(msg, k.Yes):
			d.busy, d.err = true, nil
			svc, ctx, id := d.c.svc, d.c.ctx, d.inst.InstanceId
			return tea.Batch(d.spin.Tick, func() tea.Msg {
				return instanceRemovedMsg{id: id, err: svc.RemoveInstance(ctx, id)}
			})
		}
	}
	return nil
}

func (d *instanceRemoveDialog) View() string {
	st := d.c.st
	in := d.inst
	w := min(76, d.w-4)
	iw := w - 4
	row := func(label, value string) string {
		return "  " + st.Label.Render(components.Fit(label, 12)) + st.Value.Render(value)
	}
	lines := []string{
		"",
		st.Value.Render("Remove instance ") + st.Bold.Render(in.InstanceId) + st.Value.Render(" from the store?"),
		"",
		row("Instance", in.InstanceId),
		row("Name", in.InstanceName),
		row("Host", fmt.Sprintf("%s:%d", in.Host, in.Port)),
		row("Admin user", in.AdminUser),
		row("Host key", in.Fingerprint),
		"",
	}
	for _, l := range wrap("The store forgets its admin key and its pinned host key. Nothing on the host changes; adding it again (c) asks to confirm its host key anew.", iw) {
		lines = append(lines, st.Dim.Render(l))
	}
	if n := in.ManagedSecrets; n > 0 {
		what := "1 secret still manages it: the store refuses until it is deleted."
		if n > 1 {
			what = fmt.Sprintf("%d secrets still manage it: the store refuses until they are deleted.", n)
		}
		for _, l := range wrap(what, iw) {
			lines = append(lines, st.Warn.Render(l))
		}
	}
	lines = append(lines, "")
	switch {
	case d.busy:
		lines = append(lines, d.spin.View()+st.Dim.Render(" Removing…"))
	case d.err != nil:
		lines = append(lines, d.c.errLines(d.err, iw)...)
	default:
		lines = append(lines, d.c.help(d.ShortHelp()...))
	}
	return d.c.modal("Remove Instance", lines, w, d.h)
}

func (d *instanceRemoveDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	yes, no := k.Yes, k.No
	yes.SetHelp("y", "remove")
	no.SetHelp("n/esc", "cancel")
	return []key.Binding{yes, no}
}

func (d *instanceRemoveDialog) FullHelp() [][]key.Binding {
	return [][]key.Binding{d.ShortHelp()}
}
