package ui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// fleetPage rotates several ECS secrets together: a confirmation, then a
// progress bar and one row per secret with its step and result. It runs
// the service's fleet engine (the one `kmsconsole rotate` runs), with its
// limits overall and per instance, so one slow host does not hold the
// others up and no host gets more logins at once than it takes.
type fleetPage struct {
	pageBase
	c     *common
	items []fleetItem
	state fleetState
	done  int

	table components.Table
	spin  spinner.Model
	w, h  int
}

type fleetItem struct {
	secret  model.Secret
	step    string
	running bool
	ended   bool
	result  service.FleetResult
	err     error // a failure, or why the rotation did not start
}

type fleetState int

const (
	fleetConfirm fleetState = iota
	fleetRunning
	fleetDone
)

// The console's fleet limits: the engine's defaults.
const (
	fleetParallel = service.DefaultFleetParallel
	fleetPerHost  = service.DefaultFleetPerHost
)

func newFleetPage(c *common, secrets []model.Secret) *fleetPage {
	f := &fleetPage{pageBase: newPageBase(), c: c, spin: c.spinner()}
	for _, s := range secrets {
		f.items = append(f.items, fleetItem{secret: s})
	}
	f.table.Styles = c.st.Table
	f.table.Row = f.row
	f.table.SetColumns([]components.Column{
		{Title: "Secret", Flex: true, Min: 20, Max: 30},
		{Title: "Instance", Width: 12, Drop: 1},
		{Title: "Step", Width: 10},
		// The result takes the room left: new VersionIds and reasons
		// are long.
		{Title: "Result", Flex: true, Min: 40},
	})
	f.table.SetRows(len(f.items))
	return f
}

func (f *fleetPage) Init() tea.Cmd    { return nil }
func (f *fleetPage) holds() bool      { return f.state == fleetRunning }
func (f *fleetPage) Capturing() bool  { return false }
func (f *fleetPage) SetSize(w, h int) { f.w, f.h = w, h }

func (f *fleetPage) row(i int) []components.Cell {
	st := f.c.st
	it := f.items[i]
	cfg, _ := ecsInfo(&it.secret)
	result := ""
	stepStyle, resStyle := st.Dim, st.Value
	stepText := "waiting"
	switch {
	case it.ended && it.result.Result == service.FleetNotStarted:
		stepText = "· skipped"
		result = it.result.Reason
	case it.ended && it.err == nil && it.result.Warning != "":
		stepText, stepStyle = "! done", st.Warn
		result, resStyle = "old key not revoked · new version "+it.result.VersionId, st.Warn
	case it.ended && it.err == nil:
		stepText, stepStyle = "✓ done", st.OK
		result = "new version " + it.result.VersionId
		if it.result.RemovedKeyLines != nil {
			// Key pairs: the count first, where the column shows it.
			result = oldKeyLines(*it.result.RemovedKeyLines) + " · " + result
		}
	case it.ended:
		stepText, stepStyle = "✗ "+it.step, st.Err
		sentence, code := humanError(it.err)
		result, resStyle = sentence+" · "+code, st.Err
	case it.running:
		stepText, stepStyle = "… "+it.step, st.Value
	}
	return []components.Cell{
		{Text: it.secret.Name, Style: st.Value},
		{Text: cfg.InstanceId, Style: st.Dim},
		{Text: stepText, Style: stepStyle},
		{Text: result, Style: resStyle},
	}
}

// start has the root run the fleet engine on the items (rotate.go):
// the root counts every item as a running rotation until its end, so q
// asks first and waits for the whole fleet, as it does for one rotation.
func (f *fleetPage) start() tea.Cmd {
	items := make([]service.FleetItem, len(f.items))
	for i := range f.items {
		it := &f.items[i]
		cfg, _ := ecsInfo(&it.secret)
		items[i] = service.FleetItem{SecretName: it.secret.Name, InstanceId: cfg.InstanceId, SecretSubType: cfg.SecretSubType}
	}
	return f.c.rotator.rotateFleet(f.id(), items)
}

// oldKeyLines is removedKeyLines in the few cells of a fleet row.
func oldKeyLines(n int) string {
	switch n {
	case 0:
		return "old key: no line held it"
	case 1:
		return "old key: 1 line removed"
	}
	return fmt.Sprintf("old key: %d lines removed", n)
}

// fleetResponse and fleetError turn an engine result into what one
// rotation reports.
func fleetResponse(r service.FleetResult) *service.RotateSecretResponse {
	if r.Result != service.FleetSuccess {
		return nil
	}
	return &service.RotateSecretResponse{SecretName: r.SecretName, VersionId: r.VersionId, RemovedKeyLines: r.RemovedKeyLines, Warning: r.Warning}
}

func fleetError(r service.FleetResult) error {
	switch r.Result {
	case service.FleetSuccess:
		return nil
	case service.FleetNotStarted:
		return errors.New(r.Reason)
	}
	return model.Errorf(r.Code, "%s", r.Reason)
}

func (f *fleetPage) actions() actions {
	k := f.c.keys
	confirming := func() bool { return f.state == fleetConfirm }
	moving := func() bool { return f.state != fleetConfirm }
	as := actions{
		{key: withHelp(k.Confirm, "enter", "rotate all"), title: fmt.Sprintf("Rotate the %d secrets", len(f.items)),
			enabled: confirming, hint: true, run: func() tea.Cmd {
				if len(f.items) == 0 {
					return f.finished()
				}
				f.state = fleetRunning
				return tea.Batch(f.start(), f.spin.Tick)
			}},
		{key: k.Cancel, title: "Cancel", enabled: confirming, hint: true, run: pop},
		{key: k.Back, title: "Back to the list", enabled: func() bool { return f.state == fleetDone }, hint: true, run: pop},
	}
	// The rows move in every state; the footer shows it once they run.
	nav := f.c.listActions(&f.table, nil, true, false, nil)[:2]
	for i := range nav {
		nav[i].applies = moving
	}
	return append(as, nav...)
}

func (f *fleetPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case rotationStepMsg:
		if msg.i >= 0 && msg.i < len(f.items) && !f.items[msg.i].ended {
			it := &f.items[msg.i]
			it.running, it.step = true, msg.step
		}
	case rotationEndMsg:
		if msg.i < 0 || msg.i >= len(f.items) || f.items[msg.i].ended || msg.fleet == nil {
			return nil
		}
		it := &f.items[msg.i]
		it.ended, it.result, it.err = true, *msg.fleet, msg.err
		if msg.fleet.FailedStep != "" {
			it.step = msg.fleet.FailedStep
		}
		f.done++
		if f.done == len(f.items) {
			return f.finished()
		}
	case spinner.TickMsg:
		if f.state != fleetRunning {
			return nil
		}
		var cmd tea.Cmd
		f.spin, cmd = f.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		cmd, _ := f.actions().handle(msg)
		return cmd
	}
	return nil
}

// finished ends the run with a summary in the flash line.
func (f *fleetPage) finished() tea.Cmd {
	f.state = fleetDone
	rotated, failed, notStarted := 0, 0, 0
	for _, it := range f.items {
		switch it.result.Result {
		case service.FleetSuccess:
			rotated++
		case service.FleetNotStarted:
			notStarted++
		default:
			failed++
		}
	}
	text := fmt.Sprintf("Fleet rotation finished: %d rotated", rotated)
	if failed > 0 {
		text += fmt.Sprintf(", %d failed", failed)
	}
	if notStarted > 0 {
		text += fmt.Sprintf(", %d not started", notStarted)
	}
	if failed+notStarted > 0 {
		return flash(flashErr, text)
	}
	return flash(flashOK, text)
}

func (f *fleetPage) View() string {
	st := f.c.st
	iw := f.w - 4
	title := st.Title.Render("Rotate Immediately") + st.Count.Render(fmt.Sprintf(" [%d secrets]", len(f.items)))
	var lines []string
	lines = append(lines, "")
	switch f.state {
	case fleetConfirm:
		for _, l := range wrap(fmt.Sprintf("Each secret below gets a new generated credential, set on its instance and tested before it becomes ACSCurrent. Up to %d rotate at a time, at most %d per instance; a failure leaves that instance on its previous credential.", fleetParallel, fleetPerHost), iw) {
			lines = append(lines, st.Value.Render(l))
		}
		lines = append(lines, "", f.c.help(f.actions().short()...))
	default:
		head := ""
		if f.state == fleetRunning {
			head = f.spin.View() + " "
		}
		lines = append(lines, head+components.Bar(st.Bar, f.done, len(f.items), min(iw-2, 60)))
		if f.state == fleetDone {
			lines = append(lines, st.Dim.Render("Finished. Esc goes back to the list."))
		} else {
			lines = append(lines, st.Dim.Render("Rotating… q asks before quitting and lets the rotations finish."))
		}
	}
	lines = append(lines, "")
	for i := range lines {
		lines[i] = " " + lines[i]
	}
	detail := f.detailLines(iw)
	th := max(3, f.h-2-len(lines)-len(detail))
	f.table.SetSize(iw+1, th)
	body := strings.Join(lines, "\n") + "\n" + f.table.View()
	if len(detail) > 0 {
		body += "\n" + indent(strings.Join(detail, "\n"), 1)
	}
	return components.Box(st.Box, title, body, f.w, f.h)
}

// detailLines is the full error of the failed row under the cursor, or
// the whole result of a rotated one: its new version, for a key pair what
// became of the old key (a warning when it could not be revoked).
func (f *fleetPage) detailLines(w int) []string {
	if len(f.items) == 0 {
		return nil
	}
	it := f.items[f.table.Cursor()]
	switch {
	case it.ended && it.result.Result == service.FleetNotStarted:
		return []string{f.c.st.Dim.Render(components.Fit("Not started: "+it.result.Reason, w))}
	case it.err != nil:
		return f.c.errLines(it.err, w)
	case it.ended && it.result.Result == service.FleetSuccess:
		st := f.c.st
		text := it.secret.Name + ": new version " + it.result.VersionId
		if it.result.RemovedKeyLines != nil && it.result.Warning == "" {
			text += "; old key: " + removedKeyLines(it.result.RemovedKeyLines)
		}
		var out []string
		for _, l := range wrap(text, w) {
			out = append(out, st.Dim.Render(l))
		}
		if it.result.Warning != "" {
			for _, l := range wrap("Warning: "+it.result.Warning, w) {
				out = append(out, st.Warn.Render(l))
			}
		}
		return out
	}
	return nil
}
