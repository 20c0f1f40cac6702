package ui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
	"kmsconsole/ui/components"
)

// secretsPage is the Secrets list: the region's secrets in a virtual table
// (only visible rows are rendered), an incremental filter over a
// pre-lowercased name slice, and a selection of ECS secrets for a fleet
// rotation.
type secretsPage struct {
	pageBase
	c      *common
	region string

	all      []model.Secret
	lower    []string // lowercased names, for the filter
	view     []int    // indexes into all that pass the filter
	selected map[string]bool

	table     components.Table
	filter    textinput.Model
	filtering bool

	loading bool
	loaded  bool
	err     error
	spin    spinner.Model
	// keep is the name the cursor stays on across a reload.
	keep string
	// statusW is the widest status of the list, rotW the widest rotation
	// (a schedule is longer than a period), computed once per load.
	statusW, rotW int
	// total is the region's secret count, known before all rows are.
	total int

	w, h int
}

type secretsLoadedMsg struct {
	secrets []model.Secret
	// total is how many secrets the region has; partial says secrets is
	// only the first screenful, with the whole list following.
	total   int
	partial bool
	err     error
}

// headRows is how many secrets the first frame loads: more than a tall
// terminal shows, far fewer than a large store holds.
const headRows = 200

func newSecretsPage(c *common) *secretsPage {
	p := &secretsPage{pageBase: newPageBase(), c: c, region: c.svc.Region(), selected: map[string]bool{}, spin: c.spinner()}
	p.filter = c.st.input("name contains…")
	p.filter.Prompt = "/"
	p.filter.PromptStyle = c.st.Count
	p.table.Styles = c.st.Table
	p.table.Row = p.row
	if c.canMutate() {
		p.table.Mark = func(i int) bool { return p.selected[p.all[p.view[i]].Name] }
	}
	p.statusW, p.rotW = len("Rotation failed"), minRotW
	p.setColumns(false)
	return p
}

// listRefresh is how often the list reloads by itself: the scheduler
// rotates and purges while the console is open.
const listRefresh = 30 * time.Second

type secretsTickMsg struct{}

func (p *secretsPage) Init() tea.Cmd {
	p.loading = true
	return tea.Batch(p.loadHead(), p.spin.Tick, p.tick())
}

// loadHead loads the first screenful so the first frame does not wait for
// a large store; its message starts the full load.
func (p *secretsPage) loadHead() tea.Cmd {
	svc, ctx := p.c.svc, p.c.ctx
	return func() tea.Msg {
		list, total, err := svc.SecretsHead(ctx, headRows)
		return secretsLoadedMsg{secrets: list, total: total, partial: len(list) < total, err: err}
	}
}

func (p *secretsPage) tick() tea.Cmd {
	return tea.Tick(listRefresh, func(time.Time) tea.Msg { return secretsTickMsg{} })
}

func (p *secretsPage) load() tea.Cmd {
	svc, ctx := p.c.svc, p.c.ctx
	return func() tea.Msg {
		list, err := svc.Secrets(ctx)
		return secretsLoadedMsg{secrets: list, total: len(list), err: err}
	}
}

// The rotation column is as wide as its widest text, between a period's
// "Enabled · 30d" and maxRotW (a longer schedule ends in "…"; the details
// show it whole).
const (
	nameMinW = 24
	minRotW  = len("Enabled · 30d")
	maxRotW  = len("Invalid · cron(0 2 ? * MON-FRI *)")
)

// setColumns sizes the columns to the widest status and rotation shown.
func (p *secretsPage) setColumns(wide bool) {
	dateW := 10
	if wide {
		dateW = 16
	}
	// Name and Status always show. On a narrow screen the dates go
	// first, then the type (the rotation column tells ECS secrets
	// apart: "—" for a generic one); on a wide one the name stops at
	// 48 cells and a longer one ends in "…" (details show it whole).
	// A schedule widens the rotation column: then the type goes before
	// the next rotation, which says when the schedule comes round; and on
	// a narrow screen the schedule is cut ("…") rather than the column
	// dropped (room for the mark, the name at its least, the status and
	// two gaps).
	typePri, nextPri := 3, 2
	rotW := p.rotW
	if p.rotW > minRotW {
		typePri, nextPri = 2, 3
		if p.w > 0 {
			rotW = min(rotW, max(minRotW, p.w-3-3-nameMinW-p.statusW-2*2))
		}
	}
	p.table.SetColumns([]components.Column{
		{Title: "Name", Flex: true, Min: nameMinW, Max: 48},
		{Title: "Type", Width: len("Managed ECS secret"), Priority: typePri},
		{Title: "Status", Width: p.statusW},
		{Title: "Auto rotation", Width: rotW, Priority: 4},
		{Title: "Last rotation", Width: dateW, Priority: 1},
		{Title: "Next rotation", Width: dateW, Priority: nextPri},
	})
}

func (p *secretsPage) wide() bool { return p.w >= 140 }

func (p *secretsPage) row(i int) []components.Cell {
	st := p.c.st
	s := &p.all[p.view[i]]
	status := s.Status(p.c.now())
	date := fmtDate
	if p.wide() {
		date = fmtTime
	}
	rot := rotationText(s)
	rotStyle := st.Value
	if s.Type != model.ECS || s.AutomaticRotation == model.RotationDisabled {
		rotStyle = st.Dim
	}
	return []components.Cell{
		{Text: s.Name, Style: st.Value},
		{Text: s.Type.Label(), Style: st.Dim},
		{Text: status, Style: st.status(status)},
		{Text: rot, Style: rotStyle},
		{Text: date(s.LastRotationDate), Style: st.Dim},
		{Text: date(nextRotation(s, p.c.now())), Style: st.Dim},
	}
}

func (p *secretsPage) SetSize(w, h int) {
	p.w, p.h = w, h
	p.layout()
}

func (p *secretsPage) layout() {
	th := p.h - 2
	if p.filterShown() {
		th--
	}
	p.setColumns(p.wide())
	p.table.SetSize(p.w-3, max(1, th))
	p.filter.Width = max(10, p.w-30)
}

// filterShown: the input line shows while the filter is typed; once
// applied, the title carries it ("/web1 → 1"), and the row goes back to
// the list.
func (p *secretsPage) filterShown() bool { return p.filtering }

func (p *secretsPage) Capturing() bool { return p.filtering }

// current is the secret under the cursor, nil when the list is empty.
func (p *secretsPage) current() *model.Secret {
	if len(p.view) == 0 {
		return nil
	}
	return &p.all[p.view[p.table.Cursor()]]
}

func (p *secretsPage) refilter() {
	q := strings.ToLower(p.filter.Value())
	keep := ""
	if cur := p.current(); cur != nil {
		keep = cur.Name
	}
	p.view = p.view[:0]
	for i, n := range p.lower {
		if q == "" || strings.Contains(n, q) {
			p.view = append(p.view, i)
		}
	}
	p.table.SetRows(len(p.view))
	p.cursorTo(keep)
}

func (p *secretsPage) cursorTo(name string) {
	if name == "" {
		return
	}
	// view is in name order: binary search instead of a scan.
	j := sort.Search(len(p.view), func(i int) bool { return p.all[p.view[i]].Name >= name })
	if j < len(p.view) {
		p.table.SetCursor(j)
	}
}

func (p *secretsPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case secretsLoadedMsg:
		p.loading, p.loaded, p.err = false, true, msg.err
		if msg.err != nil {
			return nil
		}
		keep := p.keep
		if cur := p.current(); keep == "" && cur != nil {
			keep = cur.Name
		}
		p.keep = ""
		p.all = msg.secrets
		sort.Slice(p.all, func(i, j int) bool { return p.all[i].Name < p.all[j].Name })
		p.lower = make([]string, len(p.all))
		names := make(map[string]bool, len(p.selected))
		p.statusW, p.rotW = len("Rotation failed"), minRotW
		now := p.c.now()
		for i := range p.all {
			if p.all[i].PendingDeletion() {
				p.statusW = max(p.statusW, len(p.all[i].Status(now)))
			}
			if p.all[i].RotationSchedule != "" {
				p.rotW = min(maxRotW, max(p.rotW, ansi.StringWidth(rotationText(&p.all[i]))))
			}
			p.lower[i] = strings.ToLower(p.all[i].Name)
			if p.selected[p.all[i].Name] && selectable(&p.all[i]) {
				names[p.all[i].Name] = true
			}
		}
		p.selected = names
		p.view = make([]int, 0, len(p.all))
		p.layout()
		p.refilter()
		p.cursorTo(keep)
		p.total = msg.total
		if msg.partial {
			return p.load()
		}
		return nil

	case secretsTickMsg:
		return tea.Batch(p.load(), p.tick())

	case secretChangedMsg:
		if msg.name != "" {
			p.keep = msg.name
		}
		return p.load()

	case spinner.TickMsg:
		if !p.loading {
			return nil
		}
		var cmd tea.Cmd
		p.spin, cmd = p.spin.Update(msg)
		return cmd

	case tea.KeyMsg:
		if cmd, ok := p.actions().handle(msg); ok {
			return cmd
		}
		if p.filtering {
			return p.typeFilter(msg)
		}
	}
	return nil
}

// typeFilter gives a key to the filter being typed.
func (p *secretsPage) typeFilter(msg tea.KeyMsg) tea.Cmd {
	before := p.filter.Value()
	var cmd tea.Cmd
	p.filter, cmd = p.filter.Update(msg)
	if p.filter.Value() != before {
		p.refilter()
	}
	return cmd
}

func (p *secretsPage) actions() actions {
	k := p.c.keys
	cur := p.current()
	listing := func() bool { return !p.filtering }
	onSecret := func() bool { return !p.filtering && cur != nil }
	pending := func() bool { return cur.PendingDeletion() }
	notPending := func() bool { return !cur.PendingDeletion() }
	rotateTitle := "Rotate the selected secret now"
	if n := len(p.selected); n > 0 {
		rotateTitle = fmt.Sprintf("Rotate the %d selected secrets now", n)
	}
	as := actions{
		{key: k.Create, title: "Create a secret", enabled: listing, hint: true, run: func() tea.Cmd { return push(newWizard(p.c)) }},
		{key: k.Open, title: "Open the selected secret", enabled: onSecret, hint: true, run: func() tea.Cmd {
			return push(newDetailsPage(p.c, cur.Name))
		}},
		{key: k.Rotate, title: rotateTitle, enabled: onSecret, hint: true,
			applies: func() bool { return len(p.selected) > 0 || selectable(cur) }, run: p.rotate},
		{key: k.Restore, title: "Restore the selected secret", enabled: onSecret, applies: pending, hint: true, run: func() tea.Cmd {
			if !cur.PendingDeletion() {
				return flash(flashErr, fmt.Sprintf("%s is not pending deletion", cur.Name))
			}
			return push(newRestoreDialog(p.c, *cur))
		}},
		{key: k.Delete, title: "Plan the deletion of the selected secret", enabled: onSecret, applies: notPending, hint: true, run: func() tea.Cmd {
			if cur.PendingDeletion() {
				return flash(flashErr, fmt.Sprintf("%s is already pending deletion; press u to restore it", cur.Name))
			}
			return push(newDeletionDialog(p.c, *cur))
		}},
		{key: k.Filter, title: "Filter the secrets by name", enabled: listing, hint: true, run: func() tea.Cmd {
			p.filtering = true
			p.layout()
			return p.filter.Focus()
		}},
		// The applied filter shows only in the title: say how to clear it.
		{key: k.FilterClear, title: "Clear the filter", hint: true,
			enabled: func() bool { return listing() && p.filter.Value() != "" }, run: p.clearFilter},
		{key: withHelp(k.Back, "esc", "clear selection"), title: "Clear the selection", hint: true,
			enabled: func() bool { return listing() && p.filter.Value() == "" && len(p.selected) > 0 }, run: func() tea.Cmd {
				p.selected = map[string]bool{}
				return nil
			}},
		{key: k.Select, title: "Select the secret for a fleet rotation", enabled: onSecret,
			applies: func() bool { return selectable(cur) }, hint: true, run: func() tea.Cmd {
				if !selectable(cur) {
					return flash(flashErr, "Only Managed ECS secrets that are not pending deletion can be rotated together")
				}
				if p.selected[cur.Name] {
					delete(p.selected, cur.Name)
				} else {
					p.selected[cur.Name] = true
				}
				p.table.Move(1)
				return nil
			}},
		{key: k.Edit, title: "Edit the selected secret", enabled: onSecret, applies: notPending, run: func() tea.Cmd {
			if cur.PendingDeletion() {
				return flash(flashErr, fmt.Sprintf("%s is pending deletion: restore it (u) before editing", cur.Name))
			}
			return push(newEditDialog(p.c, *cur))
		}},
		{key: k.Refresh, title: "Reload the list", enabled: listing, run: func() tea.Cmd {
			p.loading = true
			return tea.Batch(p.load(), p.spin.Tick)
		}},
	}
	as = append(as, p.c.listActions(&p.table, listing, false, true, nil)...)
	// While the filter is typed: letters are text, the arrows move.
	return append(as,
		action{key: k.FilterApply, enabled: p.Capturing, hint: true, run: func() tea.Cmd {
			p.filtering = false
			p.filter.Blur()
			p.layout()
			return nil
		}},
		action{key: k.FilterClear, enabled: p.Capturing, hint: true, run: p.clearFilter},
		action{key: k.ArrowUp, enabled: p.Capturing, nav: true, run: func() tea.Cmd { p.table.Move(-1); return nil }},
		action{key: k.ArrowDown, enabled: p.Capturing, nav: true, run: func() tea.Cmd { p.table.Move(1); return nil }},
	)
}

func (p *secretsPage) clearFilter() tea.Cmd {
	p.filtering = false
	p.filter.Blur()
	p.filter.SetValue("")
	p.layout()
	p.refilter()
	return nil
}

// rotate opens Rotate Immediately, or the fleet rotation of the selected
// secrets.
func (p *secretsPage) rotate() tea.Cmd {
	if len(p.selected) == 0 {
		return rotateOrExplain(p.c, p.current())
	}
	var chosen []model.Secret
	for i := range p.all {
		if p.selected[p.all[i].Name] {
			chosen = append(chosen, p.all[i])
		}
	}
	p.selected = map[string]bool{}
	return push(newFleetPage(p.c, chosen))
}

// rotateOrExplain opens Rotate Immediately for an ECS secret, or says why
// not.
func rotateOrExplain(c *common, s *model.Secret) tea.Cmd {
	switch {
	case s.Type != model.ECS:
		return flash(flashErr, "Generic secrets have no built-in rotation: open it (enter) and put a new value (p)")
	case s.PendingDeletion():
		return flash(flashErr, fmt.Sprintf("%s is pending deletion: restore it (u) before rotating", s.Name))
	}
	return push(newRotateDialog(c, *s))
}

func selectable(s *model.Secret) bool { return s.Type == model.ECS && !s.PendingDeletion() }

func (p *secretsPage) View() string {
	st := p.c.st
	title := st.Title.Render("Secrets") + st.Count.Render(fmt.Sprintf(" [%d]", max(p.total, len(p.all))))
	if q := p.filter.Value(); q != "" {
		title += st.Count.Render(fmt.Sprintf(" /%s → %d", model.SafeText(q), len(p.view)))
	}
	if n := len(p.selected); n > 0 {
		title += st.Count.Render(fmt.Sprintf(" · %d selected", n))
	}
	var body string
	iw := p.w - 2
	switch {
	case p.err != nil:
		body = "\n " + strings.Join(p.c.errLines(p.err, iw-2), "\n ")
	case !p.loaded:
		body = "\n " + p.spin.View() + st.Dim.Render(" Loading secrets…")
	default:
		if len(p.all) == 0 {
			p.table.EmptyText = "No secrets in " + p.region + " yet. Press c to create one."
			if !p.c.canMutate() {
				p.table.EmptyText = "No secrets in " + p.region + "."
			}
		} else {
			p.table.EmptyText = fmt.Sprintf("No secret name contains %q. Esc clears the filter.", p.filter.Value())
		}
		body = p.table.View()
		if p.filterShown() {
			body = " " + p.filter.View() + "\n" + body
		}
	}
	return components.Box(st.Box, title, body, p.w, p.h)
}
