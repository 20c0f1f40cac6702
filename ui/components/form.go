package components

import (
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
)

// FormStyles style form fields.
type FormStyles struct {
	Label        lipgloss.Style
	FocusedLabel lipgloss.Style
	Marker       lipgloss.Style
	Value        lipgloss.Style
	Choice       lipgloss.Style
	ChosenChoice lipgloss.Style
	Error        lipgloss.Style
	Hint         lipgloss.Style
	Placeholder  lipgloss.Style
	Cursor       lipgloss.Style
	Prompt       lipgloss.Style
}

// Item is one field of a Form.
type Item interface {
	Focus() tea.Cmd
	Blur()
	// Update handles a message while the field has the focus.
	Update(msg tea.Msg) tea.Cmd
	// View renders the field's value area (w cells wide), one or more lines.
	View(st FormStyles, focused bool, w int, errText func(error) string) []string
	Title() string
	Hidden() bool
}

// Form is a column of labelled fields with one focus; tab and shift+tab
// (handled by the page, whose keys live in keys.go) move it.
type Form struct {
	Styles     FormStyles
	Items      []Item
	LabelWidth int
	// ErrText formats a field error (defaults to err.Error()).
	ErrText func(error) string
	focus   int
}

// Focused returns the focused field.
func (f *Form) Focused() Item {
	if f.focus < 0 || f.focus >= len(f.Items) {
		return nil
	}
	return f.Items[f.focus]
}

// FocusItem moves the focus to it.
func (f *Form) FocusItem(it Item) tea.Cmd {
	for i, x := range f.Items {
		if x == it {
			if cur := f.Focused(); cur != nil {
				cur.Blur()
			}
			f.focus = i
			return it.Focus()
		}
	}
	return nil
}

// FocusFirst focuses the first visible field.
func (f *Form) FocusFirst() tea.Cmd {
	for _, it := range f.Items {
		if !it.Hidden() {
			return f.FocusItem(it)
		}
	}
	return nil
}

// Next moves the focus to the next visible field (wrapping); false when it
// wrapped around.
func (f *Form) Next() tea.Cmd { return f.step(1) }

// Prev moves the focus to the previous visible field (wrapping).
func (f *Form) Prev() tea.Cmd { return f.step(-1) }

func (f *Form) step(d int) tea.Cmd {
	n := len(f.Items)
	for i := 1; i <= n; i++ {
		j := ((f.focus+d*i)%n + n) % n
		if !f.Items[j].Hidden() {
			return f.FocusItem(f.Items[j])
		}
	}
	return nil
}

// AtLast reports whether the focus is on the last visible field.
func (f *Form) AtLast() bool {
	for j := len(f.Items) - 1; j >= 0; j-- {
		if !f.Items[j].Hidden() {
			return j == f.focus
		}
	}
	return true
}

// Update forwards a message to the focused field.
func (f *Form) Update(msg tea.Msg) tea.Cmd {
	if it := f.Focused(); it != nil && !it.Hidden() {
		return it.Update(msg)
	}
	return nil
}

// View renders the visible fields, w cells wide.
func (f *Form) View(w int) string {
	errText := f.ErrText
	if errText == nil {
		errText = func(err error) string { return err.Error() }
	}
	lw := f.LabelWidth
	var lines []string
	for i, it := range f.Items {
		if it.Hidden() {
			continue
		}
		focused := i == f.focus
		marker := "  "
		label := f.Styles.Label.Render(fit(it.Title(), lw))
		if focused {
			marker = f.Styles.Marker.Render("› ")
			label = f.Styles.FocusedLabel.Render(fit(it.Title(), lw))
		}
		vw := max(4, w-lw-3)
		body := it.View(f.Styles, focused, vw, errText)
		for j, l := range body {
			if j == 0 {
				lines = append(lines, marker+label+" "+l)
			} else {
				lines = append(lines, strings.Repeat(" ", lw+3)+l)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// TextField is a labelled text input validated as typed.
type TextField struct {
	Name     string
	Input    textinput.Model
	Validate func(string) error
	// Note is shown under the field while it is valid (e.g. the derived
	// public key, the next rotation date).
	Note func(string) string
	Hint string // shown under the focused field when there is no error
	Err  error
	// Touched says the operator edited the field (or tried to go on):
	// errors show from then on.
	Touched bool
	Hide    bool
	// Width fixes the input's width (0: the whole line); Suffix follows
	// the input on its line (a unit).
	Width  int
	Suffix string
}

// NewTextField wraps in (whose styles the caller set).
func NewTextField(name string, in textinput.Model, validate func(string) error) *TextField {
	return &TextField{Name: name, Input: in, Validate: validate}
}

func (t *TextField) Title() string  { return t.Name }
func (t *TextField) Hidden() bool   { return t.Hide }
func (t *TextField) Focus() tea.Cmd { return t.Input.Focus() }
func (t *TextField) Blur()          { t.Input.Blur() }

// Value is the text typed.
func (t *TextField) Value() string { return t.Input.Value() }

// SetValue replaces the text and validates it.
func (t *TextField) SetValue(v string) {
	t.Input.SetValue(v)
	t.Input.CursorEnd()
	t.check()
}

// Check validates and marks the field touched; it returns the error.
func (t *TextField) Check() error {
	t.Touched = true
	t.check()
	return t.Err
}

func (t *TextField) check() {
	t.Err = nil
	if t.Validate != nil {
		t.Err = t.Validate(t.Input.Value())
	}
}

func (t *TextField) Update(msg tea.Msg) tea.Cmd {
	before := t.Input.Value()
	var cmd tea.Cmd
	t.Input, cmd = t.Input.Update(msg)
	if t.Input.Value() != before {
		t.Touched = true
		t.check()
	}
	return cmd
}

func (t *TextField) View(st FormStyles, focused bool, w int, errText func(error) string) []string {
	t.Input.Width = max(1, w-1)
	line := t.Input.View()
	if t.Width > 0 {
		t.Input.Width = t.Width
		line = Pad(t.Input.View(), t.Width+1) + st.Hint.Render(t.Suffix)
	}
	out := []string{line}
	switch {
	case t.Err != nil && t.Touched:
		for _, l := range Wrap("✗ "+errText(t.Err), w) {
			out = append(out, st.Error.Render(l))
		}
	case t.Note != nil && t.Err == nil:
		if n := t.Note(t.Input.Value()); n != "" {
			for _, l := range Wrap(n, w) {
				out = append(out, st.Hint.Render(l))
			}
		}
	}
	if focused && t.Hint != "" && (t.Err == nil || !t.Touched) {
		for _, l := range Wrap(t.Hint, w) {
			out = append(out, st.Hint.Render(l))
		}
	}
	return out
}

// Choice picks one of a few options with ←/→ (or space).
type Choice struct {
	Name     string
	Options  []string
	Selected int
	// Picker renders one option at a time with ‹ › and a position, for
	// lists that would not fit on a line (instances).
	Picker bool
	Hint   string
	Err    error
	Hide   bool
	// Keys that move the choice; set by the caller from its key map.
	PrevKeys, NextKeys func(tea.KeyMsg) bool
}

func (c *Choice) Title() string  { return c.Name }
func (c *Choice) Hidden() bool   { return c.Hide }
func (c *Choice) Focus() tea.Cmd { return nil }
func (c *Choice) Blur()          {}

// Value is the selected option ("" when there are none).
func (c *Choice) Value() string {
	if c.Selected < 0 || c.Selected >= len(c.Options) {
		return ""
	}
	return c.Options[c.Selected]
}

func (c *Choice) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok || len(c.Options) == 0 {
		return nil
	}
	switch {
	case c.PrevKeys != nil && c.PrevKeys(k):
		c.Selected = (c.Selected - 1 + len(c.Options)) % len(c.Options)
	case c.NextKeys != nil && c.NextKeys(k):
		c.Selected = (c.Selected + 1) % len(c.Options)
	}
	return nil
}

func (c *Choice) View(st FormStyles, focused bool, w int, errText func(error) string) []string {
	var line string
	switch {
	case len(c.Options) == 0:
		line = st.Placeholder.Render("(none)")
	case c.Picker:
		pos := "  " + st.Hint.Render(itoa(c.Selected+1)+"/"+itoa(len(c.Options)))
		room := max(1, w-ansi.StringWidth(pos)-4)
		opt := model.SafeText(c.Options[c.Selected])
		if ansi.StringWidth(opt) > room {
			opt = fit(opt, room)
		}
		if focused {
			line = st.Marker.Render("‹ ") + st.ChosenChoice.Render(opt) + st.Marker.Render(" ›") + pos
		} else {
			line = "  " + st.Value.Render(opt) + "  " + pos
		}
	default:
		var parts []string
		for i, o := range c.Options {
			o = model.SafeText(o) // options name things from outside (instances, versions)
			if i == c.Selected {
				parts = append(parts, st.ChosenChoice.Render("(•) "+o))
			} else {
				parts = append(parts, st.Choice.Render("( ) "+o))
			}
		}
		line = strings.Join(parts, "   ")
	}
	out := []string{line}
	if c.Err != nil {
		for _, l := range Wrap("✗ "+errText(c.Err), w) {
			out = append(out, st.Error.Render(l))
		}
	} else if focused && c.Hint != "" {
		for _, l := range Wrap(c.Hint, w) {
			out = append(out, st.Hint.Render(l))
		}
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
