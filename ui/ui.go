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
	quitting    bool           // quit once the running rotations have finished
	detached    map[int64]bool // rotations whose dialog was closed
	flash       flashMsg
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
	m := &Model{c: c, help: h, detached: map[int64]bool{}}
	m.stack = []page{newSecretsPage(c)}
	m.resize(c.width, c.height)
	return m
}

func (m *Model) Init() tea.Cmd { return m.stack[0].Init() }

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

	case pushMsg:
		msg.p.SetSize(m.c.width, m.bodyHeight())
		m.stack = append(m.stack, msg.p)
		return m, msg.p.Init()

	case popMsg:
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		return m, nil

	case replaceMsg:
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		msg.p.SetSize(m.c.width, m.bodyHeight())
		m.stack = append(m.stack, msg.p)
		return m, msg.p.Init()

	case homeMsg:
		m.stack = m.stack[:1]
		if msg.p == nil {
			return m, nil
		}
		msg.p.SetSize(m.c.width, m.bodyHeight())
		m.stack = append(m.stack, msg.p)
		return m, msg.p.Init()

	case regionMsg:
		m.c.svc = m.c.svc.InRegion(msg.region)
		m.stack = []page{newSecretsPage(m.c)}
		m.resize(m.c.width, m.c.height)
		return m, tea.Batch(m.stack[0].Init(), flash(flashInfo, "Switched to region "+msg.region))

	case flashMsg:
		m.flash = msg
		return m, nil

	case rotationStartedMsg:
		return m, tea.Batch(m.broadcast(msg), waitRotation(msg.ch))

	case rotationStepMsg:
		return m, tea.Batch(m.broadcast(msg), waitRotation(msg.ch))

	case rotationDoneMsg:
		m.c.rotations--
		if m.quitting && m.c.rotations <= 0 {
			return m, tea.Quit
		}
		var note tea.Cmd
		if m.detached[msg.id] {
			// Nobody watches this one any more: say how it ended.
			delete(m.detached, msg.id)
			note = flash(flashOK, fmt.Sprintf("Rotated %s: new version %s", msg.name, versionOf(msg.resp)))
			if msg.err != nil {
				note = flash(flashErr, fmt.Sprintf("Rotation of %s failed: %s", msg.name, apiError(msg.err).Code))
			}
		}
		return m, tea.Batch(m.broadcast(msg), msgCmd(secretChangedMsg{name: msg.name}), note)

	case rotationDetachedMsg:
		m.detached[msg.id] = true
		return m, nil
	}
	return m, m.broadcast(msg)
}

// updateKey handles one key: the root's own bindings, then the top page.
func (m *Model) updateKey(msg tea.KeyMsg) tea.Cmd {
	k := m.c.keys
	m.flash = flashMsg{}
	if key.Matches(msg, k.ForceQuit) {
		return m.quit()
	}
	if m.confirmQuit {
		switch {
		case key.Matches(msg, k.Yes):
			m.confirmQuit = false
			m.quitting = true
			if m.c.rotations == 0 {
				return tea.Quit
			}
		case key.Matches(msg, k.No):
			m.confirmQuit = false
		}
		return nil
	}
	if m.showHelp {
		if key.Matches(msg, k.Back, k.Help, k.Quit, k.Close) {
			m.showHelp = false
		}
		return nil
	}
	top := m.top()
	if !top.Capturing() && !isDialog(top) {
		if h, ok := top.(holder); ok && h.holds() && key.Matches(msg, k.Instances, k.Audit, k.Region) {
			return flash(flashInfo, "Wait for the rotations to finish")
		}
		switch {
		case key.Matches(msg, k.Quit):
			return m.quit()
		case key.Matches(msg, k.Help):
			m.showHelp = true
			return nil
		case key.Matches(msg, k.Instances):
			if _, ok := top.(*instancesPage); !ok {
				return msgCmd(homeMsg{newInstancesPage(m.c)})
			}
			return nil
		case key.Matches(msg, k.Audit):
			if _, ok := top.(*auditPage); !ok {
				return msgCmd(homeMsg{newAuditPage(m.c)})
			}
			return nil
		case key.Matches(msg, k.Region):
			return push(newRegionsDialog(m.c))
		}
	}
	return top.Update(msg)
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

// broadcast gives msg to every page; each ignores what is not its own.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, p := range m.stack {
		cmds = append(cmds, p.Update(msg))
	}
	return tea.Batch(cmds...)
}

func versionOf(r *service.RotateSecretResponse) string {
	if r == nil {
		return ""
	}
	return r.VersionId
}

// quit quits at once, or asks first while a rotation runs: it is allowed
// to finish so that the host and the store agree.
func (m *Model) quit() tea.Cmd {
	if m.c.rotations > 0 {
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
	// The keys that lead to the other resources, k9s style, when they fit.
	var right string
	globals := m.c.keys.global()
	if top := m.top(); top.Capturing() || isDialog(top) || m.showHelp || m.confirmQuit {
		globals = nil
	}
	for _, b := range globals {
		if !b.Enabled() {
			continue
		}
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
	case m.c.rotations > 0:
		return st.FlashInfo.Render(" A rotation is running")
	}
	return ""
}

func (m *Model) footerView() string {
	var bindings []key.Binding
	switch {
	case m.confirmQuit:
		bindings = []key.Binding{m.c.keys.Yes, m.c.keys.No}
	case m.showHelp:
		bindings = []key.Binding{m.c.keys.Close}
	default:
		top := m.top()
		bindings = top.ShortHelp()
	}
	return " " + m.help.ShortHelpView(bindings)
}

func (m *Model) quitView() string {
	st := m.c.st
	body := strings.Join([]string{
		"",
		st.Value.Render("A rotation is running. Quit when it has finished?"),
		st.Dim.Render("The console waits for it, so the host and the store agree."),
		"",
		m.help.ShortHelpView([]key.Binding{m.c.keys.Yes, m.c.keys.No}),
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
