package ui

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// Rotations run in a goroutine started by a command; RotateSecret's
// Progress callback (called on that goroutine) feeds a channel that the
// root pumps one message at a time (waitRotation). The root, not the page,
// keeps the pump going and counts running rotations, so closing a dialog
// never loses a rotation's end and q can wait for it.
type (
	rotationStartedMsg struct {
		id   int64
		name string
		ch   <-chan tea.Msg
	}
	rotationStepMsg struct {
		id   int64
		name string
		step string
		ch   <-chan tea.Msg
	}
	rotationDoneMsg struct {
		id   int64
		name string
		resp *service.RotateSecretResponse
		err  error
	}
	// rotationDetachedMsg: the dialog that showed the rotation closed; the
	// root reports its end instead.
	rotationDetachedMsg struct{ id int64 }
)

var rotationIds atomic.Int64

// startRotation returns the rotation's id and the command that starts it.
// It is called from Update: the rotation counts as running from now on.
func startRotation(c *common, name, customValue string) (int64, tea.Cmd) {
	id := rotationIds.Add(1)
	c.rotations++
	// A rotation outlives its session (an SSH client hanging up): it
	// finishes, so that the host and the store agree.
	svc, ctx := c.svc, context.WithoutCancel(c.ctx)
	return id, func() tea.Msg {
		ch := make(chan tea.Msg, 8) // room for every step and the end: the rotation never blocks on the UI
		go func() {
			defer close(ch)
			req := service.RotateSecretRequest{SecretName: name, SecretData: customValue}
			req.Progress = func(step string) { ch <- rotationStepMsg{id: id, name: name, step: step, ch: ch} }
			resp, err := svc.RotateSecret(ctx, req)
			ch <- rotationDoneMsg{id: id, name: name, resp: resp, err: err}
		}()
		return rotationStartedMsg{id: id, name: name, ch: ch}
	}
}

func waitRotation(ch <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return nil
		}
		return m
	}
}

var rotationSteps = []struct{ name, what string }{
	{service.StepCreate, "store the new credential as a pending version"},
	{service.StepSet, "apply it on the instance"},
	{service.StepTest, "log in as the managed user with it"},
	{service.StepFinish, "promote it to ACSCurrent"},
}

func stepIndex(step string) int {
	for i, s := range rotationSteps {
		if s.name == step {
			return i
		}
	}
	return -1
}

// rotateDialog is Rotate Immediately: the "Use Custom Secret" prompt, the
// live create → set → test → finish progress, then "Rotation triggered"
// with the new VersionId, or the failure with its code.
type rotateDialog struct {
	c      *common
	secret model.Secret
	cfg    model.ECSConfig
	inst   *service.InstanceView

	form     components.Form
	custom   *components.Choice
	password *components.TextField
	key      *keyInput

	state    rotateState
	id       int64
	step     int // index of the running step
	resp     *service.RotateSecretResponse
	err      error
	spin     spinner.Model
	w, h     int
	failedAt int
}

type rotateState int

const (
	rotatePrompt rotateState = iota
	rotateRunning
	rotateDone
	rotateFailed
)

type instanceLoadedMsg struct {
	id   string
	inst *service.InstanceView
}

func newRotateDialog(c *common, s model.Secret) *rotateDialog {
	d := &rotateDialog{c: c, secret: s, spin: c.spinner()}
	d.cfg, _ = ecsInfo(&s)
	d.custom = &components.Choice{Name: "Use Custom Secret", Options: []string{"Off", "On"}}
	c.choiceKeys(d.custom)
	in := c.st.secretInput("the new password")
	d.password = components.NewTextField("Secret value", in, model.ValidatePassword)
	d.password.Hide = true
	d.key = newKeyInput(c, "Private key", false)
	d.key.field.Hide = true
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.custom, d.password, d.key.field}, LabelWidth: 18, ErrText: fieldError}
	return d
}

func (d *rotateDialog) dialog()          {}
func (d *rotateDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *rotateDialog) Capturing() bool  { return d.state == rotatePrompt }
func (d *rotateDialog) keyPair() bool    { return d.cfg.SecretSubType == model.SubTypeSSHKey }
func (d *rotateDialog) useCustom() bool  { return d.custom.Value() == "On" }

func (d *rotateDialog) Init() tea.Cmd {
	svc, ctx, id := d.c.svc, d.c.ctx, d.cfg.InstanceId
	return tea.Batch(d.form.FocusFirst(), func() tea.Msg {
		inst, _ := svc.Instance(ctx, id)
		return instanceLoadedMsg{id: id, inst: inst}
	})
}

func (d *rotateDialog) Update(msg tea.Msg) tea.Cmd {
	k := d.c.keys
	switch msg := msg.(type) {
	case instanceLoadedMsg:
		if msg.id == d.cfg.InstanceId {
			d.inst = msg.inst
		}
	case keyLoadedMsg:
		d.key.apply(msg)
	case rotationStartedMsg:
		if msg.id == d.id {
			d.state = rotateRunning
		}
	case rotationStepMsg:
		if msg.id == d.id {
			if i := stepIndex(msg.step); i >= 0 {
				d.step = i
			}
		}
	case rotationDoneMsg:
		if msg.id != d.id {
			return nil
		}
		d.resp, d.err = msg.resp, msg.err
		if msg.err != nil {
			d.state = rotateFailed
			d.failedAt = d.step
		} else {
			d.state = rotateDone
			d.step = len(rotationSteps)
		}
	case spinner.TickMsg:
		if d.state != rotateRunning {
			return nil
		}
		var cmd tea.Cmd
		d.spin, cmd = d.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		switch d.state {
		case rotateRunning:
			if key.Matches(msg, k.Back) {
				// It goes on in the background; the root reports its end.
				return tea.Batch(pop(), msgCmd(rotationDetachedMsg{id: d.id}),
					flash(flashInfo, "The rotation of "+d.secret.Name+" goes on in the background"))
			}
			return nil
		case rotateDone, rotateFailed:
			if key.Matches(msg, k.Close) {
				return pop()
			}
			return nil
		}
		switch {
		case key.Matches(msg, k.Cancel):
			return pop()
		case key.Matches(msg, k.NextField):
			return d.form.Next()
		case key.Matches(msg, k.PrevField):
			return d.form.Prev()
		case key.Matches(msg, k.Confirm):
			return d.submit()
		}
		cmd := d.form.Update(msg)
		d.password.Hide = !d.useCustom() || d.keyPair()
		d.key.field.Hide = !d.useCustom() || !d.keyPair()
		if d.form.Focused() == d.key.field {
			return tea.Batch(cmd, d.key.changed())
		}
		return cmd
	}
	return nil
}

func (d *rotateDialog) submit() tea.Cmd {
	custom := ""
	if d.useCustom() {
		if d.keyPair() {
			if d.key.field.Check() != nil || !d.key.ready() {
				d.key.field.Touched = true
				return d.form.FocusItem(d.key.field)
			}
			custom = d.key.pem
		} else {
			if d.password.Check() != nil {
				return d.form.FocusItem(d.password)
			}
			custom = d.password.Value()
		}
	}
	d.form.Focused().Blur()
	d.state = rotateRunning
	d.step = 0
	var start tea.Cmd
	d.id, start = startRotation(d.c, d.secret.Name, custom)
	return tea.Batch(start, d.spin.Tick)
}

func (d *rotateDialog) View() string {
	st := d.c.st
	w := min(76, d.w-4)
	iw := w - 4
	lw := 18
	field := func(label, value string) string {
		return st.Label.Render(components.Fit(label, lw+2)) + st.Value.Render(model.SafeText(value))
	}
	inst := d.cfg.InstanceId
	if d.inst != nil {
		inst = fmt.Sprintf("%s · %s · %s:%d", d.inst.InstanceId, d.inst.InstanceName, d.inst.Host, d.inst.Port)
	}
	lines := []string{
		"",
		st.Label.Render(components.Fit("Secret", lw+2)) + st.Bold.Render(model.SafeText(d.secret.Name)),
		field("Instance", inst),
		field("Credential", subTypeLabel(d.cfg.SecretSubType)),
		"",
	}
	switch d.state {
	case rotatePrompt:
		lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
		lines = append(lines, "")
		explain := "A new 32-character password (all four character classes) is generated and set on the instance."
		if d.keyPair() {
			explain = "A new RSA-2048 key pair is generated; its public key is added to the user's authorized_keys."
		}
		if d.useCustom() {
			explain = "The value you give is set on the instance and tested before it becomes ACSCurrent."
		}
		for _, l := range wrap(explain, iw) {
			lines = append(lines, st.Dim.Render(l))
		}
		lines = append(lines, "", d.c.help(d.ShortHelp()...))
	default:
		lines = append(lines, d.stepLines()...)
		lines = append(lines, "")
		switch d.state {
		case rotateRunning:
			lines = append(lines, st.Dim.Render("Rotating… the instance keeps a working credential at every step."), "", d.c.help(d.ShortHelp()...))
		case rotateDone:
			lines = append(lines,
				st.OK.Render("✓ ")+st.Bold.Render("Rotation triggered"),
				field("New version", d.resp.VersionId))
			if d.resp.RemovedKeyLines != nil || d.resp.Warning != "" {
				if d.resp.Warning != "" {
					lines = append(lines, st.Label.Render(components.Fit("Old key", lw+2))+st.Warn.Render("not revoked"))
				} else {
					lines = append(lines, field("Old key", removedKeyLines(d.resp.RemovedKeyLines)))
				}
			}
			if d.resp.Warning != "" {
				for _, l := range wrap("Warning: "+d.resp.Warning, iw) {
					lines = append(lines, st.Warn.Render(l))
				}
			}
			lines = append(lines,
				st.Dim.Render("The new credential is ACSCurrent; the old one is ACSPrevious."),
				"", d.c.help(d.ShortHelp()...))
		case rotateFailed:
			lines = append(lines, st.Err.Render("✗ ")+st.Bold.Render("Rotation failed"))
			lines = append(lines, d.c.errLines(d.err, iw)...)
			lines = append(lines, st.Dim.Render("The instance keeps its previous credential; ACSCurrent is unchanged."), "", d.c.help(d.ShortHelp()...))
		}
	}
	return d.c.modal("Rotate Immediately", lines, w, d.h)
}

// removedKeyLines says how many authorized_keys lines of a key pair's old
// key a rotation removed.
func removedKeyLines(n *int) string {
	switch {
	case n == nil || *n == 0:
		return "no authorized_keys line held it"
	case *n == 1:
		return "1 authorized_keys line removed"
	}
	return fmt.Sprintf("%d authorized_keys lines removed", *n)
}

// stepLines shows create/set/test/finish: done ✓, running (spinner),
// failed ✗, to do ·.
func (d *rotateDialog) stepLines() []string {
	st := d.c.st
	var out []string
	for i, s := range rotationSteps {
		var mark string
		style := st.Value
		switch {
		case d.state == rotateFailed && i == d.failedAt:
			mark, style = st.Err.Render("✗"), st.Err
		case i < d.step || d.state == rotateDone:
			mark = st.OK.Render("✓")
		case i == d.step && d.state == rotateRunning:
			mark = d.spin.View()
		default:
			mark, style = st.Dim.Render("·"), st.Dim
		}
		out = append(out, " "+mark+" "+style.Render(components.Fit(s.name, 8))+st.Dim.Render(s.what))
	}
	return out
}

func (d *rotateDialog) confirmKey() key.Binding {
	b := d.c.keys.Confirm
	b.SetHelp("enter", "rotate")
	return b
}

func (d *rotateDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	switch d.state {
	case rotateRunning:
		b := k.Back
		b.SetHelp("esc", "run in background")
		return []key.Binding{b}
	case rotateDone, rotateFailed:
		return []key.Binding{k.Close}
	}
	return []key.Binding{d.confirmKey(), k.NextField, k.ChoiceNext, k.Cancel}
}

func (d *rotateDialog) FullHelp() [][]key.Binding {
	return [][]key.Binding{d.ShortHelp(), d.c.keys.formKeys()}
}
