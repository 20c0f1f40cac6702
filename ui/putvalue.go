package ui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/uuid"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// putValueDialog adds a version to a generic secret (PutSecretValue): the
// way generic secrets rotate.
type putValueDialog struct {
	pageBase
	formKit
	name string

	version *components.TextField
	value   *components.TextField
	stages  *components.TextField

	wait waiter[*service.PutSecretValueResponse]
	w, h int
}

func newPutValueDialog(c *common, name string) *putValueDialog {
	d := &putValueDialog{pageBase: newPageBase(), formKit: formKit{c: c}, name: name, wait: newWaiter[*service.PutSecretValueResponse](c)}
	d.version = components.NewTextField("Version ID", c.st.input("a new version id"), model.ValidateVersionId)
	d.version.SetValue(uuid.NewString())
	d.version.Hint = "Generated; type your own to make retries idempotent."
	d.value = components.NewTextField("Secret value", c.st.secretInput("the new value"), func(v string) error {
		return model.ValidateSecretData(v, model.DataText)
	})
	d.stages = components.NewTextField("Stages", c.st.input("ACSCurrent"), func(v string) error {
		for _, s := range splitStages(v) {
			if err := model.ValidateStageName("VersionStages", s); err != nil {
				return err
			}
		}
		return nil
	})
	d.stages.SetValue(model.StageCurrent)
	d.stages.Hint = "ACSCurrent makes it the value readers get; a custom label (e.g. MyPendingLabel) stages it without promoting. Separate labels with commas."
	d.form = components.Form{Styles: c.st.Form, Items: []components.Item{d.value, d.version, d.stages}, LabelWidth: 13, ErrText: fieldError}
	d.discard.watch(d.form.Items...)
	return d
}

func splitStages(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

func (d *putValueDialog) dialog()          {}
func (d *putValueDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *putValueDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *putValueDialog) Capturing() bool  { return true }
func (d *putValueDialog) idle() bool       { return !d.wait.busy }

func (d *putValueDialog) actions() actions {
	confirm := action{key: withHelp(d.c.keys.Confirm, "enter", "put value"), title: "Put the new value", run: d.submit}
	return d.formKit.actions(d.idle, []action{confirm}, d.c.keys.Cancel, pop)
}

func (d *putValueDialog) Update(msg tea.Msg) tea.Cmd {
	if cmd, end, ok := d.wait.update(msg); ok {
		if end == nil || end.err != nil {
			return cmd
		}
		r := end.result
		return tea.Batch(pop(), msgCmd(secretChangedMsg{name: d.name}),
			flash(flashOK, fmt.Sprintf("Put version %s of %s (%s)", r.VersionId, d.name, strings.Join(r.VersionStages.VersionStage, ", "))))
	}
	if msg, ok := msg.(tea.KeyMsg); ok {
		return d.onKey(msg, d.actions(), d.idle())
	}
	return nil
}

func (d *putValueDialog) submit() tea.Cmd {
	for _, f := range []*components.TextField{d.value, d.version, d.stages} {
		if f.Check() != nil {
			return d.form.FocusItem(f)
		}
	}
	req := service.PutSecretValueRequest{SecretName: d.name, VersionId: d.version.Value(), SecretData: d.value.Value(), VersionStages: splitStages(d.stages.Value())}
	if len(req.VersionStages) == 0 {
		req.VersionStages = nil
	}
	svc, ctx := d.c.svc, d.c.ctx
	return d.wait.start("Putting the value…", func() (*service.PutSecretValueResponse, error) {
		return svc.PutSecretValue(ctx, req)
	})
}

func (d *putValueDialog) View() string {
	st := d.c.st
	w := min(80, d.w-4)
	iw := w - 4
	lines := []string{"", st.Label.Render(components.Fit("Secret", 15)) + st.Bold.Render(model.SafeText(d.name)), ""}
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	lines = append(lines, formStatus(&d.formKit, &d.wait, iw, d.actions())...)
	return d.c.modal("Put Secret Value", lines, w, d.h)
}
