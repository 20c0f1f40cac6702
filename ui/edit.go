package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// editDialog is Edit Secret, opened from the details screen or the list: the
// description (UpdateSecret) and, for Managed ECS secrets, the automatic
// rotation policy (UpdateSecretRotationPolicy), with the fields of the
// Create Secret wizard's rotation step. Only what changed is sent; saving
// the policy of a secret whose rotation is Invalid re-arms it.
type editDialog struct {
	c *common
	// secret is what the store holds, as far as the dialog knows: the
	// baseline of "changed", moved on by each part that was saved.
	secret model.Secret

	form     components.Form
	desc     *components.TextField
	rotation *components.Choice
	period   *components.TextField

	busy bool
	err  error
	// saved names the parts a failed save did store before the error.
	saved []string
	spin  spinner.Model
	w, h  int
}

// editSavedMsg is the end of a save: the parts stored, in order, then the
// error that stopped it, if any.
type editSavedMsg struct {
	name   string
	desc   *string
	policy *service.UpdateSecretRotationPolicyRequest
	err    error
}

const (
	partDescription = "description"
	partRotation    = "automatic rotation"
)

func newEditDialog(c *common, s model.Secret) *editDialog {
	d := &editDialog{c: c, secret: s, spin: c.spinner()}
	d.desc = components.NewTextField("Description", c.st.input("optional"), model.ValidateDescription)
	d.desc.Input.CharLimit = model.MaxDescription
	// An old store may hold a description with control characters: the
	// field shows their visible form, and a description left as shown is
	// not sent (changes compares with the same form).
	d.desc.SetValue(model.SafeText(s.Description))
	d.rotation = newRotationChoice(c)
	period := defaultPeriod
	if s.RotationInterval > 0 {
		period = model.HumanInterval(s.RotationInterval)
	}
	d.period = newPeriodField(c, period, d.nextRotation)
	if d.rotationWasOn() {
		d.rotation.Selected = 1
	}
	d.rotation.Hide = !d.ecs()
	d.sync()
	d.form = components.Form{Styles: c.st.Form, LabelWidth: rotationLabelWidth, ErrText: fieldError,
		Items: []components.Item{d.desc, d.rotation, d.period}}
	return d
}

// rotationWasOn is the policy the dialog starts from: the operator's
// choice, which an Invalid status (a failed rotation) hides. Invalid with
// rotation wanted is shown On, so that saving re-arms it; Invalid after a
// failed manual rotation of a secret whose rotation is off is shown Off.
func (d *editDialog) rotationWasOn() bool {
	switch d.secret.AutomaticRotation {
	case model.RotationEnabled:
		return true
	case model.RotationInvalid:
		return d.secret.AutoWanted
	}
	return false
}

func (d *editDialog) ecs() bool { return d.secret.Type == model.ECS }
func (d *editDialog) on() bool  { return d.rotation.Value() == rotOn }
func (d *editDialog) invalid() bool {
	return d.ecs() && d.secret.AutomaticRotation == model.RotationInvalid
}

func (d *editDialog) sync() { d.period.Hide = !d.ecs() || !d.on() }

// nextRotation is the period's note: the next automatic rotation with that
// period, counted like the service counts it (from the last rotation, or
// the creation).
func (d *editDialog) nextRotation(secs int64) string {
	next := d.secret
	next.AutomaticRotation, next.RotationInterval = model.RotationEnabled, secs
	at := next.NextRotation()
	if !at.After(d.c.now()) {
		return "next rotation due now"
	}
	return "next rotation at " + fmtTime(at)
}

func (d *editDialog) dialog()          {}
func (d *editDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *editDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *editDialog) Capturing() bool  { return true }

func (d *editDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case editSavedMsg:
		if msg.name != d.secret.Name {
			return nil
		}
		return d.onSaved(msg)
	}
	cmd, _ := d.c.formDialogInput(msg, d.busy, &d.spin, &d.form, d.submit, d.sync)
	return cmd
}

// changes are the requests for what differs from the store; nil for a part
// that is unchanged. The fields must be valid.
func (d *editDialog) changes() (*service.UpdateSecretRequest, *service.UpdateSecretRotationPolicyRequest) {
	var descReq *service.UpdateSecretRequest
	if v := d.desc.Value(); v != model.SafeText(d.secret.Description) {
		descReq = &service.UpdateSecretRequest{SecretName: d.secret.Name, Description: &v}
	}
	if !d.ecs() {
		return descReq, nil
	}
	on := d.on()
	var secs int64
	if on {
		secs, _ = model.ParseRotationInterval(d.period.Value())
	}
	changed := on != d.rotationWasOn() ||
		// A new period, or an Invalid rotation saved On: re-armed.
		on && (secs != d.secret.RotationInterval || d.secret.AutomaticRotation != model.RotationEnabled)
	if !changed {
		return descReq, nil
	}
	polReq := &service.UpdateSecretRotationPolicyRequest{SecretName: d.secret.Name, EnableAutomaticRotation: &on}
	if on {
		polReq.RotationInterval = d.period.Value()
	}
	return descReq, polReq
}

func (d *editDialog) submit() tea.Cmd {
	if d.desc.Check() != nil {
		return d.form.FocusItem(d.desc)
	}
	if !d.period.Hide && d.period.Check() != nil {
		return d.form.FocusItem(d.period)
	}
	descReq, polReq := d.changes()
	if descReq == nil && polReq == nil {
		return tea.Batch(pop(), flash(flashInfo, "No changes to save"))
	}
	d.busy, d.err, d.saved = true, nil, nil
	svc, ctx, name := d.c.svc, d.c.ctx, d.secret.Name
	return tea.Batch(d.spin.Tick, func() tea.Msg {
		out := editSavedMsg{name: name}
		if descReq != nil {
			if _, err := svc.UpdateSecret(ctx, *descReq); err != nil {
				out.err = err
				return out
			}
			out.desc = descReq.Description
		}
		if polReq != nil {
			if _, err := svc.UpdateSecretRotationPolicy(ctx, *polReq); err != nil {
				out.err = err
				return out
			}
			out.policy = polReq
		}
		return out
	})
}

// onSaved takes a save's end: what was stored becomes the baseline (a retry
// sends only the rest); on success the dialog closes.
func (d *editDialog) onSaved(msg editSavedMsg) tea.Cmd {
	d.busy = false
	var parts []string
	if msg.desc != nil {
		d.secret.Description = *msg.desc
		parts = append(parts, partDescription)
	}
	if p := msg.policy; p != nil {
		if *p.EnableAutomaticRotation {
			d.secret.AutomaticRotation = model.RotationEnabled
			d.secret.RotationInterval, _ = model.ParseRotationInterval(p.RotationInterval)
		} else {
			d.secret.AutomaticRotation = model.RotationDisabled
		}
		parts = append(parts, partRotation)
	}
	changed := msgCmd(secretChangedMsg{name: d.secret.Name})
	if msg.err != nil {
		d.err, d.saved = msg.err, parts
		if len(parts) == 0 {
			return nil
		}
		return changed
	}
	what := strings.Join(parts, " and ")
	if msg.policy != nil {
		what += " (" + rotationText(&d.secret) + ")"
	}
	return tea.Batch(pop(), changed, flash(flashOK, fmt.Sprintf("Updated %s: %s", d.secret.Name, what)))
}

func (d *editDialog) View() string {
	st := d.c.st
	w := min(80, d.w-4)
	iw := w - 4
	row := func(label, value string, style func(...string) string) string {
		return "  " + st.Label.Render(components.Fit(label, rotationLabelWidth+1)) + style(model.SafeText(value))
	}
	lines := []string{
		"",
		row("Secret", d.secret.Name, st.Bold.Render),
		row("Type", d.secret.Type.Label(), st.Value.Render),
	}
	if d.ecs() {
		now := rotationText(&d.secret)
		style := st.Value.Render
		if d.invalid() {
			style = st.Err.Render
		}
		lines = append(lines, row("Rotation now", now, style))
	}
	lines = append(lines, "")
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	if d.ecs() {
		lines = append(lines, "")
		note := rotationExplain
		if d.invalid() {
			note = "Invalid: saving with rotation On re-arms it and resets the failures."
		}
		for _, l := range wrap(note, iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	lines = append(lines, "")
	lines = append(lines, d.c.dialogStatus(d.busy, d.spin, "Saving…", d.err, iw, d.ShortHelp())...)
	if !d.busy && d.err != nil && len(d.saved) > 0 {
		for _, l := range wrap("Saved before the error: "+strings.Join(d.saved, " and ")+".", iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	return d.c.modal("Edit Secret", lines, w, d.h)
}

func (d *editDialog) confirmKey() key.Binding {
	b := d.c.keys.Confirm
	b.SetHelp("enter", "save")
	return b
}

func (d *editDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	if !d.ecs() {
		return []key.Binding{d.confirmKey(), k.Cancel}
	}
	return []key.Binding{d.confirmKey(), k.NextField, k.ChoiceNext, k.Cancel}
}

func (d *editDialog) FullHelp() [][]key.Binding {
	return [][]key.Binding{{d.confirmKey(), d.c.keys.Cancel}, d.c.keys.formKeys()}
}
