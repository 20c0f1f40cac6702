package ui

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/key"
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
	id      int64 // the rotation id the root counts until the item's end
	step    string
	running bool
	ended   bool
	result  service.FleetResult
	err     error // a failure, or why the rotation did not start
}

// fleetResultMsg is the engine's result for item i of page f. It arrives
// just before the item's rotationDoneMsg, which the root counts.
type fleetResultMsg struct {
	f *fleetPage
	i int
	r service.FleetResult
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
	f := &fleetPage{c: c, spin: c.spinner()}
	for _, s := range secrets {
		f.items = append(f.items, fleetItem{secret: s})
	}
	f.table.Styles = c.st.Table
	f.table.Row = f.row
	f.table.SetColumns([]components.Column{
		{Title: "Secret", Flex: true, Min: 20},
		{Title: "Instance", Width: 12, Drop: 1},
		{Title: "Step", Width: 10},
		{Title: "Result", Width: 40},
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
		ae := apiError(it.err)
		result, resStyle = ae.Code+": "+ae.Message, st.Err
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

// start runs the fleet engine on the items. It is called from Update:
// every item counts as a running rotation from now on until its end
// arrives, so q asks first and the root waits for the whole fleet, as it
// does for one rotation. The engine runs in a goroutine and reports
// through a channel with room for every event (it never waits for the
// UI); the root pumps it one message at a time (waitRotation). Rotations
// the engine started finish even when the session ends (ctx then only
// stops it starting more).
func (f *fleetPage) start() tea.Cmd {
	items := make([]service.FleetItem, len(f.items))
	ids := make([]int64, len(f.items))
	for i := range f.items {
		it := &f.items[i]
		cfg, _ := ecsInfo(&it.secret)
		items[i] = service.FleetItem{SecretName: it.secret.Name, InstanceId: cfg.InstanceId, SecretSubType: cfg.SecretSubType}
		it.id = rotationIds.Add(1)
		ids[i] = it.id
	}
	f.c.rotations += len(items)
	svc, ctx := f.c.svc, f.c.ctx
	return func() tea.Msg {
		// Per item at most the four steps and its end; a step beyond the
		// room left for the ends still to come is dropped, never waited on.
		ch := make(chan tea.Msg, len(items)*6)
		var mu sync.Mutex
		ends := len(items)
		go func() {
			defer close(ch)
			svc.RotateFleet(ctx, items, service.FleetOptions{
				Parallel: fleetParallel,
				PerHost:  fleetPerHost,
				OnStep: func(i int, step string) {
					mu.Lock()
					defer mu.Unlock()
					if len(ch) < cap(ch)-ends {
						ch <- rotationStepMsg{id: ids[i], name: items[i].SecretName, step: step, ch: ch}
					}
				},
				OnDone: func(i int, r service.FleetResult) {
					mu.Lock()
					defer mu.Unlock()
					ends--
					// The root pumps on after a step but not after a
					// rotation's end: the end carries the next read.
					ch <- tea.Sequence(
						msgCmd(fleetResultMsg{f: f, i: i, r: r}),
						msgCmd(rotationDoneMsg{id: ids[i], name: r.SecretName, resp: fleetResponse(r), err: fleetError(r)}),
						waitRotation(ch),
					)()
				},
			})
		}()
		return rotationStartedMsg{id: rotationIds.Add(1), ch: ch}
	}
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

func (f *fleetPage) find(id int64) *fleetItem {
	for i := range f.items {
		if f.items[i].id == id {
			return &f.items[i]
		}
	}
	return nil
}

func (f *fleetPage) Update(msg tea.Msg) tea.Cmd {
	k := f.c.keys
	switch msg := msg.(type) {
	case rotationStepMsg:
		if it := f.find(msg.id); it != nil && !it.ended {
			it.running, it.step = true, msg.step
		}
	case fleetResultMsg:
		if msg.f != f || msg.i < 0 || msg.i >= len(f.items) || f.items[msg.i].ended {
			return nil
		}
		it := &f.items[msg.i]
		it.ended, it.result, it.err = true, msg.r, fleetError(msg.r)
		if msg.r.FailedStep != "" {
			it.step = msg.r.FailedStep
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
		switch {
		case key.Matches(msg, k.Up):
			f.table.Move(-1)
		case key.Matches(msg, k.Down):
			f.table.Move(1)
		case f.state == fleetConfirm && key.Matches(msg, k.Confirm):
			if len(f.items) == 0 {
				return f.finished()
			}
			f.state = fleetRunning
			return tea.Batch(f.start(), f.spin.Tick)
		case f.state != fleetRunning && key.Matches(msg, k.Back):
			return pop()
		}
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
		lines = append(lines, "", f.c.help(f.ShortHelp()...))
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

func (f *fleetPage) ShortHelp() []key.Binding {
	k := f.c.keys
	switch f.state {
	case fleetConfirm:
		b := k.Confirm
		b.SetHelp("enter", fmt.Sprintf("rotate %d secrets", len(f.items)))
		return []key.Binding{b, k.Cancel}
	case fleetRunning:
		return []key.Binding{k.Up, k.Down}
	}
	return []key.Binding{k.Back, k.Up, k.Down}
}

func (f *fleetPage) FullHelp() [][]key.Binding {
	return [][]key.Binding{f.ShortHelp()}
}
