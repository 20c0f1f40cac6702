package ui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// instancesPage lists the region's managed instances. Each row is checked
// (a login with the pinned host key and the admin key) by its own command,
// all in parallel: checking…, reachable, or unreachable with the reason.
type instancesPage struct {
	pageBase
	c      *common
	region string
	list   []service.InstanceView
	checks map[string]*instanceCheck
	loaded bool
	err    error

	table components.Table
	spin  spinner.Model
	w, h  int
}

type instanceCheck struct {
	done bool
	err  error
	gen  int
}

type instancesLoadedMsg struct {
	list []service.InstanceView
	err  error
}

type instanceCheckedMsg struct {
	id  string
	gen int
	err error
}

func newInstancesPage(c *common) *instancesPage {
	p := &instancesPage{pageBase: newPageBase(), c: c, region: c.svc.Region(), checks: map[string]*instanceCheck{}, spin: c.spinner()}
	p.table.Styles = c.st.Table
	p.table.Row = p.row
	p.table.SetColumns([]components.Column{
		// Instance and Reachability always show; the others drop from
		// the fingerprint (under the table too) up, and a long name ends
		// in "…" rather than push the address off a wide screen.
		{Title: "Instance", Width: 14},
		{Title: "Name", Flex: true, Min: 10, Max: 32, Priority: 4},
		{Title: "Address", Width: 21, Priority: 5},
		{Title: "Admin", Width: 10, Priority: 2},
		{Title: "Secrets", Width: 7, Priority: 3},
		{Title: "Reachability", Width: 18},
		{Title: "Host key fingerprint", Width: 50, Priority: 1},
	})
	p.table.EmptyText = "No instances in " + p.region + " yet."
	if c.canMutate() {
		p.table.EmptyText += " Press c to add one."
	}
	return p
}

func (p *instancesPage) Init() tea.Cmd { return tea.Batch(p.load(), p.spin.Tick) }

func (p *instancesPage) load() tea.Cmd {
	svc, ctx := p.c.svc, p.c.ctx
	return func() tea.Msg {
		list, err := svc.Instances(ctx, false)
		return instancesLoadedMsg{list: list, err: err}
	}
}

// checkAll starts one check per instance; they run in parallel.
func (p *instancesPage) checkAll() tea.Cmd {
	var cmds []tea.Cmd
	for _, in := range p.list {
		ch := p.checks[in.InstanceId]
		if ch == nil {
			ch = &instanceCheck{}
			p.checks[in.InstanceId] = ch
		}
		ch.gen++
		ch.done, ch.err = false, nil
		svc, ctx, id, gen := p.c.svc, p.c.ctx, in.InstanceId, ch.gen
		cmds = append(cmds, func() tea.Msg {
			return instanceCheckedMsg{id: id, gen: gen, err: svc.CheckInstance(ctx, id)}
		})
	}
	if len(cmds) > 0 {
		cmds = append(cmds, p.spin.Tick)
	}
	return tea.Batch(cmds...)
}

func (p *instancesPage) checking() bool {
	for _, ch := range p.checks {
		if !ch.done {
			return true
		}
	}
	return false
}

func (p *instancesPage) SetSize(w, h int) {
	p.w, p.h = w, h
	p.table.SetSize(w-3, max(3, h-2-4))
}

func (p *instancesPage) Capturing() bool { return false }

func (p *instancesPage) row(i int) []components.Cell {
	st := p.c.st
	in := p.list[i]
	reach, style := p.reachability(in.InstanceId)
	return []components.Cell{
		{Text: in.InstanceId, Style: st.Value},
		{Text: in.InstanceName, Style: st.Value},
		{Text: hostPort(in.Host, in.Port), Style: st.Dim},
		{Text: in.AdminUser, Style: st.Dim},
		{Text: fmt.Sprint(in.ManagedSecrets), Style: st.Dim},
		{Text: reach, Style: style},
		{Text: in.Fingerprint, Style: st.Dim},
	}
}

func (p *instancesPage) reachability(id string) (string, lipgloss.Style) {
	st := p.c.st
	ch := p.checks[id]
	switch {
	case ch == nil || !ch.done:
		// A cell is plain text (the table sanitises it): the spinner's
		// frame without its own style.
		return plainSpinner(p.spin) + " checking…", st.Dim
	case ch.err == nil:
		return "✓ reachable", st.OK
	}
	return "✗ " + shortReason(ch.err), st.Err
}

// shortReason names the kind of failure for the column; the full reason
// is under the table.
func shortReason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "host key"):
		return "host key changed"
	case strings.Contains(s, "unreachable"):
		return "unreachable"
	case strings.Contains(s, "refused"):
		return "login refused"
	case strings.Contains(s, "sudo"):
		return "sudo refused"
	}
	return "failed"
}

func (p *instancesPage) actions() actions {
	k := p.c.keys
	some := func() bool { return p.loaded && len(p.list) > 0 }
	as := actions{
		{key: k.AddInstance, title: "Add an instance", hint: true, run: func() tea.Cmd { return push(newInstanceForm(p.c)) }},
		{key: k.RemoveInstance, title: "Remove the selected instance", hint: true, enabled: some, run: func() tea.Cmd {
			return push(newInstanceRemoveDialog(p.c, p.list[p.table.Cursor()]))
		}},
		{key: k.RotateAdminKey, title: "Rotate the admin key of the selected instance", hint: true, enabled: some, run: func() tea.Cmd {
			return push(newAdminKeyDialog(p.c, p.list[p.table.Cursor()]))
		}},
		{key: k.Recheck, title: "Check every instance again", hint: true, run: p.checkAll},
		{key: k.Back, title: "Back to the secrets", hint: true, run: pop},
	}
	return append(as, p.c.listActions(&p.table, nil, true, false, nil)...)
}

func (p *instancesPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case instancesLoadedMsg:
		p.loaded, p.err, p.list = true, msg.err, msg.list
		p.table.SetRows(len(p.list))
		// Forget the checks of instances that are gone (removed).
		listed := map[string]bool{}
		for _, in := range p.list {
			listed[in.InstanceId] = true
		}
		for id := range p.checks {
			if !listed[id] {
				delete(p.checks, id)
			}
		}
		return p.checkAll()
	case instancesChangedMsg:
		return p.load()
	case instanceCheckedMsg:
		if ch := p.checks[msg.id]; ch != nil && ch.gen == msg.gen {
			ch.done, ch.err = true, msg.err
		}
	case spinner.TickMsg:
		if p.loaded && !p.checking() {
			return nil
		}
		var cmd tea.Cmd
		p.spin, cmd = p.spin.Update(msg)
		return cmd
	case tea.KeyMsg:
		cmd, _ := p.actions().handle(msg)
		return cmd
	}
	return nil
}

func (p *instancesPage) View() string {
	st := p.c.st
	title := st.Title.Render("Instances") + st.Count.Render(fmt.Sprintf(" [%d] %s", len(p.list), model.SafeText(p.region)))
	iw := p.w - 4
	var body string
	switch {
	case p.err != nil:
		body = "\n " + strings.Join(p.c.errLines(p.err, iw), "\n ")
	case !p.loaded:
		body = "\n " + p.spin.View() + st.Dim.Render(" Loading instances…")
	default:
		detail := p.detailLines(iw)
		p.table.SetSize(p.w-3, max(3, p.h-2-len(detail)))
		body = p.table.View() + "\n" + indent(strings.Join(detail, "\n"), 1)
	}
	return components.Box(st.Box, title, body, p.w, p.h)
}

// detailLines describe the instance under the cursor: its pinned host key
// and, when the check failed, why.
func (p *instancesPage) detailLines(w int) []string {
	st := p.c.st
	if len(p.list) == 0 {
		return nil
	}
	in := p.list[p.table.Cursor()]
	lw := 10
	fp, pinned := model.SafeText(in.Fingerprint), "pinned "+fmtAPITime(in.CreateTime)
	out := []string{st.Dim.Render(strings.Repeat("─", w))}
	if lw+ansi.StringWidth(fp)+2+ansi.StringWidth(pinned) <= w {
		out = append(out, st.Label.Render(components.Fit("Host key", lw))+st.Value.Render(fp)+st.Dim.Render("  "+pinned))
	} else {
		// Narrow: the date under the fingerprint rather than cut.
		out = append(out, st.Label.Render(components.Fit("Host key", lw))+st.Value.Render(fp),
			components.Fit("", lw)+st.Dim.Render(pinned))
	}
	if l := p.adminKeyLine(in); l != "" {
		out = append(out, st.Label.Render(components.Fit("Admin key", lw))+ansi.Truncate(l, max(1, w-lw), "…"))
	}
	ch := p.checks[in.InstanceId]
	switch {
	case ch == nil || !ch.done:
		out = append(out, st.Label.Render(components.Fit("Check", lw))+st.Dim.Render(model.SafeText(fmt.Sprintf("logging in as %s with the pinned host key…", in.AdminUser))))
	case ch.err == nil:
		out = append(out, st.Label.Render(components.Fit("Check", lw))+st.OK.Render(model.SafeText(fmt.Sprintf("the management login %s@%s works", in.AdminUser, in.InstanceId))))
	default:
		// The check's answer describes the instance, it is no API
		// error: its sentence, without a code.
		err := ch.err
		if !errors.As(err, new(*model.APIError)) {
			err = &model.APIError{Message: err.Error()}
		}
		for i, l := range p.c.errLines(err, w-lw) {
			label := "Reason"
			if i > 0 {
				label = ""
			}
			out = append(out, st.Label.Render(components.Fit(label, lw))+l)
		}
	}
	return out
}

// adminKeyLine is the state of the instance's admin key rotation, "" when
// it never rotated and has no period.
func (p *instancesPage) adminKeyLine(in service.InstanceView) string {
	st := p.c.st
	switch {
	case in.AdminKeyPending:
		return st.Warn.Render("a rotation was cut short: the next start (or R) settles it")
	case in.RetiredAdminKeyLeft:
		return st.Warn.Render("the old key's line is still to remove: the next start (or R) does it")
	case in.AdminKeyError != "":
		return st.Err.Render(model.SafeText("last rotation failed: " + in.AdminKeyError))
	}
	var parts []string
	if in.AdminKeyRotated != "" {
		parts = append(parts, "rotated "+fmtAPITime(in.AdminKeyRotated))
	}
	if in.AdminKeyPeriod != "" {
		parts = append(parts, "every "+model.SafeText(in.AdminKeyPeriod)+", next "+fmtAPITime(in.NextAdminKeyRotation))
	}
	if len(parts) == 0 {
		return ""
	}
	return st.Value.Render(strings.Join(parts, " · "))
}
