package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/ui/components"
)

// fleetPage rotates several ECS secrets together: a confirmation, then a
// progress bar and one row per secret with its step and result. A few run
// at a time so that one slow host does not hold the others up.
type fleetPage struct {
	c     *common
	items []fleetItem
	state fleetState
	next  int // the next item to start
	done  int

	table components.Table
	spin  spinner.Model
	w, h  int
}

type fleetItem struct {
	secret  model.Secret
	id      int64
	step    string
	running bool
	version string
	err     error
	ended   bool
}

type fleetState int

const (
	fleetConfirm fleetState = iota
	fleetRunning
	fleetDone
)

const fleetParallel = 4

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
	case it.ended && it.err == nil:
		stepText, stepStyle = "✓ done", st.OK
		result = "new version " + it.version
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

func (f *fleetPage) start() tea.Cmd {
	var cmds []tea.Cmd
	running := 0
	for _, it := range f.items {
		if it.running && !it.ended {
			running++
		}
	}
	for running < fleetParallel && f.next < len(f.items) {
		it := &f.items[f.next]
		var cmd tea.Cmd
		it.id, cmd = startRotation(f.c, it.secret.Name, "")
		it.running, it.step = true, "starting"
		cmds = append(cmds, cmd)
		f.next++
		running++
	}
	return tea.Batch(cmds...)
}

func (f *fleetPage) find(id int64) *fleetItem {
	for i := range f.items {
		if f.items[i].id == id && f.items[i].running {
			return &f.items[i]
		}
	}
	return nil
}

func (f *fleetPage) Update(msg tea.Msg) tea.Cmd {
	k := f.c.keys
	switch msg := msg.(type) {
	case rotationStepMsg:
		if it := f.find(msg.id); it != nil {
			it.step = msg.step
		}
	case rotationDoneMsg:
		it := f.find(msg.id)
		if it == nil {
			return nil
		}
		it.ended, it.err = true, msg.err
		if msg.resp != nil {
			it.version = msg.resp.VersionId
		}
		f.done++
		if f.done == len(f.items) {
			f.state = fleetDone
			failed := 0
			for _, it := range f.items {
				if it.err != nil {
					failed++
				}
			}
			if failed > 0 {
				return flash(flashErr, fmt.Sprintf("Fleet rotation finished: %d rotated, %d failed", len(f.items)-failed, failed))
			}
			return flash(flashOK, fmt.Sprintf("Fleet rotation finished: %d rotated", len(f.items)))
		}
		return f.start()
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
			f.state = fleetRunning
			return tea.Batch(f.start(), f.spin.Tick)
		case f.state != fleetRunning && key.Matches(msg, k.Back):
			return pop()
		}
	}
	return nil
}

func (f *fleetPage) View() string {
	st := f.c.st
	iw := f.w - 4
	title := st.Title.Render("Rotate Immediately") + st.Count.Render(fmt.Sprintf(" [%d secrets]", len(f.items)))
	var lines []string
	lines = append(lines, "")
	switch f.state {
	case fleetConfirm:
		for _, l := range wrap(fmt.Sprintf("Each secret below gets a new generated credential, set on its instance and tested before it becomes ACSCurrent. Up to %d rotate at a time; a failure leaves that instance on its previous credential.", fleetParallel), iw) {
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

// detailLines is the full error of the failed row under the cursor.
func (f *fleetPage) detailLines(w int) []string {
	if len(f.items) == 0 {
		return nil
	}
	it := f.items[f.table.Cursor()]
	if it.err == nil {
		return nil
	}
	return f.c.errLines(it.err, w)
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
