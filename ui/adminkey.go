package ui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// adminKeyDialog is Rotate Admin Key on the Instances screen: it asks
// first, then shows create → set → test → finish as the rotation runs and
// its result (the new key's fingerprint, the old key's lines removed) or
// its failure. The root runs it through the fleet engine as a one-item
// fleet (rotate.go), so it counts as a running rotation: q asks first and
// waits for it. It cannot be sent to the background: it is short, and its
// end is the instance's new state.
type adminKeyDialog struct {
	pageBase
	c     *common
	in    service.InstanceView
	state rotateState
	step  int
	res   *service.FleetResult
	err   error
	spin  spinner.Model
	w, h  int
}

var adminKeySteps = []struct{ name, what string }{
	{service.StepCreate, "store a new ed25519 key, pending"},
	{service.StepSet, "add it to the admin's authorized_keys"},
	{service.StepTest, "log in with it on a fresh connection"},
	{service.StepFinish, "promote it; remove the old key's lines"},
}

func newAdminKeyDialog(c *common, in service.InstanceView) *adminKeyDialog {
	return &adminKeyDialog{pageBase: newPageBase(), c: c, in: in, spin: c.spinner()}
}

func (d *adminKeyDialog) dialog()          {}
func (d *adminKeyDialog) Init() tea.Cmd    { return nil }
func (d *adminKeyDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *adminKeyDialog) Capturing() bool  { return false }
func (d *adminKeyDialog) holds() bool      { return d.state == rotateRunning }

func (d *adminKeyDialog) actions() actions {
	k := d.c.keys
	prompt := func() bool { return d.state == rotatePrompt }
	ended := func() bool { return d.state == rotateDone || d.state == rotateFailed }
	return actions{
		{key: withHelp(k.Confirm, "enter", "rotate"), title: "Rotate the admin key", enabled: prompt, hint: true, run: d.start},
		{key: k.Cancel, title: "Cancel", enabled: prompt, hint: true, run: pop},
		{key: k.Close, title: "Close", enabled: ended, hint: true, run: func() tea.Cmd { return tea.Batch(pop(), msgCmd(instancesChangedMsg{})) }},
	}
}

// start has the root run the rotation (a one-item fleet of the engine).
func (d *adminKeyDialog) start() tea.Cmd {
	d.state, d.step = rotateRunning, 0
	item := service.FleetItem{InstanceId: d.in.InstanceId, Kind: service.FleetAdminKey}
	return tea.Batch(d.c.rotator.rotateFleet(d.id(), []service.FleetItem{item}), d.spin.Tick)
}

func (d *adminKeyDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case rotationStepMsg:
		for i, s := range adminKeySteps {
			if s.name == msg.step {
				d.step = i
			}
		}
	case rotationEndMsg:
		d.res, d.err = msg.fleet, msg.err
		d.state = rotateDone
		if d.err != nil {
			d.state = rotateFailed
		}
	case spinner.TickMsg:
		if d.state != rotateRunning {
			return nil
		}
		var cmd tea.Cmd
		d.spin, cmd = d.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		cmd, _ := d.actions().handle(msg)
		return cmd
	}
	return nil
}

func (d *adminKeyDialog) View() string {
	st := d.c.st
	w := min(76, d.w-4)
	iw := w - 4
	lw := 14
	field := func(label, value string) string {
		return st.Label.Render(components.Fit(label, lw)) + st.Value.Render(model.SafeText(value))
	}
	lines := []string{
		"",
		st.Label.Render(components.Fit("Instance", lw)) + st.Bold.Render(model.SafeText(instanceLabel(d.in.InstanceId, d.in.InstanceName, d.in.Host, d.in.Port))),
		field("Admin user", d.in.AdminUser),
	}
	if d.in.AdminKeyRotated != "" {
		lines = append(lines, field("Last rotated", fmtAPITime(d.in.AdminKeyRotated)))
	}
	lines = append(lines, "")
	switch d.state {
	case rotatePrompt:
		for _, l := range wrap(fmt.Sprintf("Replace the SSH key kmsconsole logs in to %s with? A new ed25519 key is stored, added to the authorized_keys of %s, tried on a fresh login, and only then used; the old key's lines are then removed and it no longer logs in. A failure before that puts the host back.",
			d.in.InstanceId, d.in.AdminUser), iw) {
			lines = append(lines, st.Value.Render(model.SafeText(l)))
		}
		if d.in.ManagedSecrets > 0 {
			lines = append(lines, "")
			for _, l := range wrap(fmt.Sprintf("Rotations of its %d secret(s) under way finish first; none starts meanwhile.", d.in.ManagedSecrets), iw) {
				lines = append(lines, st.Dim.Render(l))
			}
		}
	default:
		lines = append(lines, d.stepLines()...)
		lines = append(lines, "")
		switch d.state {
		case rotateRunning:
			lines = append(lines, st.Dim.Render("Rotating… the instance keeps a working admin key at every step."))
		case rotateDone:
			lines = append(lines, st.OK.Render("✓ ")+st.Bold.Render("Admin key rotated"), field("New key", d.res.Fingerprint))
			if d.res.Warning != "" {
				lines = append(lines, st.Label.Render(components.Fit("Old key", lw))+st.Warn.Render("still logs in"))
				for _, l := range wrap("Warning: "+d.res.Warning, iw) {
					lines = append(lines, st.Warn.Render(model.SafeText(l)))
				}
			} else {
				lines = append(lines, field("Old key", removedKeyLines(d.res.RemovedKeyLines)+"; refused"))
			}
		case rotateFailed:
			lines = append(lines, st.Err.Render("✗ ")+st.Bold.Render("Rotation failed"))
			lines = append(lines, d.c.errLines(d.err, iw)...)
		}
	}
	if d.state != rotateRunning {
		lines = append(lines, "", d.c.help(d.actions().short()...))
	}
	return d.c.modal("Rotate Admin Key", lines, w, d.h)
}

// stepLines are create/set/test/finish: done ✓, running (spinner), failed
// ✗, to do ·.
func (d *adminKeyDialog) stepLines() []string {
	return renderSteps(d.c.st, adminKeySteps, d.step, d.step, d.state, d.spin.View())
}
