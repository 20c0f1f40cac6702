package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// Options configure one console session.
type Options struct {
	// Now is the clock (tests pin it); defaults to time.Now.
	Now func() time.Time
	// Renderer makes every style; in serve mode it is the SSH session's
	// renderer. Defaults to a renderer on standard output.
	Renderer *lipgloss.Renderer
	// Width and Height, when known, size the first frame before the
	// terminal reports its size.
	Width, Height int
	// Context bounds the store and SSH work of the session (serve mode
	// cancels it when the session ends); defaults to context.Background().
	Context context.Context
	// Output receives the OSC 52 clipboard sequences; defaults to the
	// renderer's output (the terminal, or the SSH session).
	Output io.Writer
}

// Minimum size the layout is designed for (SPEC §4); smaller terminals get
// the same layout, cut.
const (
	minWidth  = 80
	minHeight = 24
)

// Model is the root of the console: a small state machine that owns a
// stack of pages, the header and the footer, and the quit confirmation.
type Model struct {
	c     *common
	stack []page
	help  help.Model

	showHelp    bool
	confirmQuit bool
	quitting    bool // quit once the running rotations have finished
	// rotations counts the rotations this session started and has not
	// seen end (rotate.go). Counted in Update when a page asks for one,
	// uncounted when its end arrives, so q can never slip in between.
	rotations int
	flash     flashMsg
	// stuck is the events outbox as last read, for the header.
	stuck stuckEvents
}

// stuckEvents is what the header says about the events outbox (SPEC §9):
// how many events a receiver keeps refusing, and the oldest undelivered
// one's time. A receiver that is down loses nothing, but on-call hears
// nothing either: the console says so.
type stuckEvents struct {
	n      int
	oldest time.Time
	err    error
}

// stuckEventsMsg is a reading of the outbox; stuckTickMsg asks for the
// next one.
type (
	stuckEventsMsg struct{ stuckEvents }
	stuckTickMsg   struct{}
)

// checkEvents reads the outbox in a command: the header never waits for
// the store.
func (m *Model) checkEvents() tea.Cmd {
	svc, ctx := m.c.svc, m.c.ctx
	return func() tea.Msg {
		n, oldest, err := svc.StuckEvents(ctx)
		return stuckEventsMsg{stuckEvents{n: n, oldest: oldest, err: err}}
	}
}

// eventsTick reads the outbox again on the list's cadence.
func eventsTick() tea.Cmd {
	return tea.Tick(listRefresh, func(time.Time) tea.Msg { return stuckTickMsg{} })
}

// New returns the console model for svc; serve mode makes one per session.
func New(svc *service.Service, opts Options) tea.Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.NewRenderer(os.Stdout)
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.Output == nil {
		opts.Output = opts.Renderer.Output()
	}
	c := &common{
		svc: svc, st: newStyles(opts.Renderer), keys: newKeyMap(), now: opts.Now,
		ctx: opts.Context, out: opts.Output, width: opts.Width, height: opts.Height,
	}
	if !svc.CanMutate() {
		c.keys.readonly()
	}
	if c.width == 0 {
		c.width = minWidth
	}
	if c.height == 0 {
		c.height = minHeight
	}
	h := help.New()
	h.Styles = c.st.Help
	h.ShortSeparator = " · "
	m := &Model{c: c, help: h}
	c.rotator = m
	m.stack = []page{newSecretsPage(c)}
	m.resize(c.width, c.height)
	return m
}

func (m *Model) Init() tea.Cmd {
	return tea.Batch(address(m.stack[0].id(), m.stack[0].Init()), m.checkEvents(), eventsTick())
}

func (m *Model) top() page { return m.stack[len(m.stack)-1] }

func isDialog(p page) bool {
	_, ok := p.(dialog)
	return ok
}

func (m *Model) bodyHeight() int { return max(1, m.c.height-3) }

func (m *Model) resize(w, h int) {
	m.c.width, m.c.height = w, h
	m.help.Width = w - 2
	for _, p := range m.stack {
		p.SetSize(w, m.bodyHeight())
	}
}

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil

	case tea.KeyMsg:
		if typedBurst(msg) {
			return m, m.updateBurst(msg)
		}
		return m, m.updateKey(msg)

	case replyMsg:
		return m, m.deliver(m.page(msg.to), msg.msg)

	case secretChangedMsg, instancesChangedMsg:
		return m, m.broadcast(msg)

	case pushMsg:
		return m, m.push(msg.p)

	case popMsg:
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		return m, nil

	case replaceMsg:
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		return m, m.push(msg.p)

	case homeMsg:
		m.stack = m.stack[:1]
		if msg.p == nil {
			return m, nil
		}
		return m, m.push(msg.p)

	case regionMsg:
		m.c.svc = m.c.svc.InRegion(msg.region)
		m.stack = nil
		return m, tea.Batch(m.push(newSecretsPage(m.c)), flash(flashInfo, "Switched to region "+msg.region))

	case flashMsg:
		m.flash = msg
		return m, nil

	case rotationEventMsg:
		return m, m.rotationEvent(msg)

	case runActionMsg:
		return m, m.runAction(msg)

	case stuckEventsMsg:
		m.stuck = msg.stuckEvents
		return m, nil

	case stuckTickMsg:
		return m, tea.Batch(m.checkEvents(), eventsTick())
	}
	// Not the result of a page's command (those are replies): the top
	// page's.
	return m, m.deliver(m.top(), msg)
}

func (m *Model) push(p page) tea.Cmd {
	p.SetSize(m.c.width, m.bodyHeight())
	m.stack = append(m.stack, p)
	return address(p.id(), p.Init())
}

// page is the page with id on the stack, nil when it has gone.
func (m *Model) page(id pageID) page {
	for _, p := range m.stack {
		if p.id() == id {
			return p
		}
	}
	return nil
}

// deliver gives msg to p (none when nil); the commands p returns reply to
// p.
func (m *Model) deliver(p page, msg tea.Msg) tea.Cmd {
	if p == nil {
		return nil
	}
	return address(p.id(), p.Update(msg))
}

// broadcast gives a notification to every page.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, p := range m.stack {
		cmds = append(cmds, m.deliver(p, msg))
	}
	return tea.Batch(cmds...)
}

// updateKey handles one key: ctrl+c, the quit question or the help
// overlay while one shows, the root's own table, then the top page.
func (m *Model) updateKey(msg tea.KeyMsg) tea.Cmd {
	m.flash = flashMsg{}
	if key.Matches(msg, m.c.keys.ForceQuit) {
		return m.quit()
	}
	if m.confirmQuit || m.showHelp {
		cmd, _ := m.modalActions().handle(msg)
		return cmd
	}
	if cmd, ok := m.actions().handle(msg); ok {
		return cmd
	}
	return m.deliver(m.top(), msg)
}

// free: the top page is a screen (not a dialog) and no field takes the
// keys; the keys that leave it work.
func (m *Model) free() bool {
	top := m.top()
	return !top.Capturing() && !isDialog(top)
}

// actions is the root's table: the keys that work on every screen.
func (m *Model) actions() actions {
	k := m.c.keys
	top := m.top()
	free := m.free
	untyped := func() bool { return !top.Capturing() }
	// i, a, K and g leave the screen: not while it holds (a fleet starting
	// its next secrets).
	leave := func(run func() tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if h, ok := top.(holder); ok && h.holds() {
				return flash(flashInfo, "Wait for the rotations to finish")
			}
			return run()
		}
	}
	help := func() tea.Cmd {
		m.showHelp = true
		return nil
	}
	return actions{
		{key: k.Help, title: "Show every key of this screen", enabled: untyped, run: help, hint: true},
		{key: k.Palette, enabled: free, hint: true, run: func() tea.Cmd { return push(newPalette(m.c, top, m.actions())) }},
		{key: k.Instances, title: "Go to the instances", enabled: free, hint: true, run: leave(func() tea.Cmd {
			if _, ok := top.(*instancesPage); ok {
				return nil
			}
			return msgCmd(homeMsg{newInstancesPage(m.c)})
		})},
		{key: k.Audit, title: "Go to the audit log", enabled: free, hint: true, run: leave(func() tea.Cmd {
			if _, ok := top.(*auditPage); ok {
				return nil
			}
			return msgCmd(homeMsg{newAuditPage(m.c)})
		})},
		// Not in the header: it would push g and q out of it on most
		// widths; the ? overlay and the : palette list it.
		{key: k.AccessKeys, title: "Go to the access keys", enabled: free, run: leave(func() tea.Cmd {
			if _, ok := top.(*accessKeysPage); ok {
				return nil
			}
			return msgCmd(homeMsg{newAccessKeysPage(m.c)})
		})},
		{key: k.Region, title: "Switch the region", enabled: free, hint: true, run: leave(func() tea.Cmd { return push(newRegionsDialog(m.c)) })},
		{key: k.Quit, title: "Quit the console", enabled: free, hint: true, run: m.quit},
		{key: k.HelpF1, run: help},
		{key: k.ForceQuit, run: m.quit},
	}
}

// modalActions are the keys of the quit question or the help overlay.
func (m *Model) modalActions() actions {
	k := m.c.keys
	if m.confirmQuit {
		return actions{
			{key: k.Yes, hint: true, run: func() tea.Cmd {
				m.confirmQuit = false
				m.quitting = true
				if m.rotations == 0 {
					return tea.Quit
				}
				return nil
			}},
			{key: k.No, hint: true, run: func() tea.Cmd {
				m.confirmQuit = false
				return nil
			}},
		}
	}
	return actions{{key: orKeys(k.Close, k.Help, k.HelpF1, k.Quit), hint: true, run: func() tea.Cmd {
		m.showHelp = false
		return nil
	}}}
}

// runAction runs what the palette chose: the palette closes first, then
// the action runs on the page below, found again by its title (it must
// still apply).
func (m *Model) runAction(msg runActionMsg) tea.Cmd {
	if len(m.stack) > 1 && m.top().id() == msg.from {
		m.stack = m.stack[:len(m.stack)-1]
	}
	if msg.to == 0 {
		if a, ok := m.actions().find(msg.title); ok {
			return a.run()
		}
		return nil
	}
	p := m.page(msg.to)
	if p == nil {
		return nil
	}
	if a, ok := p.actions().find(msg.title); ok {
		return address(p.id(), a.run())
	}
	return nil
}

// typedBurst reports whether msg holds several printable keys typed in one
// burst. Bubble Tea reports the runes of one read as one KeyMsg ("/db");
// over SSH, keys typed quickly often arrive in one packet, and "/db" then
// matched no binding, so the keys were lost. A paste stays whole: it is
// text for a field.
func typedBurst(msg tea.KeyMsg) bool {
	return msg.Type == tea.KeyRunes && !msg.Paste && len(msg.Runes) > 1
}

// updateBurst handles a burst as the keys it holds, in order: one at a
// time while they are commands, and the rest as one piece of text once a
// field captures them (so a long value typed into a field stays one
// update).
func (m *Model) updateBurst(msg tea.KeyMsg) tea.Cmd {
	var cmds []tea.Cmd
	for i, r := range msg.Runes {
		one := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}
		if m.top().Capturing() {
			one.Runes = msg.Runes[i:]
		}
		cmd := m.updateKey(one)
		cmds = append(cmds, cmd)
		if len(one.Runes) > 1 {
			break
		}
	}
	return tea.Batch(cmds...)
}

// quit quits at once, or asks first while a rotation runs: it is allowed
// to finish so that the host and the store agree.
func (m *Model) quit() tea.Cmd {
	if m.rotations > 0 {
		if m.quitting {
			return nil
		}
		m.confirmQuit = true
		return nil
	}
	return tea.Quit
}

func (m *Model) View() string {
	w := m.c.width
	st := m.c.st
	bh := m.bodyHeight()
	top := m.top()

	body := top.View()
	if isDialog(top) {
		base := len(m.stack) - 1
		for base > 0 && isDialog(m.stack[base]) {
			base--
		}
		body = components.Overlay(st.Modal, m.stack[base].View(), body, w, bh)
	}
	switch {
	case m.confirmQuit:
		body = components.Overlay(st.Modal, body, m.quitView(), w, bh)
	case m.showHelp:
		body = components.Overlay(st.Modal, body, m.helpView(), w, bh)
	}

	var b strings.Builder
	b.WriteString(m.headerView(w))
	b.WriteByte('\n')
	b.WriteString(components.Lines(body, w, bh))
	b.WriteByte('\n')
	b.WriteString(components.Pad(m.statusView(), w))
	b.WriteByte('\n')
	b.WriteString(components.Pad(m.footerView(), w))
	// The screens draw text from outside through model.SafeText; the
	// frame guard makes sure nothing they missed can drive the terminal.
	return components.SafeFrame(b.String())
}

func (m *Model) headerView(w int) string {
	st := m.c.st
	a := m.c.svc.Actor()
	parts := []string{
		st.HeaderBrand.Render(" kmsconsole "),
		st.HeaderKey.Render(" region "),
		st.HeaderValue.Render(model.SafeText(m.c.svc.Region())),
		st.HeaderKey.Render("  operator "),
		st.HeaderValue.Render(model.SafeText(a.Name)),
		st.HeaderKey.Render(" (" + model.SafeText(a.Role) + ")"),
	}
	line := strings.Join(parts, "")
	line += m.eventsView(w - ansi.StringWidth(line))
	// The keys that lead to the other resources, k9s style, when they fit.
	var right string
	var globals []key.Binding
	if m.free() && !m.showHelp && !m.confirmQuit {
		globals = m.actions().short()
	}
	for _, b := range globals {
		item := st.HeaderValue.Render(b.Help().Key) + st.HeaderKey.Render(" "+b.Help().Desc+"  ")
		if ansi.StringWidth(line)+ansi.StringWidth(right)+ansi.StringWidth(item)+1 > w {
			break
		}
		right += item
	}
	gap := w - ansi.StringWidth(line) - ansi.StringWidth(right)
	if gap < 0 {
		return components.Pad(line, w)
	}
	return line + st.HeaderBar.Render(strings.Repeat(" ", gap)) + right
}

// eventsView is the header's word on the events outbox in at most room
// cells: "3 events undelivered (oldest 2h)", shorter where that does not
// fit; nothing when no event is stuck, and a short marker when the outbox
// could not be read (the rest of the console does not depend on it).
func (m *Model) eventsView(room int) string {
	st, s := m.c.st, m.stuck
	var forms []string
	switch {
	case s.err != nil:
		forms = []string{st.HeaderKey.Render("  events n/a")}
	case s.n > 0:
		noun := "events"
		if s.n == 1 {
			noun = "event"
		}
		count := st.HeaderWarn.Render(fmt.Sprintf("  %d %s undelivered", s.n, noun))
		if !s.oldest.IsZero() {
			forms = append(forms, count+st.HeaderKey.Render(" (oldest "+fmtAge(m.c.now().Sub(s.oldest))+")"))
		}
		forms = append(forms, count, st.HeaderWarn.Render(fmt.Sprintf("  %d undelivered", s.n)))
	}
	for _, f := range forms {
		if ansi.StringWidth(f) <= room {
			return f
		}
	}
	return ""
}

func (m *Model) statusView() string {
	st := m.c.st
	switch {
	case m.quitting:
		return st.FlashInfo.Render(" Quitting when the running rotation has finished…")
	case m.flash.text != "":
		style := st.FlashInfo
		switch m.flash.kind {
		case flashOK:
			style = st.FlashOK
		case flashErr:
			style = st.FlashErr
		}
		// Flash texts quote names and errors: the one place they are drawn.
		return style.Render(" " + model.SafeText(m.flash.text))
	case m.rotations > 0:
		return st.FlashInfo.Render(" A rotation is running")
	}
	return ""
}

// footerView is the hints of the top page's table (or of the quit
// question, or the help overlay), cut to the width by priority with the
// key of the ? overlay last.
func (m *Model) footerView() string {
	return " " + m.c.hintLine(m.footerHints(), m.c.width-2, m.moreHint())
}

func (m *Model) footerHints() []key.Binding {
	if m.confirmQuit || m.showHelp {
		return m.modalActions().short()
	}
	return m.top().actions().short()
}

// moreHint ends a footer cut short: the key of the ? overlay, f1 while a
// field takes ? as text.
func (m *Model) moreHint() key.Binding {
	if m.top().Capturing() {
		return withHelp(m.c.keys.HelpF1, "f1", "more")
	}
	return withHelp(m.c.keys.Help, "?", "more")
}

func (m *Model) quitView() string {
	st := m.c.st
	body := strings.Join([]string{
		"",
		st.Value.Render("A rotation is running. Quit when it has finished?"),
		st.Dim.Render("The console waits for it, so the host and the store agree."),
		"",
		m.c.help(m.modalActions().short()...),
	}, "\n")
	return components.Box(st.Modal, st.Modal.Title.Render("Quit"), indent(body, 1), 64, 7)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}
