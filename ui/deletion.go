package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// deletionDialog is "Plan Deletion Secret": delete in 7–30 days (default
// 30), or delete immediately after typing the secret's name.
type deletionDialog struct {
	pageBase
	formKit
	secret model.Secret

	mode    *components.Choice
	days    *components.TextField
	confirm *components.TextField

	wait waiter[deleted]
	w, h int
}

const (
	deleteIn  = "Delete In"
	deleteNow = "Delete Secret Immediately"
)

// deleted is the end of a deletion: the answer, and whether it was
// immediate.
type deleted struct {
	resp *service.DeleteSecretResponse
	now  bool
}

func newDeletionDialog(c *common, s model.Secret) *deletionDialog {
	d := &deletionDialog{pageBase: newPageBase(), formKit: formKit{c: c}, secret: s, wait: newWaiter[deleted](c)}
	d.mode = &components.Choice{Name: "Deletion", Options: []string{deleteIn, deleteNow}}
	c.choiceKeys(d.mode)
	d.days = components.NewTextField("Delete In", c.st.input("7–30"), validateDays)
	d.days.SetValue("30")
	d.days.Input.CharLimit = 2
	d.days.Width, d.days.Suffix = 3, "days (7–30)"
	d.days.Note = func(v string) string {
		n, _ := strconv.Atoi(v)
		at := c.now().Add(time.Duration(n) * 24 * time.Hour)
		return fmt.Sprintf("Deleted on %s unless restored before", fmtTime(at))
	}
	d.confirm = components.NewTextField("Secret name", c.st.input("type "+model.SafeText(s.Name)), func(v string) error {
		if v != s.Name {
			return fmt.Errorf("Type the secret's name exactly to delete it")
		}
		return nil
	})
	d.confirm.Hide = true
	d.confirm.Hint = "Type the name to confirm. There is no recovery window."
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.mode, d.days, d.confirm}, LabelWidth: 12, ErrText: fieldError}
	d.changed = d.sync
	d.discard.watch(d.form.Items...)
	return d
}

func validateDays(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 7 || n > 30 {
		return model.InvalidParam("RecoveryWindowInDays", "must be a number of days between 7 and 30")
	}
	return nil
}

func (d *deletionDialog) dialog()          {}
func (d *deletionDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *deletionDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *deletionDialog) Capturing() bool  { return true }
func (d *deletionDialog) immediate() bool  { return d.mode.Value() == deleteNow }

func (d *deletionDialog) actions() actions {
	k := d.c.keys
	return d.formKit.actions(d.idle, []action{
		{key: withHelp(k.Confirm, "enter", "plan deletion"), title: "Plan the deletion", run: d.submit,
			enabled: func() bool { return !d.immediate() }},
		{key: withHelp(k.Confirm, "enter", "delete now"), title: "Delete the secret now", run: d.submit, enabled: d.immediate},
	}, k.Cancel, pop)
}

func (d *deletionDialog) idle() bool { return !d.wait.busy }

func (d *deletionDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end == nil || end.err != nil {
			return cmd
		}
		name := d.secret.Name
		changed := msgCmd(secretChangedMsg{name: name})
		if end.result.now {
			// The details page below shows a secret that is gone.
			return tea.Batch(msgCmd(homeMsg{}), changed, flash(flashOK, fmt.Sprintf("Deleted %s", name)))
		}
		return tea.Batch(pop(), changed, flash(flashOK, fmt.Sprintf("Deletion of %s planned for %s", name, fmtAPITime(end.result.resp.PlannedDeleteTime))))
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return d.onKey(msg, d.actions(), d.idle())
	}
	return nil
}

// sync shows the days or the typed confirmation, by the chosen mode.
func (d *deletionDialog) sync() {
	d.days.Hide = d.immediate()
	d.confirm.Hide = !d.immediate()
}

func (d *deletionDialog) submit() tea.Cmd {
	req := service.DeleteSecretRequest{SecretName: d.secret.Name}
	if d.immediate() {
		if d.confirm.Check() != nil {
			return d.form.FocusItem(d.confirm)
		}
		req.ForceDeleteWithoutRecovery = true
	} else {
		if d.days.Check() != nil {
			return d.form.FocusItem(d.days)
		}
		n, _ := strconv.Atoi(d.days.Value())
		req.RecoveryWindowInDays = &n
	}
	svc, ctx := d.c.svc, d.c.ctx
	return d.wait.start("Deleting…", func() (deleted, error) {
		resp, err := svc.DeleteSecret(ctx, req)
		return deleted{resp: resp, now: req.ForceDeleteWithoutRecovery}, err
	})
}

func (d *deletionDialog) View() string {
	st := d.c.st
	w := min(72, d.w-4)
	iw := w - 4
	lines := []string{
		"",
		st.Label.Render(components.Fit("Secret", 14)) + st.Bold.Render(model.SafeText(d.secret.Name)),
		st.Label.Render(components.Fit("Type", 14)) + st.Value.Render(d.secret.Type.Label()),
		"",
	}
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	if d.immediate() {
		for _, l := range wrap("The secret and all its versions are deleted now; this cannot be undone.", iw) {
			lines = append(lines, st.Warn.Render(l))
		}
	} else {
		for _, l := range wrap("Until then it can be described and restored, but not read or changed.", iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	if d.secret.Type == model.ECS {
		for _, l := range wrap("Deleting never changes the managed instance's credential.", iw) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	lines = append(lines, "")
	lines = append(lines, formStatus(&d.formKit, &d.wait, iw, d.actions())...)
	return d.c.modal("Plan Deletion Secret", lines, w, d.h)
}

// newRestoreDialog confirms RestoreSecret: the planned deletion is
// cancelled.
func newRestoreDialog(c *common, s model.Secret) *confirmDialog {
	k := c.keys
	svc, ctx, name := c.svc, c.ctx, s.Name
	return &confirmDialog{
		pageBase: newPageBase(), c: c, title: "Restore Secret", width: 72, busyText: "Restoring…", wait: newWaiter[struct{}](c),
		body: func(iw int) []string {
			st := c.st
			lines := []string{st.Value.Render("Restore ") + st.Bold.Render(model.SafeText(name)) + st.Value.Render("?"), ""}
			for _, l := range wrap(fmt.Sprintf("Its deletion planned for %s is cancelled; it can be read, changed and rotated again.", fmtTime(s.PlannedDeleteTime)), iw) {
				lines = append(lines, st.Dim.Render(l))
			}
			return lines
		},
		yes:      orKeys(withHelp(k.Confirm, "enter", "restore"), k.Yes),
		no:       orKeys(k.Cancel, k.No),
		yesTitle: "Restore the secret",
		act: func() error {
			_, err := svc.RestoreSecret(ctx, service.SecretNameRequest{SecretName: name})
			return err
		},
		done: func() tea.Cmd {
			return tea.Batch(msgCmd(secretChangedMsg{name: name}), flash(flashOK, fmt.Sprintf("Restored %s", name)))
		},
	}
}

// choiceKeys wires a Choice to the key map's ←/→ bindings.
func (c *common) choiceKeys(ch *components.Choice) {
	ch.PrevKeys = func(m tea.KeyMsg) bool { return key.Matches(m, c.keys.ChoicePrev) }
	ch.NextKeys = func(m tea.KeyMsg) bool { return key.Matches(m, c.keys.ChoiceNext) }
}
