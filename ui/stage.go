package ui

import (
	"fmt"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// stageDialog moves a stage label to a version of a generic secret, or
// removes a custom label (UpdateSecretVersionStage).
type stageDialog struct {
	pageBase
	formKit
	name     string
	versions []model.Version

	stage   *components.TextField
	action  *components.Choice
	version *components.Choice

	wait waiter[stageDone]
	w, h int
}

const (
	stageMove   = "Move to version"
	stageRemove = "Remove label"
)

// stageDone is what a stage update did.
type stageDone struct {
	stage, version string
	remove         bool
}

func newStageDialog(c *common, name string, versions []model.Version, target string) *stageDialog {
	d := &stageDialog{pageBase: newPageBase(), formKit: formKit{c: c}, name: name, versions: versions, wait: newWaiter[stageDone](c)}
	d.stage = components.NewTextField("Stage", c.st.input("ACSCurrent or a custom label"), func(v string) error {
		return model.ValidateStageName("VersionStage", v)
	})
	d.stage.SetValue(model.StageCurrent)
	d.stage.Note = func(v string) string {
		if h := d.holder(v); h != "" {
			return "now on version " + h
		}
		return "on no version yet"
	}
	d.action = &components.Choice{Name: "Action", Options: []string{stageMove, stageRemove}}
	c.choiceKeys(d.action)
	d.version = &components.Choice{Name: "Version", Picker: true}
	for i, v := range versions {
		label := v.VersionId
		if len(v.Stages) > 0 {
			label += "  (" + strings.Join(v.Stages, ", ") + ")"
		}
		d.version.Options = append(d.version.Options, label)
		if v.VersionId == target {
			d.version.Selected = i
		}
	}
	c.choiceKeys(d.version)
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.stage, d.action, d.version}, LabelWidth: 10, ErrText: fieldError}
	d.changed = d.sync
	d.discard.watch(d.form.Items...)
	return d
}

// holder is the version that has stage now.
func (d *stageDialog) holder(stage string) string {
	for _, v := range d.versions {
		if slices.Contains(v.Stages, stage) {
			return v.VersionId
		}
	}
	return ""
}

func (d *stageDialog) dialog()          {}
func (d *stageDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *stageDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *stageDialog) Capturing() bool  { return true }
func (d *stageDialog) removing() bool   { return d.action.Value() == stageRemove }

func (d *stageDialog) idle() bool { return !d.wait.busy }

func (d *stageDialog) actions() actions {
	k := d.c.keys
	return d.formKit.actions(d.idle, []action{
		{key: withHelp(k.Confirm, "enter", "move stage"), title: "Move the stage", run: d.submit,
			enabled: func() bool { return !d.removing() }},
		{key: withHelp(k.Confirm, "enter", "remove label"), title: "Remove the label", run: d.submit, enabled: d.removing},
	}, k.Cancel, pop)
}

func (d *stageDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end == nil || end.err != nil {
			return cmd
		}
		r := end.result
		text := fmt.Sprintf("Moved %s to version %s", r.stage, r.version)
		if r.remove {
			text = fmt.Sprintf("Removed %s from version %s", r.stage, r.version)
		}
		return tea.Batch(pop(), msgCmd(secretChangedMsg{name: d.name}), flash(flashOK, text))
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return d.onKey(msg, d.actions(), d.idle())
	}
	return nil
}

// sync hides the target version when the label is being removed.
func (d *stageDialog) sync() { d.version.Hide = d.removing() }

func (d *stageDialog) submit() tea.Cmd {
	if d.stage.Check() != nil {
		return d.form.FocusItem(d.stage)
	}
	stage := d.stage.Value()
	req := service.UpdateSecretVersionStageRequest{SecretName: d.name, VersionStage: stage}
	done := stageDone{stage: stage, remove: d.removing()}
	if d.removing() {
		req.RemoveFromVersion = d.holder(stage)
		done.version = req.RemoveFromVersion
		if req.RemoveFromVersion == "" {
			d.wait.err = model.NotFound("The secret %s has no stage %s", d.name, stage)
			return nil
		}
	} else {
		if len(d.versions) == 0 {
			return nil
		}
		req.MoveToVersion = d.versions[d.version.Selected].VersionId
		done.version = req.MoveToVersion
	}
	svc, ctx := d.c.svc, d.c.ctx
	return d.wait.start("Updating the stage…", func() (stageDone, error) {
		_, err := svc.UpdateSecretVersionStage(ctx, req)
		return done, err
	})
}

func (d *stageDialog) View() string {
	st := d.c.st
	w := min(76, d.w-4)
	iw := w - 4
	lines := []string{"", st.Label.Render(components.Fit("Secret", 12)) + st.Bold.Render(model.SafeText(d.name)), ""}
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	for _, l := range wrap("Moving ACSCurrent promotes the version: ACSPrevious moves onto the version that was current. ACSCurrent and ACSPrevious can be moved but not removed.", iw) {
		lines = append(lines, st.Dim.Render(l))
	}
	lines = append(lines, "")
	lines = append(lines, formStatus(&d.formKit, &d.wait, iw, d.actions())...)
	return d.c.modal("Move Stage", lines, w, d.h)
}
