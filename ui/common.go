package ui

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// common is what every screen needs, passed down at construction (no
// globals): the service, styles, keys, clock and the program's output.
type common struct {
	svc    *service.Service
	st     *styles
	keys   *keyMap
	now    func() time.Time
	ctx    context.Context
	out    io.Writer // where OSC 52 (clipboard) sequences go
	width  int
	height int
	// rotations counts the rotations this session started and has not
	// seen end. It is only touched on the program's goroutine: counted
	// when a screen starts one (in Update), uncounted by the root when
	// its end arrives, so q can never slip in between.
	rotations int
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
// keys; every page gets the other messages (each ignores what is not its
// own), so a result arriving for a page below the top is not lost.
type page interface {
	Init() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	// View renders the page body in exactly the size given by SetSize.
	View() string
	SetSize(w, h int)
	help.KeyMap
	// Capturing reports that a text field has the focus: the root then
	// leaves single-letter keys (q, ?, i, a, g) to the page.
	Capturing() bool
}

// holder is a page that must stay on screen while it works (a fleet
// rotation starting its next secrets): i, a and g do not leave it.
type holder interface{ holds() bool }

// dialog is a page drawn over the page below it.
type dialog interface {
	page
	dialog()
}

// Navigation and notification messages, handled by the root.
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
)

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

// errLine renders an API error as the CLI shows it: Code, then message.
func (c *common) errLine(err error) string {
	ae := apiError(err)
	return c.st.Code.Render(model.SafeText(ae.Code)) + c.st.Err.Render(": "+model.SafeText(ae.Message))
}

// errLines wraps an API error to w cells, the code styled. The message
// may quote a host's output: wrap makes its control characters visible.
func (c *common) errLines(err error, w int) []string {
	ae := apiError(err)
	code := model.SafeText(ae.Code)
	text := code + ": " + ae.Message
	var out []string
	for i, l := range wrap(text, w) {
		if i == 0 && strings.HasPrefix(l, code) {
			out = append(out, c.st.Code.Render(code)+c.st.Err.Render(l[len(code):]))
			continue
		}
		out = append(out, c.st.Err.Render(l))
	}
	return out
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

// rotationText is the automatic rotation column: state and period.
func rotationText(s *model.Secret) string {
	switch {
	case s.Type != model.ECS:
		return "—"
	case s.AutomaticRotation == model.RotationEnabled:
		return "Enabled · " + model.HumanInterval(s.RotationInterval)
	case s.AutomaticRotation == model.RotationInvalid:
		if s.RotationInterval > 0 {
			return "Invalid · " + model.HumanInterval(s.RotationInterval)
		}
		return "Invalid"
	}
	return "Disabled"
}

// ecsInfo reads an ECS secret's ExtendedConfig; ok is false for others.
func ecsInfo(s *model.Secret) (model.ECSConfig, bool) {
	if s.Type != model.ECS {
		return model.ECSConfig{}, false
	}
	cfg, err := model.ParseECSConfig(s.ExtendedConfig)
	return cfg, err == nil
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
