package ui

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// common is what every screen needs, passed down at construction (no
// globals): the service, styles, keys, clock and the program's output.
// What the session as a whole keeps track of (the page stack, the running
// rotations) belongs to the root model, not here.
type common struct {
	svc    *service.Service
	st     *styles
	keys   *keyMap
	now    func() time.Time
	ctx    context.Context
	out    io.Writer // where OSC 52 (clipboard) sequences go
	width  int
	height int
	// rotator starts rotations: the root, which counts them (rotate.go).
	rotator rotator
}

func (c *common) canMutate() bool { return c.svc.CanMutate() }

func (c *common) spinner() spinner.Model {
	return spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(c.st.Spinner))
}

// plainSpinner is the spinner's current frame without its style, for
// places that take plain text (table cells).
func plainSpinner(s spinner.Model) string {
	s.Style = lipgloss.Style{}
	return s.View()
}

// page is one screen. The root owns a stack of pages: the top one gets the
// keys; the results of the commands a page starts come back to that page
// alone (replyMsg), and notifications (secretChangedMsg,
// instancesChangedMsg) go to every page.
type page interface {
	Init() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	// View renders the page body in exactly the size given by SetSize.
	View() string
	SetSize(w, h int)
	// actions is the page's key table (actions.go): its key handling,
	// footer, ? overlay and : palette.
	actions() actions
	// Capturing reports that a text field has the focus: the root then
	// leaves single-letter keys (q, ?, :, i, a, g) to the page.
	Capturing() bool
	// id addresses the page's replies.
	id() pageID
}

// pageID names one page for as long as it lives; replies to a page that is
// gone are dropped.
type pageID int64

var pageIDs atomic.Int64

// pageBase gives a page its id; every page embeds one, made by newPageBase.
type pageBase struct{ pid pageID }

func newPageBase() pageBase   { return pageBase{pid: pageID(pageIDs.Add(1))} }
func (b pageBase) id() pageID { return b.pid }

// holder is a page that must stay on screen while it works (a fleet
// rotation starting its next secrets): i, a and g do not leave it.
type holder interface{ holds() bool }

// dialog is a page drawn over the page below it.
type dialog interface {
	page
	dialog()
}

// Messages for the root: navigation, notifications and requests. Every
// other message a page's command returns is a reply to that page.
type (
	pushMsg struct{ p page }
	popMsg  struct{}
	// replaceMsg pops the top page and pushes p in its place.
	replaceMsg struct{ p page }
	// homeMsg drops every page above the secrets list, then pushes p (if
	// any): i and a jump between resources k9s style instead of stacking.
	homeMsg   struct{ p page }
	regionMsg struct{ region string }
	flashMsg  struct {
		text string
		kind flashKind
	}
	// secretChangedMsg tells every page that a secret changed (created,
	// rotated, deleted, restored): lists and details reload.
	secretChangedMsg    struct{ name string }
	instancesChangedMsg struct{}
	// replyMsg is msg for the page to alone; the root drops it when that
	// page is gone.
	replyMsg struct {
		to  pageID
		msg tea.Msg
	}
)

// rootMsg marks the messages the root handles itself; address leaves them
// as they are.
type rootMsg interface{ forRoot() }

func (pushMsg) forRoot()             {}
func (popMsg) forRoot()              {}
func (replaceMsg) forRoot()          {}
func (homeMsg) forRoot()             {}
func (regionMsg) forRoot()           {}
func (flashMsg) forRoot()            {}
func (secretChangedMsg) forRoot()    {}
func (instancesChangedMsg) forRoot() {}
func (replyMsg) forRoot()            {}

// address makes the messages of cmd, a command page to started, replies to
// that page: the one addressing convention of the console. The root
// applies it to every command a page returns, so a page never checks
// whether a result is its own, and a result for a page that has gone (a
// closed dialog, a region switched away from) reaches no one. Batches and
// sequences are addressed command by command; the root's own messages
// (rootMsg) and Bubble Tea's stay as they are.
func address(to pageID, cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg { return addressed(to, cmd()) }
}

var (
	cmdsType = reflect.TypeOf([]tea.Cmd(nil))
	teaPkg   = cmdsType.Elem().PkgPath()
)

// cmdsOf unpacks tea.Sequence's message: its type is unexported, a
// []tea.Cmd underneath.
func cmdsOf(msg tea.Msg) ([]tea.Cmd, bool) {
	t := reflect.TypeOf(msg)
	if t.PkgPath() != teaPkg || !t.ConvertibleTo(cmdsType) {
		return nil, false
	}
	return reflect.ValueOf(msg).Convert(cmdsType).Interface().([]tea.Cmd), true
}

func addressed(to pageID, msg tea.Msg) tea.Msg {
	switch m := msg.(type) {
	case nil:
		return nil
	case rootMsg:
		return m
	case tea.BatchMsg:
		out := make(tea.BatchMsg, len(m))
		for i, c := range m {
			out[i] = address(to, c)
		}
		return out
	}
	if cmds, ok := cmdsOf(msg); ok {
		wrapped := make([]tea.Cmd, len(cmds))
		for i, c := range cmds {
			wrapped[i] = address(to, c)
		}
		if seq := tea.Sequence(wrapped...); seq != nil {
			return seq()
		}
		return nil
	}
	if reflect.TypeOf(msg).PkgPath() == teaPkg {
		return msg // tea.QuitMsg and the like
	}
	return replyMsg{to: to, msg: msg}
}

type flashKind int

const (
	flashInfo flashKind = iota
	flashOK
	flashErr
)

func msgCmd(m tea.Msg) tea.Cmd { return func() tea.Msg { return m } }

func push(p page) tea.Cmd { return msgCmd(pushMsg{p}) }
func pop() tea.Cmd        { return msgCmd(popMsg{}) }

func flash(kind flashKind, format string) tea.Cmd {
	return msgCmd(flashMsg{text: format, kind: kind})
}

// apiError returns err as the API error the CLI would print.
func apiError(err error) *model.APIError { return model.AsAPIError(err) }

// Text from outside. Every string the console did not write itself —
// secret names, descriptions, VersionIds, stage labels, ExtendedConfig,
// instance names, hosts and users, audit fields, revealed values, and error
// messages (which quote host output) — is drawn through model.SafeText (or
// SafeLines where line breaks are wanted), the one sanitiser: control
// characters show as ␛, ␇, <U+202E>… and never reach the terminal. The
// shared helpers do it, so a screen cannot forget: table cells and
// components.Fit, wrap and components.Wrap, errLine(s), fieldError, the
// flash line and the header. Strings concatenated into a view by hand are
// wrapped in model.SafeText where they are built. Last, the root model
// passes each whole frame through components.SafeFrame.

// errLine renders an error on one line as people read it: the sentence
// (humanError) in the error style, then the API code dimmed.
func (c *common) errLine(err error) string {
	sentence, code := humanError(err)
	line := c.st.Err.Render(model.SafeText(sentence))
	if code != "" {
		line += c.st.Dim.Render(codeSep + model.SafeText(code))
	}
	return line
}

// codeSep comes before the dimmed code: without colour (NO_COLOR) it
// still tells the code from the sentence.
const codeSep = " · "

// errLines is errLine wrapped to w cells: the sentence (wrap makes the
// control characters of a quoted host output visible), then the code
// dimmed, on the last line when it fits there, else on a line of its own.
func (c *common) errLines(err error, w int) []string {
	sentence, code := humanError(err)
	code = model.SafeText(code)
	text := wrap(sentence, w)
	out := make([]string, len(text))
	for i, l := range text {
		out[i] = c.st.Err.Render(l)
	}
	if code == "" {
		return out
	}
	last := text[len(text)-1]
	if w <= 0 || ansi.StringWidth(last+codeSep+code) <= w {
		out[len(out)-1] += c.st.Dim.Render(codeSep + code)
		return out
	}
	return append(out, c.st.Dim.Render(code))
}

// fieldError is the short form of a validation error under its field: the
// field names the parameter already.
func fieldError(err error) string {
	var ae *model.APIError
	if !errors.As(err, &ae) {
		return model.SafeText(err.Error())
	}
	msg := ae.Message
	if i := strings.Index(msg, " is invalid: "); i >= 0 && strings.HasPrefix(msg, "The parameter ") {
		msg = msg[i+len(" is invalid: "):]
	}
	if ae.Code == model.CodeMissingParameter {
		msg = "required"
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return model.SafeText(msg)
}

// fmtTime renders a time for people: UTC, minutes, or "—".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

// fmtAPITime renders an API time string (ISO-8601) for people.
func fmtAPITime(s string) string {
	t, err := model.ParseTime(s)
	if err != nil {
		return model.SafeText(s)
	}
	return fmtTime(t)
}

// rotationText is the automatic rotation column: state and policy, the
// period ("Enabled · 7d") or the schedule ("Enabled · cron(0 2 ? * SUN *)").
func rotationText(s *model.Secret) string {
	policy := rotationPolicyText(s)
	switch {
	case s.Type != model.ECS:
		return "—"
	case s.AutomaticRotation == model.RotationEnabled:
		return "Enabled · " + policy
	case s.AutomaticRotation == model.RotationInvalid:
		if policy != "" {
			return "Invalid · " + policy
		}
		return "Invalid"
	}
	return "Disabled"
}

// rotationPolicyText is a secret's rotation policy in short: its schedule
// when it has one, else its period; "" when it has neither.
func rotationPolicyText(s *model.Secret) string {
	switch {
	case s.RotationSchedule != "":
		return s.RotationSchedule
	case s.RotationInterval > 0:
		return model.HumanInterval(s.RotationInterval)
	}
	return ""
}

// nextRotation is when the secret rotates next by itself, as
// DescribeSecret's NextRotationDate says it: for a schedule, the secret's
// own start in the next window; for a period, the last rotation plus the
// period. Zero when it does not rotate by itself.
func nextRotation(s *model.Secret, now time.Time) time.Time {
	if s.Type != model.ECS || s.AutomaticRotation == model.RotationDisabled {
		return time.Time{}
	}
	if s.RotationSchedule != "" {
		plan, ok := s.NextScheduled(now)
		if !ok {
			return time.Time{}
		}
		return plan.Start
	}
	return s.NextRotationDate
}

// fmtWindow renders a rotation window for people, in UTC: "2026-05-24
// 02:00 – 05:00" within one day, "2026-05-24 00:00 – 24:00" for a whole
// day, both dates when it spans midnight.
func fmtWindow(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "—"
	}
	s, e := start.UTC(), end.UTC()
	sy, sm, sd := s.Date()
	ey, em, ed := e.Date()
	switch {
	case sy == ey && sm == em && sd == ed:
		return fmtTime(s) + " – " + e.Format("15:04")
	case e.Equal(time.Date(sy, sm, sd+1, 0, 0, 0, 0, time.UTC)):
		return fmtTime(s) + " – 24:00"
	}
	return fmtTime(s) + " – " + fmtTime(e)
}

// fmtAge is how long ago something happened, in one unit: <1m, 42m, 5h,
// 3d.
func fmtAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// ecsInfo reads an ECS secret's ExtendedConfig; ok is false for others.
func ecsInfo(s *model.Secret) (model.ECSConfig, bool) {
	if s.Type != model.ECS {
		return model.ECSConfig{}, false
	}
	cfg, err := model.ParseECSConfig(s.ExtendedConfig)
	return cfg, err == nil
}

// instanceLabel names an instance wherever the console shows one: its
// id, its name when it has one, and its address, "i-web1 · web-1 ·
// 127.0.0.1:2222" or "i-web1 · 127.0.0.1:2222". It is plain text from
// outside: callers draw it through model.SafeText, as they do any name.
func instanceLabel(id, name, host string, port int) string {
	parts := []string{id}
	if name != "" {
		parts = append(parts, name)
	}
	if host != "" {
		parts = append(parts, hostPort(host, port))
	}
	return strings.Join(parts, " · ")
}

// hostPort is an instance's address as ssh takes it ([::1]:22 for IPv6).
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func subTypeLabel(sub string) string {
	if sub == model.SubTypeSSHKey {
		return "Key pair"
	}
	return "Password"
}

// wrap wraps plain text to w cells at spaces. Line breaks stay; every
// other control character is made visible first (model.SafeLines), so
// wrapped text from outside (descriptions, failure reasons, host output,
// revealed values) cannot drive the terminal.
func wrap(s string, w int) []string {
	s = model.SafeLines(s)
	if w <= 0 {
		return []string{s}
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		out = append(out, wrapLine(para, w)...)
	}
	return out
}

func wrapLine(s string, w int) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for len([]rune(s)) > w {
		r := []rune(s)
		cut := w
		for i := w; i > w/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		s = strings.TrimLeft(string(r[cut:]), " ")
	}
	return append(out, s)
}

// modal draws a dialog box of width w around lines, at most maxH high:
// when the body area is short (80×24) blank lines go first, then the
// bottom lines (the footer repeats the keys).
func (c *common) modal(title string, lines []string, w, maxH int) string {
	if maxH > 2 && len(lines)+2 > maxH {
		kept := make([]string, 0, len(lines))
		excess := len(lines) + 2 - maxH
		for i, l := range lines {
			if excess > 0 && strings.TrimSpace(l) == "" && i > 0 {
				excess--
				continue
			}
			kept = append(kept, l)
		}
		lines = kept
		if len(lines)+2 > maxH {
			lines = lines[:maxH-2]
		}
	}
	return components.Box(c.st.Modal, c.st.Modal.Title.Render(title), indent(strings.Join(lines, "\n"), 1), w, len(lines)+2)
}
