package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/ui/components"
)

// auditLimit is how many of the latest events the screen loads; the filter
// runs over them in memory, as the operator types.
const auditLimit = 1000

// auditPage shows the latest audit events (never a value), filterable.
type auditPage struct {
	pageBase
	c      *common
	events []model.AuditEvent
	lower  []string
	view   []int
	loaded bool
	err    error

	table     components.Table
	filter    textinput.Model
	filtering bool
	spin      spinner.Model
	w, h      int
}

type auditLoadedMsg struct {
	events []model.AuditEvent
	err    error
}

func newAuditPage(c *common) *auditPage {
	p := &auditPage{pageBase: newPageBase(), c: c, spin: c.spinner()}
	p.filter = c.st.input("operator, action, secret, result or error…")
	p.filter.Prompt = "/"
	p.filter.PromptStyle = c.st.Count
	p.table.Styles = c.st.Table
	p.table.Row = p.row
	p.table.EmptyText = "No events."
	p.table.SetColumns([]components.Column{
		{Title: "Time", Width: 16},
		{Title: "Operator", Width: 10, Drop: 2},
		{Title: "Action", Width: 26},
		{Title: "Target", Flex: true, Min: 16},
		{Title: "Result", Width: 7},
		{Title: "Error", Width: 26, Drop: 1},
	})
	return p
}

func (p *auditPage) Init() tea.Cmd {
	svc, ctx := p.c.svc, p.c.ctx
	return tea.Batch(p.spin.Tick, func() tea.Msg {
		ev, err := svc.Audit(ctx, auditLimit, "")
		return auditLoadedMsg{events: ev, err: err}
	})
}

func (p *auditPage) SetSize(w, h int) {
	p.w, p.h = w, h
	p.layout()
}

func (p *auditPage) layout() {
	th := p.h - 2 - 3
	if p.filtering || p.filter.Value() != "" {
		th--
	}
	p.table.SetSize(p.w-3, max(1, th))
	p.filter.Width = max(10, p.w-30)
}

func (p *auditPage) Capturing() bool { return p.filtering }

func (p *auditPage) row(i int) []components.Cell {
	st := p.c.st
	e := p.events[p.view[i]]
	res := st.OK
	if e.Result != "Success" {
		res = st.Err
	}
	return []components.Cell{
		{Text: fmtTime(e.Time), Style: st.Dim},
		{Text: e.Operator, Style: st.Value},
		{Text: e.Action, Style: st.Value},
		{Text: e.Target, Style: st.Value},
		{Text: e.Result, Style: res},
		{Text: e.ErrorCode, Style: st.Err},
	}
}

func (p *auditPage) refilter() {
	q := strings.ToLower(p.filter.Value())
	p.view = p.view[:0]
	for i, s := range p.lower {
		if q == "" || strings.Contains(s, q) {
			p.view = append(p.view, i)
		}
	}
	p.table.SetRows(len(p.view))
}

func (p *auditPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case auditLoadedMsg:
		p.loaded, p.err, p.events = true, msg.err, msg.events
		p.lower = make([]string, len(p.events))
		for i, e := range p.events {
			p.lower[i] = strings.ToLower(strings.Join([]string{e.Operator, e.Action, e.Target, e.VersionId, e.Result, e.ErrorCode, e.Error}, " "))
		}
		p.view = make([]int, 0, len(p.events))
		p.refilter()
	case spinner.TickMsg:
		if p.loaded {
			return nil
		}
		var cmd tea.Cmd
		p.spin, cmd = p.spin.Update(msg)
		return cmd
	case secretChangedMsg, instancesChangedMsg:
		return p.Init()
	case tea.KeyMsg:
		if cmd, ok := p.actions().handle(msg); ok {
			return cmd
		}
		if p.filtering {
			before := p.filter.Value()
			var cmd tea.Cmd
			p.filter, cmd = p.filter.Update(msg)
			if p.filter.Value() != before {
				p.refilter()
			}
			return cmd
		}
	}
	return nil
}

func (p *auditPage) actions() actions {
	k := p.c.keys
	listing := func() bool { return !p.filtering }
	filtered := func() bool { return listing() && p.filter.Value() != "" }
	clear := func() tea.Cmd {
		p.filtering = false
		p.filter.Blur()
		p.filter.SetValue("")
		p.layout()
		p.refilter()
		return nil
	}
	as := actions{
		{key: k.Filter, title: "Filter the events", enabled: listing, hint: true, run: func() tea.Cmd {
			p.filtering = true
			p.layout()
			return p.filter.Focus()
		}},
		{key: k.FilterClear, title: "Clear the filter", enabled: filtered, hint: true, run: clear},
		{key: k.Back, title: "Back to the secrets", enabled: func() bool { return listing() && !filtered() }, hint: true, run: pop},
	}
	as = append(as, p.c.listActions(&p.table, listing, true, true, nil)...)
	return append(as,
		action{key: k.Refresh, title: "Load the latest events", enabled: listing, hint: true, run: func() tea.Cmd {
			p.loaded = false
			return p.Init()
		}},
		// While the filter is typed: letters are text.
		action{key: k.FilterApply, enabled: p.Capturing, hint: true, run: func() tea.Cmd {
			p.filtering = false
			p.filter.Blur()
			p.layout()
			return nil
		}},
		action{key: k.FilterClear, enabled: p.Capturing, hint: true, run: clear},
	)
}

func (p *auditPage) View() string {
	st := p.c.st
	title := st.Title.Render("Audit") + st.Count.Render(fmt.Sprintf(" [%d latest]", len(p.events)))
	if q := p.filter.Value(); q != "" {
		title += st.Count.Render(fmt.Sprintf(" /%s → %d", model.SafeText(q), len(p.view)))
	}
	iw := p.w - 4
	var body string
	switch {
	case p.err != nil:
		body = "\n " + strings.Join(p.c.errLines(p.err, iw), "\n ")
	case !p.loaded:
		body = "\n " + p.spin.View() + st.Dim.Render(" Loading events…")
	default:
		body = p.table.View() + "\n" + indent(strings.Join(p.detailLines(iw), "\n"), 1)
		if p.filtering || p.filter.Value() != "" {
			body = " " + p.filter.View() + "\n" + body
		}
	}
	return components.Box(st.Box, title, body, p.w, p.h)
}

// detailLines show the event under the cursor in full (3 lines).
func (p *auditPage) detailLines(w int) []string {
	st := p.c.st
	out := []string{st.Dim.Render(strings.Repeat("─", w))}
	if len(p.view) == 0 {
		return out
	}
	e := p.events[p.view[p.table.Cursor()]]
	// Every field of an event is text from outside (an old store may hold
	// a refused request's raw SecretName): Fit and SafeText show it inert.
	line := fmt.Sprintf("%s  %s by %s on %s", model.FormatTime(e.Time), e.Action, e.Operator, e.Target)
	if e.VersionId != "" {
		line += " (version " + e.VersionId + ")"
	}
	out = append(out, st.Value.Render(components.Fit(line, w)))
	if e.ErrorCode != "" {
		out = append(out, components.Pad(st.Code.Render(model.SafeText(e.ErrorCode))+st.Err.Render(": "+model.SafeText(e.Error)), w))
	} else {
		out = append(out, st.Dim.Render("request "+model.SafeText(e.RequestId)))
	}
	return out
}
