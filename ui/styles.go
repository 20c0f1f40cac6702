package ui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"kmsconsole/ui/components"
)

// styles is the only place colours and borders are defined. Every style is
// made by the session's renderer: over SSH the default renderer describes
// the server's terminal, not the operator's.
type styles struct {
	r       *lipgloss.Renderer
	noColor bool

	HeaderBar   lipgloss.Style
	HeaderBrand lipgloss.Style
	HeaderKey   lipgloss.Style
	HeaderValue lipgloss.Style
	HeaderWarn  lipgloss.Style // events stuck in the outbox

	Title   lipgloss.Style // box titles
	Count   lipgloss.Style // counts and filters beside titles
	Label   lipgloss.Style // field names in detail views
	Value   lipgloss.Style
	Dim     lipgloss.Style
	Bold    lipgloss.Style
	Secret  lipgloss.Style // a revealed value
	Section lipgloss.Style // headings inside a screen

	OK   lipgloss.Style // green: success, reachable
	Warn lipgloss.Style // yellow: pending deletion, warnings
	Err  lipgloss.Style // red: failures
	Code lipgloss.Style // an API error code

	FlashInfo lipgloss.Style
	FlashOK   lipgloss.Style
	FlashErr  lipgloss.Style

	Spinner lipgloss.Style
	Help    help.Styles

	Table components.TableStyles
	Box   components.BoxStyles
	Modal components.BoxStyles
	Form  components.FormStyles
	Bar   components.BarStyles
}

// Palette: adaptive so that light terminals stay readable.
var (
	colAccent = lipgloss.AdaptiveColor{Light: "#1f5fbf", Dark: "#7aa2f7"}
	colCyan   = lipgloss.AdaptiveColor{Light: "#00758f", Dark: "#7dcfff"}
	colMuted  = lipgloss.AdaptiveColor{Light: "#7a7f94", Dark: "#6b7089"}
	colFaint  = lipgloss.AdaptiveColor{Light: "#b4b8c8", Dark: "#3b4261"}
	colText   = lipgloss.AdaptiveColor{Light: "#24283b", Dark: "#c0caf5"}
	colBright = lipgloss.AdaptiveColor{Light: "#000000", Dark: "#ffffff"}
	colGreen  = lipgloss.AdaptiveColor{Light: "#2e7d32", Dark: "#9ece6a"}
	colYellow = lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#e0af68"}
	colRed    = lipgloss.AdaptiveColor{Light: "#c62828", Dark: "#f7768e"}
	// Backgrounds name their 256- and 16-colour forms: the automatic
	// conversion of dark blues gives a loud navy on 256-colour terminals.
	colBarBg = lipgloss.CompleteAdaptiveColor{
		Light: lipgloss.CompleteColor{TrueColor: "#dfe3f0", ANSI256: "254", ANSI: "7"},
		Dark:  lipgloss.CompleteColor{TrueColor: "#1f2335", ANSI256: "235", ANSI: "0"},
	}
	colCursor = lipgloss.CompleteAdaptiveColor{
		Light: lipgloss.CompleteColor{TrueColor: "#c8d3f5", ANSI256: "153", ANSI: "7"},
		Dark:  lipgloss.CompleteColor{TrueColor: "#2e3c64", ANSI256: "238", ANSI: "8"},
	}
	colMagenta = lipgloss.AdaptiveColor{Light: "#8839ef", Dark: "#bb9af7"}
)

// newStyles builds the styles on r. With NO_COLOR set the styles carry no
// colour at all, but keep bold and reverse video, so that the cursor and
// the focused field stay visible.
func newStyles(r *lipgloss.Renderer) *styles {
	noColor := r.Output().EnvNoColor()
	if noColor && r.ColorProfile() == termenv.Ascii && r.Output().ColorProfile() != termenv.Ascii {
		// termenv's Ascii profile also drops bold and reverse; NO_COLOR
		// asks only for no colour, and the terminal can do the rest.
		r.SetColorProfile(termenv.ANSI)
	}
	s := &styles{r: r, noColor: noColor}
	n := r.NewStyle
	fg := func(st lipgloss.Style, c lipgloss.TerminalColor) lipgloss.Style {
		if noColor {
			return st
		}
		return st.Foreground(c)
	}
	bg := func(st lipgloss.Style, c lipgloss.TerminalColor) lipgloss.Style {
		if noColor {
			return st
		}
		return st.Background(c)
	}

	s.HeaderBar = bg(fg(n(), colText), colBarBg)
	s.HeaderBrand = bg(fg(n().Bold(true), colBright), colBarBg)
	s.HeaderKey = bg(fg(n(), colMuted), colBarBg)
	s.HeaderValue = bg(fg(n().Bold(true), colCyan), colBarBg)
	s.HeaderWarn = bg(fg(n().Bold(true), colYellow), colBarBg)

	s.Title = fg(n().Bold(true), colCyan)
	s.Count = fg(n(), colMagenta)
	s.Label = fg(n(), colMuted)
	s.Value = fg(n(), colText)
	s.Dim = fg(n(), colMuted)
	s.Bold = n().Bold(true)
	s.Secret = fg(n().Bold(true), colYellow)
	s.Section = fg(n().Bold(true), colAccent)

	s.OK = fg(n(), colGreen)
	s.Warn = fg(n(), colYellow)
	s.Err = fg(n(), colRed)
	s.Code = fg(n().Bold(true), colRed)

	s.FlashInfo = fg(n(), colCyan)
	s.FlashOK = fg(n(), colGreen)
	s.FlashErr = fg(n().Bold(true), colRed)

	s.Spinner = fg(n(), colAccent)
	s.Help = help.Styles{
		Ellipsis:       fg(n(), colMuted),
		ShortKey:       fg(n().Bold(true), colAccent),
		ShortDesc:      fg(n(), colMuted),
		ShortSeparator: fg(n(), colFaint),
		FullKey:        fg(n().Bold(true), colAccent),
		FullDesc:       fg(n(), colText),
		FullSeparator:  fg(n(), colFaint),
	}

	cursor := n().Bold(true)
	if noColor {
		cursor = cursor.Reverse(true)
	} else {
		cursor = cursor.Foreground(colBright).Background(colCursor)
	}
	s.Table = components.TableStyles{
		Header:   fg(n().Bold(true), colBright),
		Cell:     fg(n(), colText),
		Cursor:   cursor,
		Selected: fg(n().Bold(true), colMagenta),
		Empty:    fg(n().Italic(true), colMuted),
	}
	s.Box = components.BoxStyles{
		Border: fg(n(), colAccent),
		Title:  s.Title,
		Shape:  lipgloss.NormalBorder(),
	}
	s.Modal = components.BoxStyles{
		Border: fg(n(), colCyan),
		Title:  fg(n().Bold(true), colBright),
		Shape:  lipgloss.RoundedBorder(),
		Faint:  n().Faint(true),
	}
	s.Form = components.FormStyles{
		Label:        fg(n(), colMuted),
		FocusedLabel: fg(n().Bold(true), colAccent),
		Marker:       fg(n().Bold(true), colAccent),
		Value:        fg(n(), colText),
		Choice:       fg(n(), colText),
		ChosenChoice: fg(n().Bold(true), colCyan),
		Error:        fg(n(), colRed),
		Hint:         fg(n(), colMuted),
		Placeholder:  fg(n(), colFaint),
		Cursor:       n(),
		Prompt:       fg(n(), colAccent),
	}
	s.Bar = components.BarStyles{
		Full:  fg(n(), colGreen),
		Empty: fg(n(), colFaint),
		Text:  fg(n(), colText),
	}
	return s
}

// input is a text input whose every style comes from the renderer (the
// bubbles defaults use the global renderer, whose cursor is invisible over
// SSH).
func (s *styles) input(placeholder string) textinput.Model {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = placeholder
	in.PromptStyle = s.Form.Prompt
	in.TextStyle = s.Form.Value
	in.PlaceholderStyle = s.Form.Placeholder
	in.CompletionStyle = s.Form.Placeholder
	in.Cursor.Style = s.Form.Cursor
	in.Cursor.TextStyle = s.Form.Value
	return in
}

// secretInput is an input that masks what is typed.
func (s *styles) secretInput(placeholder string) textinput.Model {
	in := s.input(placeholder)
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	return in
}

// status colours a secret's status: colour carries it, the words say it.
func (s *styles) status(text string) lipgloss.Style {
	switch {
	case len(text) >= 7 && text[:7] == "Pending":
		return s.Warn
	case text == "Rotation failed":
		return s.Err
	}
	return s.OK
}
