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

// stageDialog moves a stage label to a version of a generic secret, or
// removes a custom label (UpdateSecretVersionStage).
type stageDialog struct {
	c        *common
	name     string
	versions []model.Version

	form    components.Form
	stage   *components.TextField
	action  *components.Choice
	version *components.Choice

	busy bool
	err  error
	spin spinner.Model
	w, h int
}

const (
	stageMove   = "Move to version"
	stageRemove = "Remove label"
)

type stageDoneMsg struct {
	name, stage, version string
	remove               bool
	err                  error
}

func newStageDialog(c *common, name string, versions []model.Version, target string) *stageDialog {
	d := &stageDialog{c: c, name: name, versions: versions, spin: c.spinner()}
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
	return d
}

// holder is the version that has stage now.
func (d *stageDialog) holder(stage string) string {
	for _, v := range d.versions {
		if contains(v.Stages, stage) {
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

func (d *stageDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case stageDoneMsg:
		if msg.name != d.name {
			return nil
		}
		d.busy = false
		if msg.err != nil {
			d.err = msg.err
			return nil
		}
		text := fmt.Sprintf("Moved %s to version %s", msg.stage, msg.version)
		if msg.remove {
			text = fmt.Sprintf("Removed %s from version %s", msg.stage, msg.version)
		}
		return tea.Batch(pop(), msgCmd(secretChangedMsg{name: d.name}), flash(flashOK, text))
	}
	cmd, _ := d.c.formDialogInput(msg, d.busy, &d.spin, &d.form, d.submit, d.sync)
	return cmd
}

// sync hides the target version when the label is being removed.
func (d *stageDialog) sync() { d.version.Hide = d.removing() }

func (d *stageDialog) submit() tea.Cmd {
	if d.stage.Check() != nil {
		return d.form.FocusItem(d.stage)
	}
	stage := d.stage.Value()
	req := service.UpdateSecretVersionStageRequest{SecretName: d.name, VersionStage: stage}
	done := stageDoneMsg{name: d.name, stage: stage, remove: d.removing()}
	if d.removing() {
		req.RemoveFromVersion = d.holder(stage)
		done.version = req.RemoveFromVersion
		if req.RemoveFromVersion == "" {
			d.err = model.NotFound("The secret %s has no stage %s", d.name, stage)
			return nil
		}
	} else {
		if len(d.versions) == 0 {
			return nil
		}
		req.MoveToVersion = d.versions[d.version.Selected].VersionId
		done.version = req.MoveToVersion
	}
	d.busy, d.err = true, nil
	svc, ctx := d.c.svc, d.c.ctx
	return tea.Batch(d.spin.Tick, func() tea.Msg {
		_, err := svc.UpdateSecretVersionStage(ctx, req)
		done.err = err
		return done
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
	lines = append(lines, d.c.dialogStatus(d.busy, d.spin, "Updating the stage…", d.err, iw, d.ShortHelp())...)
	return d.c.modal("Move Stage", lines, w, d.h)
}

func (d *stageDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	b := k.Confirm
	if d.removing() {
		b.SetHelp("enter", "remove label")
	} else {
		b.SetHelp("enter", "move stage")
	}
	return []key.Binding{b, k.NextField, k.ChoiceNext, k.Cancel}
}

func (d *stageDialog) FullHelp() [][]key.Binding {
	return [][]key.Binding{d.ShortHelp(), d.c.keys.formKeys()}
}
