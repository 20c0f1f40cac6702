package ui

import (
	"fmt"
	"strings"
	"time"

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
	pageBase
	formKit
	// secret is what the store holds, as far as the dialog knows: the
	// baseline of "changed", moved on by each part that was saved.
	secret model.Secret

	desc *components.TextField
	rot  *rotationFields

	wait waiter[editSaved]
	// saved names the parts a failed save did store before the error.
	saved []string
	w, h  int
}

// editSaved is what a save stored, in order; the error that stopped it, if
// any, comes with it.
type editSaved struct {
	desc   *string
	policy *service.UpdateSecretRotationPolicyRequest
}

const (
	partDescription = "description"
	partRotation    = "automatic rotation"
)

func newEditDialog(c *common, s model.Secret) *editDialog {
	d := &editDialog{pageBase: newPageBase(), formKit: formKit{c: c}, secret: s, wait: newWaiter[editSaved](c)}
	d.desc = components.NewTextField("Description", c.st.input("optional"), model.ValidateDescription)
	d.desc.Input.CharLimit = model.MaxDescription
	// An old store may hold a description with control characters: the
	// field shows their visible form, and a description left as shown is
	// not sent (changes compares with the same form).
	d.desc.SetValue(model.SafeText(s.Description))
	d.rot = newRotationFields(c, d.nextRotation, d.planned)
	d.rot.set(&s, d.rotationWasOn())
	d.sync()
	d.form = components.Form{Styles: c.st.Form, LabelWidth: rotationLabelWidth, ErrText: fieldError,
		Items: append([]components.Item{d.desc}, d.rot.items()...)}
	d.changed = d.sync
	d.discard.watch(d.form.Items...)
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
func (d *editDialog) invalid() bool {
	return d.ecs() && d.secret.AutomaticRotation == model.RotationInvalid
}

func (d *editDialog) sync() { d.rot.sync(!d.ecs()) }

// nextRotation is the period's note: the next automatic rotation with that
// period, counted like the service counts it (from the last rotation, or
// the creation).
func (d *editDialog) nextRotation(secs int64) string {
	next := d.secret
	next.AutomaticRotation, next.RotationInterval, next.RotationSchedule = model.RotationEnabled, secs, ""
	at := next.NextRotation()
	if !at.After(d.c.now()) {
		return "next rotation due now"
	}
	return "next rotation at " + fmtTime(at)
}

// planned is the secret with the schedule expr and window: the service
// anchors a schedule's rate() windows when the policy is saved, so a
// policy left as it is keeps its anchor.
func (d *editDialog) planned(expr string, window int64) model.Secret {
	next := d.secret
	if d.policyChanged() {
		next.RotationAnchor = d.c.now()
	}
	next.AutomaticRotation, next.RotationInterval = model.RotationEnabled, 0
	next.RotationSchedule, next.RotationWindow = expr, window
	return next
}

func (d *editDialog) dialog()          {}
func (d *editDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *editDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *editDialog) Capturing() bool  { return true }

func (d *editDialog) idle() bool { return !d.wait.busy }

func (d *editDialog) actions() actions {
	confirm := action{key: withHelp(d.c.keys.Confirm, "enter", "save"), title: "Save the changes", run: d.submit}
	return d.formKit.actions(d.idle, []action{confirm}, d.c.keys.Cancel, pop)
}

func (d *editDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end == nil {
			return cmd
		}
		return d.onSaved(end.result, end.err)
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return d.onKey(msg, d.actions(), d.idle())
	}
	return nil
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
	if !d.policyChanged() {
		return descReq, nil
	}
	return descReq, d.rot.policyRequest(d.secret.Name)
}

// policyChanged: the fields ask for another policy than the store's. A
// policy saved on a secret whose rotation is Invalid re-arms it, so it
// counts as changed.
func (d *editDialog) policyChanged() bool {
	s := &d.secret
	if !d.rot.on() {
		return d.rotationWasOn()
	}
	if !d.rotationWasOn() || s.AutomaticRotation != model.RotationEnabled {
		return true
	}
	if !d.rot.scheduled() {
		secs, _ := model.ParseRotationInterval(d.rot.period.Value())
		return s.RotationSchedule != "" || secs != s.RotationInterval
	}
	sched, err := d.rot.parsed()
	if err != nil {
		return true
	}
	return sched.Expr != s.RotationSchedule || d.rot.windowSecs(sched) != s.RotationWindow
}

func (d *editDialog) submit() tea.Cmd {
	if d.desc.Check() != nil {
		return d.form.FocusItem(d.desc)
	}
	if bad := d.rot.check(); bad != nil {
		return d.form.FocusItem(bad)
	}
	descReq, polReq := d.changes()
	if descReq == nil && polReq == nil {
		return tea.Batch(pop(), flash(flashInfo, "No changes to save"))
	}
	d.saved = nil
	svc, ctx := d.c.svc, d.c.ctx
	return d.wait.start("Saving…", func() (editSaved, error) {
		var out editSaved
		if descReq != nil {
			if _, err := svc.UpdateSecret(ctx, *descReq); err != nil {
				return out, err
			}
			out.desc = descReq.Description
		}
		if polReq != nil {
			if _, err := svc.UpdateSecretRotationPolicy(ctx, *polReq); err != nil {
				return out, err
			}
			out.policy = polReq
		}
		return out, nil
	})
}

// onSaved takes a save's end: what was stored becomes the baseline (a retry
// sends only the rest); on success the dialog closes.
func (d *editDialog) onSaved(msg editSaved, err error) tea.Cmd {
	var parts []string
	if msg.desc != nil {
		d.secret.Description = *msg.desc
		parts = append(parts, partDescription)
	}
	if p := msg.policy; p != nil {
		if *p.EnableAutomaticRotation {
			d.secret.AutomaticRotation = model.RotationEnabled
			d.secret.RotationInterval, d.secret.RotationSchedule, d.secret.RotationWindow = 0, "", 0
			if p.RotationSchedule != "" {
				if sched, err := model.ParseSchedule(p.RotationSchedule, p.RotationWindow); err == nil {
					d.secret.RotationSchedule = sched.Expr
					if p.RotationWindow != "" {
						d.secret.RotationWindow = int64(sched.Window / time.Second)
					}
				}
			} else {
				d.secret.RotationInterval, _ = model.ParseRotationInterval(p.RotationInterval)
			}
		} else {
			d.secret.AutomaticRotation = model.RotationDisabled
		}
		parts = append(parts, partRotation)
	}
	changed := msgCmd(secretChangedMsg{name: d.secret.Name})
	if err != nil {
		d.saved = parts
		if bad := d.rot.showError(err); bad != nil {
			// The service refused the policy: its error under the
			// field it names too.
			if len(parts) == 0 {
				return d.form.FocusItem(bad)
			}
			return tea.Batch(d.form.FocusItem(bad), changed)
		}
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
		note := d.rot.explain()
		if d.invalid() {
			note = "Invalid: saving with rotation on re-arms it and resets the failures."
		}
		for _, l := range wrap(note, iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	lines = append(lines, "")
	lines = append(lines, formStatus(&d.formKit, &d.wait, iw, d.actions())...)
	if !d.wait.busy && d.wait.err != nil && len(d.saved) > 0 {
		for _, l := range wrap("Saved before the error: "+strings.Join(d.saved, " and ")+".", iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	return d.c.modal("Edit Secret", lines, w, d.h)
}
