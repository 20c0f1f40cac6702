package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/uuid"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// putValueDialog adds a version to a generic secret (PutSecretValue): the
// way generic secrets rotate.
type putValueDialog struct {
	c    *common
	name string

	form    components.Form
	version *components.TextField
	value   *components.TextField
	stages  *components.TextField

	busy bool
	err  error
	spin spinner.Model
	w, h int
}

type putDoneMsg struct {
	name string
	resp *service.PutSecretValueResponse
	err  error
}

func newPutValueDialog(c *common, name string) *putValueDialog {
	d := &putValueDialog{c: c, name: name, spin: c.spinner()}
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
	return d
}

func splitStages(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

func (d *putValueDialog) dialog()          {}
func (d *putValueDialog) Init() tea.Cmd    { return d.form.FocusFirst() }
func (d *putValueDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *putValueDialog) Capturing() bool  { return true }

func (d *putValueDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case putDoneMsg:
		if msg.name != d.name {
			return nil
		}
		d.busy = false
		if msg.err != nil {
			d.err = msg.err
			return nil
		}
		return tea.Batch(pop(), msgCmd(secretChangedMsg{name: d.name}),
			flash(flashOK, fmt.Sprintf("Put version %s of %s (%s)", msg.resp.VersionId, d.name, strings.Join(msg.resp.VersionStages.VersionStage, ", "))))
	}
	cmd, _ := d.c.formDialogInput(msg, d.busy, &d.spin, &d.form, d.submit, nil)
	return cmd
}

func (d *putValueDialog) submit() tea.Cmd {
	for _, f := range []*components.TextField{d.value, d.version, d.stages} {
		if f.Check() != nil {
			return d.form.FocusItem(f)
		}
	}
	d.busy, d.err = true, nil
	req := service.PutSecretValueRequest{SecretName: d.name, VersionId: d.version.Value(), SecretData: d.value.Value(), VersionStages: splitStages(d.stages.Value())}
	if len(req.VersionStages) == 0 {
		req.VersionStages = nil
	}
	svc, ctx := d.c.svc, d.c.ctx
	return tea.Batch(d.spin.Tick, func() tea.Msg {
		resp, err := svc.PutSecretValue(ctx, req)
		return putDoneMsg{name: req.SecretName, resp: resp, err: err}
	})
}

func (d *putValueDialog) View() string {
	st := d.c.st
	w := min(80, d.w-4)
	iw := w - 4
	lines := []string{"", st.Label.Render(components.Fit("Secret", 15)) + st.Bold.Render(model.SafeText(d.name)), ""}
	lines = append(lines, strings.Split(d.form.View(iw), "\n")...)
	lines = append(lines, "")
	lines = append(lines, d.c.dialogStatus(d.busy, d.spin, "Putting the value…", d.err, iw, d.ShortHelp())...)
	return d.c.modal("Put Secret Value", lines, w, d.h)
}

func (d *putValueDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	b := k.Confirm
	b.SetHelp("enter", "put value")
	return []key.Binding{b, k.NextField, k.Cancel}
}

func (d *putValueDialog) FullHelp() [][]key.Binding {
	return [][]key.Binding{d.ShortHelp(), d.c.keys.formKeys()}
}
