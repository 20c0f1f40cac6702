package ui

import (
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/ui/components"
)

// regionsDialog switches the region: the regions that have secrets or
// instances, filtered as you type; a new valid region id can be typed too.
type regionsDialog struct {
	pageBase
	c       *common
	regions []string
	shown   []string
	cursor  int
	input   textinput.Model
	loaded  bool
	err     error
	w, h    int
}

type regionsLoadedMsg struct {
	regions []string
	err     error
}

func newRegionsDialog(c *common) *regionsDialog {
	d := &regionsDialog{pageBase: newPageBase(), c: c}
	d.input = c.st.input("type to filter, or a new region id")
	d.input.Prompt = "› "
	d.input.PromptStyle = c.st.Form.Marker
	return d
}

func (d *regionsDialog) dialog()          {}
func (d *regionsDialog) SetSize(w, h int) { d.w, d.h = w, h }
func (d *regionsDialog) Capturing() bool  { return true }

func (d *regionsDialog) Init() tea.Cmd {
	svc, ctx := d.c.svc, d.c.ctx
	return tea.Batch(d.input.Focus(), func() tea.Msg {
		r, err := svc.Regions(ctx)
		return regionsLoadedMsg{regions: r, err: err}
	})
}

func (d *regionsDialog) refilter() {
	q := strings.ToLower(strings.TrimSpace(d.input.Value()))
	d.shown = d.shown[:0]
	exact := false
	for _, r := range d.regions {
		if strings.Contains(r, q) {
			d.shown = append(d.shown, r)
		}
		exact = exact || r == q
	}
	if q != "" && !exact && model.ValidateRegionId("region", q) == nil {
		d.shown = append(d.shown, q)
	}
	d.cursor = min(d.cursor, max(0, len(d.shown)-1))
}

func (d *regionsDialog) known(r string) bool { return slices.Contains(d.regions, r) }

func (d *regionsDialog) actions() actions {
	k := d.c.keys
	up := func() tea.Cmd { d.cursor = max(0, d.cursor-1); return nil }
	down := func() tea.Cmd { d.cursor = min(max(0, len(d.shown)-1), d.cursor+1); return nil }
	return actions{
		{key: withHelp(k.Confirm, "enter", "switch"), title: "Switch to the chosen region", hint: true,
			enabled: func() bool { return len(d.shown) > 0 }, run: d.choose},
		{key: orKeys(k.ArrowUp, k.PrevField), run: up, hint: true, nav: true},
		{key: orKeys(k.ArrowDown, k.NextField), run: down, hint: true, nav: true},
		{key: k.Cancel, title: "Cancel", run: pop, hint: true},
	}
}

func (d *regionsDialog) choose() tea.Cmd {
	r := d.shown[d.cursor]
	if r == d.c.svc.Region() {
		return pop()
	}
	return msgCmd(regionMsg{region: r})
}

func (d *regionsDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case regionsLoadedMsg:
		d.loaded, d.err, d.regions = true, msg.err, msg.regions
		d.refilter()
		for i, r := range d.shown {
			if r == d.c.svc.Region() {
				d.cursor = i
			}
		}
	case tea.KeyMsg:
		if cmd, ok := d.actions().handle(msg); ok {
			return cmd
		}
		before := d.input.Value()
		var cmd tea.Cmd
		d.input, cmd = d.input.Update(msg)
		if d.input.Value() != before {
			d.refilter()
		}
		return cmd
	}
	return nil
}

func (d *regionsDialog) View() string {
	st := d.c.st
	w := min(56, d.w-4)
	iw := w - 4
	d.input.Width = iw - 4
	lines := []string{"", d.input.View(), ""}
	switch {
	case d.err != nil:
		lines = append(lines, d.c.errLines(d.err, iw)...)
	case !d.loaded:
		lines = append(lines, st.Dim.Render("Loading regions…"))
	default:
		for i, r := range d.shown {
			label := r
			if r == d.c.svc.Region() {
				label += "  (current)"
			} else if !d.known(r) {
				label += "  (new: no secrets or instances yet)"
			}
			if i == d.cursor {
				lines = append(lines, st.Table.Cursor.Render(components.Fit("▸ "+label, iw)))
			} else {
				lines = append(lines, st.Value.Render("  "+model.SafeText(label)))
			}
		}
		if len(d.shown) == 0 {
			lines = append(lines, st.Dim.Render("No region matches; region ids are lowercase letters, digits and -."))
		}
	}
	lines = append(lines, "", d.c.help(d.actions().short()...))
	return d.c.modal("Switch Region", lines, w, d.h)
}
