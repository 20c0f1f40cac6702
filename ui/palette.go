package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/ui/components"
)

// palette is the : command palette: the actions of the screen below it
// that apply now, then the ones that work everywhere, each by its sentence
// and its key, filtered as you type. enter runs the chosen one on that
// screen exactly as its key would (the root closes the palette first), so
// an operator finds an action without knowing its letter.
type palette struct {
	pageBase
	c       *common
	entries []paletteEntry
	shown   []int // indexes into entries that pass the filter
	cursor  int
	input   textinput.Model
	w, h    int
}

type paletteEntry struct {
	to    pageID // the page that runs it; 0 for the root
	title string
	key   key.Binding
	lower string // title and key, lowercased, for the filter
}

// runActionMsg asks the root to close the palette from and run the action
// titled title of page to (0: the root's own).
type runActionMsg struct {
	from, to pageID
	title    string
}

func (runActionMsg) forRoot() {}

func newPalette(c *common, below page, globals actions) *palette {
	p := &palette{pageBase: newPageBase(), c: c}
	add := func(to pageID, as actions) {
		for _, a := range as.offered() {
			h := a.key.Help()
			p.entries = append(p.entries, paletteEntry{to: to, title: a.title, key: a.key,
				lower: strings.ToLower(a.title + " " + h.Key + " " + h.Desc)})
		}
	}
	add(below.id(), below.actions())
	add(0, globals)
	p.input = c.st.input("type to filter the actions")
	p.input.Prompt = ": "
	p.input.PromptStyle = c.st.Form.Marker
	p.refilter()
	return p
}

func (p *palette) dialog()          {}
func (p *palette) Init() tea.Cmd    { return p.input.Focus() }
func (p *palette) SetSize(w, h int) { p.w, p.h = w, h }
func (p *palette) Capturing() bool  { return true }

// refilter keeps the entries that hold every word typed.
func (p *palette) refilter() {
	words := strings.Fields(strings.ToLower(p.input.Value()))
	p.shown = p.shown[:0]
	for i, e := range p.entries {
		ok := true
		for _, w := range words {
			if !strings.Contains(e.lower, w) {
				ok = false
				break
			}
		}
		if ok {
			p.shown = append(p.shown, i)
		}
	}
	p.cursor = min(p.cursor, max(0, len(p.shown)-1))
}

func (p *palette) actions() actions {
	k := p.c.keys
	return actions{
		{key: withHelp(k.Confirm, "enter", "run"), hint: true, enabled: func() bool { return len(p.shown) > 0 }, run: func() tea.Cmd {
			e := p.entries[p.shown[p.cursor]]
			return msgCmd(runActionMsg{from: p.id(), to: e.to, title: e.title})
		}},
		{key: orKeys(k.ArrowUp, k.PrevField), hint: true, nav: true, run: func() tea.Cmd {
			p.cursor = max(0, p.cursor-1)
			return nil
		}},
		{key: orKeys(k.ArrowDown, k.NextField), hint: true, nav: true, run: func() tea.Cmd {
			p.cursor = min(max(0, len(p.shown)-1), p.cursor+1)
			return nil
		}},
		{key: onlyKeys(k.Close, "esc"), hint: true, run: pop},
	}
}

func (p *palette) Update(msg tea.Msg) tea.Cmd {
	msg2, ok := msg.(tea.KeyMsg)
	if !ok {
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return cmd
	}
	if cmd, ok := p.actions().handle(msg2); ok {
		return cmd
	}
	before := p.input.Value()
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg2)
	if p.input.Value() != before {
		p.refilter()
	}
	return cmd
}

func (p *palette) View() string {
	st := p.c.st
	w := min(72, p.w-4)
	iw := w - 4
	p.input.Width = iw - 4
	lines := []string{"", p.input.View(), ""}
	room := max(3, p.h-9)
	first := max(0, min(p.cursor-room/2, len(p.shown)-room))
	for n, i := range p.shown {
		if n < first || n >= first+room {
			continue
		}
		e := p.entries[i]
		keys := e.key.Help().Key
		title := components.Fit(e.title, max(10, iw-4-ansi.StringWidth(keys)))
		gap := max(1, iw-2-ansi.StringWidth(title)-ansi.StringWidth(keys))
		if n == p.cursor {
			lines = append(lines, st.Table.Cursor.Render(components.Fit("▸ "+title+strings.Repeat(" ", gap)+keys, iw)))
			continue
		}
		lines = append(lines, "  "+st.Value.Render(title)+strings.Repeat(" ", gap)+st.Help.ShortKey.Render(keys))
	}
	if len(p.shown) == 0 {
		lines = append(lines, st.Dim.Render("No action matches."))
	}
	lines = append(lines, "", p.c.help(p.actions().short()...))
	return p.c.modal("Actions", lines, w, p.h)
}
