package cli

import (
	"context"
	"fmt"
	"kmsconsole/model"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/service"
)

// The live view of `kmsconsole rotate` on a terminal: a progress bar, the
// ok / failed / running counts with an ETA and the rotations in flight,
// then (printed after the program ends, so it can be longer than the
// screen) one row per secret. Inline, not the alt screen: the result stays
// in the scrollback.

// rotateStyles colour the view; with NO_COLOR the renderer's profile is
// Ascii and they carry no colour. Basic ANSI colours follow the terminal's
// own theme, so the background need not be asked for.
type rotateStyles struct {
	ok, failed, running, dim, bold, plain lipgloss.Style
}

func newRotateStyles(r *lipgloss.Renderer) rotateStyles {
	return rotateStyles{
		ok:      r.NewStyle().Foreground(lipgloss.Color("2")),
		failed:  r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		running: r.NewStyle().Foreground(lipgloss.Color("3")),
		dim:     r.NewStyle().Faint(true),
		bold:    r.NewStyle().Bold(true),
		plain:   r.NewStyle(),
	}
}

func (s rotateStyles) result(r string) lipgloss.Style {
	switch r {
	case service.FleetSuccess:
		return s.ok
	case service.FleetNotStarted:
		return s.running
	}
	return s.failed
}

type rotateTickMsg struct{}
type rotateDoneMsg struct{}

type rotateView struct {
	fr     *fleetRun
	bar    progress.Model
	st     rotateStyles
	header string
	width  int
	done   bool
}

// fleetSnapshot is what the view shows of a fleetRun at one moment.
type fleetSnapshot struct {
	total, ok, failed, notStarted, running, interrupts int
	elapsed                                            time.Duration
	active                                             []string // "step  name" of running items
}

func (f *fleetRun) snapshot() fleetSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fleetSnapshot{total: len(f.items), ok: f.ok, failed: f.failed, notStarted: f.notStarted, running: f.running,
		interrupts: f.interrupts, elapsed: time.Since(f.start)}
	for i, st := range f.step {
		if st != "" && !f.ended[i] {
			s.active = append(s.active, fmt.Sprintf("%-6s %s  %s", st, model.SafeText(f.items[i].Label()), model.SafeText(f.items[i].InstanceId)))
		}
	}
	return s
}

func rotateTick() tea.Cmd {
	return tea.Tick(200*time.Millisecond, func(time.Time) tea.Msg { return rotateTickMsg{} })
}

func (m *rotateView) Init() tea.Cmd { return rotateTick() }

func (m *rotateView) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
		m.bar.Width = max(10, min(msg.Width-2, 60))
	case tea.KeyMsg:
		if msg.String() == "ctrl+c" {
			m.fr.interrupt()
		}
	case rotateTickMsg:
		if !m.done {
			return m, rotateTick()
		}
	case rotateDoneMsg:
		m.done = true
		return m, tea.Quit
	}
	return m, nil
}

// maxActiveShown bounds the list of rotations in flight.
const maxActiveShown = 6

func (m *rotateView) View() string {
	s := m.fr.snapshot()
	finished := s.ok + s.failed + s.notStarted
	// The bar is the share of secrets rotated or failed: an interrupted
	// batch does not end at 100%.
	pct := 1.0
	if s.total > 0 {
		pct = float64(s.ok+s.failed) / float64(s.total)
	}
	var b strings.Builder
	b.WriteString(m.st.bold.Render(m.header) + "\n")
	b.WriteString(m.bar.ViewAs(pct) + "\n")
	waiting := s.total - finished - s.running
	counts := []string{
		m.st.ok.Render(fmt.Sprintf("ok %d", s.ok)),
		m.failedStyle(s.failed).Render(fmt.Sprintf("failed %d", s.failed)),
		m.st.running.Render(fmt.Sprintf("running %d", s.running)),
	}
	if m.done {
		if s.notStarted > 0 {
			counts = append(counts, m.st.running.Render(fmt.Sprintf("not started %d", s.notStarted)))
		}
		counts = append(counts, "took "+fmtSeconds(s.elapsed))
	} else {
		wait := fmt.Sprintf("waiting %d", max(0, waiting))
		if s.interrupts > 0 {
			wait = fmt.Sprintf("will not start %d", max(0, waiting))
		}
		counts = append(counts, wait, "elapsed "+fmtSeconds(s.elapsed), "ETA "+eta(s))
	}
	b.WriteString(strings.Join(counts, "  ") + "\n")
	if m.done {
		return b.String()
	}
	for i, a := range s.active {
		if i == maxActiveShown {
			b.WriteString(m.st.dim.Render(fmt.Sprintf("  … and %d more running", len(s.active)-i)) + "\n")
			break
		}
		b.WriteString(m.trunc("  "+m.st.running.Render(a)) + "\n")
	}
	switch {
	case s.interrupts > 0:
		b.WriteString(m.trunc(m.st.running.Render(interruptText(s.interrupts, s.running))) + "\n")
	default:
		b.WriteString(m.st.dim.Render("ctrl+c: start no new rotation (running ones finish)") + "\n")
	}
	return b.String()
}

// failedStyle is red only when something failed.
func (m *rotateView) failedStyle(n int) lipgloss.Style {
	if n == 0 {
		return m.st.plain
	}
	return m.st.failed
}

func (m *rotateView) trunc(s string) string {
	if m.width <= 0 {
		return s
	}
	return ansi.Truncate(s, m.width, "…")
}

// eta estimates the time left from the rate of finished rotations so far.
func eta(s fleetSnapshot) string {
	done := s.ok + s.failed
	left := s.total - done - s.notStarted
	switch {
	case s.interrupts > 0:
		return "— (stopping)"
	case left <= 0:
		return "0s"
	case done == 0:
		return "…"
	}
	return "~" + fmtSeconds(time.Duration(float64(s.elapsed)/float64(done)*float64(left)))
}

func fmtSeconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// rotateInTerminal runs the batch under the live view, then prints the
// result table and the summary.
func (env *Env) rotateInTerminal(ctx context.Context, svc *service.Service, items []service.FleetItem, opts service.FleetOptions, fr *fleetRun, ra rotateArgs) []service.FleetResult {
	r := lipgloss.NewRenderer(env.Stdout)
	st := newRotateStyles(r)
	header := fmt.Sprintf("Rotating %d managed ECS secret(s) in %s · parallel %d · per host %d",
		len(items), svc.Region(), ra.parallel, ra.perHost)
	nameHeader := "SECRET"
	if ra.adminKeys {
		header = fmt.Sprintf("Rotating the admin key of %d instance(s) in %s · parallel %d", len(items), svc.Region(), ra.parallel)
		nameHeader = "KEY"
	}
	m := &rotateView{
		fr: fr, st: st, width: 80, header: header,
		bar: progress.New(progress.WithDefaultGradient(), progress.WithColorProfile(r.ColorProfile()), progress.WithWidth(60)),
	}
	// Signals are ours (fr.handleSignals): Bubble Tea's own handler would
	// end the program on SIGINT while rotations still run.
	popts := []tea.ProgramOption{tea.WithOutput(env.Stdout), tea.WithoutSignalHandler()}
	if IsTerminal(env.Stdin) {
		popts = append(popts, tea.WithInput(env.Stdin))
	} else {
		popts = append(popts, tea.WithInput(nil))
	}
	p := tea.NewProgram(m, popts...)
	resCh := make(chan []service.FleetResult, 1)
	go func() {
		res := svc.RotateFleet(ctx, items, opts)
		resCh <- res
		p.Send(rotateDoneMsg{})
	}()
	if _, err := p.Run(); err != nil {
		// The terminal is gone: start nothing more, let the rest finish.
		fr.interrupt()
	}
	results := <-resCh

	nameW, instW := columnWidths(items)
	rows := [][]string{{nameHeader, "INSTANCE", "RESULT", "MS", "FAILED STEP / REASON"}}
	for _, res := range results {
		ms := ""
		if res.Result != service.FleetNotStarted {
			ms = strconv.FormatInt(res.Ms, 10)
		}
		detail := ""
		if res.Result != service.FleetSuccess {
			detail = resultDetail(res)
		} else if res.Warning != "" {
			detail = model.SafeText("warning: " + res.Warning)
		}
		rows = append(rows, []string{model.SafeText(res.Label()), model.SafeText(res.InstanceId), res.Result, ms, detail})
	}
	var b strings.Builder
	b.WriteString("\n")
	for i, row := range rows {
		cells := []string{fmt.Sprintf("%-*s", nameW, row[0]), fmt.Sprintf("%-*s", instW, row[1]),
			fmt.Sprintf("%-10s", row[2]), fmt.Sprintf("%7s", row[3]), row[4]}
		for j := range cells {
			switch {
			case i == 0:
				cells[j] = st.bold.Render(cells[j])
			case j == 2:
				cells[j] = st.result(row[2]).Render(cells[j])
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, "  "), " ") + "\n")
	}
	b.WriteString(fr.summary().text(svc.Region()) + "\n")
	fmt.Fprint(env.Stdout, b.String())
	return results
}
