package main

import (
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// ColorMode says how a Color is given.
type ColorMode uint8

// Colour modes: the terminal default, an index into the 256-colour palette,
// or a 24-bit RGB value.
const (
	ColorDefault ColorMode = iota
	ColorIndexed
	ColorRGB
)

// Color is a colour as set by SGR; it is resolved against a Theme at render
// time.
type Color struct {
	Mode    ColorMode
	Index   uint8
	R, G, B uint8
}

// Indexed returns the palette colour i.
func Indexed(i uint8) Color { return Color{Mode: ColorIndexed, Index: i} }

// RGB returns a truecolour colour.
func RGB(r, g, b uint8) Color { return Color{Mode: ColorRGB, R: r, G: g, B: b} }

// Style is the SGR state that applies to a cell.
type Style struct {
	FG, BG    Color
	Bold      bool
	Faint     bool
	Italic    bool
	Underline bool
	Reverse   bool
	Hidden    bool
	Strike    bool
}

// Cell is one terminal cell. A wide rune occupies a lead cell of Width 2
// followed by a continuation cell of Width 0 (whose Text is empty).
type Cell struct {
	Text  string // base rune plus any zero-width runes that follow it
	Width int    // 1, 2, or 0 for the right half of a wide rune
	Style Style
}

// Screen is a parsed capture: one slice of cells per line. Lines are not
// padded; a missing cell is a blank with the default style.
type Screen struct {
	Lines [][]Cell
}

// Width returns the length in cells of the widest line.
func (s *Screen) Width() int {
	w := 0
	for _, l := range s.Lines {
		w = max(w, len(l))
	}
	return w
}

// widthCond measures runes like a terminal in a non-CJK locale, whatever the
// environment says: box drawing and other East Asian "ambiguous" runes are a
// single cell wide, ideographs and most emoji two.
var widthCond = &runewidth.Condition{EastAsianWidth: false, StrictEmojiNeutral: true}

func runeWidth(r rune) int { return widthCond.RuneWidth(r) }

// parser turns ANSI text into a Screen. Its SGR state persists across lines,
// as tmux capture-pane -e emits an attribute change once and relies on it
// carrying over.
type parser struct {
	style Style
	lines [][]Cell
	col   int
}

// Parse reads captured terminal text with ANSI escape sequences. SGR
// sequences set the style; every other control sequence (CSI, OSC, DCS,
// APC, PM, SOS, and two- or three-byte ESC sequences) is skipped.
func Parse(s string) *Screen {
	p := &parser{lines: [][]Cell{nil}}
	p.run(s)
	// The newline that ends the last line does not start another one.
	if n := len(p.lines); n > 0 && len(p.lines[n-1]) == 0 {
		p.lines = p.lines[:n-1]
	}
	return &Screen{Lines: p.lines}
}

func (p *parser) run(s string) {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case 0x1b:
			i = p.escape(s, i)
		case 0x9b: // C1 CSI
			i = p.csi(s, i)
		case 0x9d, 0x90, 0x98, 0x9e, 0x9f: // C1 OSC, DCS, SOS, PM, APC
			i = skipString(s, i)
		case '\n', '\v', '\f':
			p.lines = append(p.lines, nil)
			p.col = 0
		case '\r':
			p.col = 0
		case '\b':
			if p.col > 0 {
				p.col--
			}
		case '\t':
			p.col = (p.col/8 + 1) * 8
		default:
			if r < 0x20 || (r >= 0x7f && r < 0xa0) {
				continue // other C0/C1 controls: BEL, SO, SI, …
			}
			p.put(r)
		}
	}
}

// escape handles the bytes after ESC and returns the index after the
// sequence.
func (p *parser) escape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return p.csi(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	case c >= 0x20 && c <= 0x2f: // intermediates, e.g. ESC ( B
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			i++
		}
		return i
	case c >= 0x30 && c <= 0x7e: // ESC 7, ESC =, ESC M, …
		return i + 1
	default: // ESC followed by a control or a non-ASCII rune: drop the ESC
		return i
	}
}

// csi parses a control sequence starting after "ESC [" and applies it if it
// is SGR. A sequence cut off by a control character or a non-ASCII byte is
// abandoned; the character that cut it off is then processed as usual.
func (p *parser) csi(s string, i int) int {
	start := i
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	params := s[start:i]
	inter := i
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i >= len(s) {
		return i
	}
	final := s[i]
	if final < 0x40 || final > 0x7e {
		return i
	}
	if final == 'm' && inter == i && !isPrivate(params) {
		p.style.applySGR(params)
	}
	return i + 1
}

func isPrivate(params string) bool {
	return params != "" && params[0] >= '<' && params[0] <= '?'
}

// skipString skips an OSC/DCS/APC/PM/SOS payload up to its terminator: BEL,
// ESC \ or C1 ST. A newline also ends it, so that an unterminated string
// cannot swallow the rest of the capture.
func skipString(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case 0x07, 0x9c:
			return i + n
		case '\n':
			return i
		case 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i + 1
		}
		i += n
	}
	return i
}

// put writes r at the cursor with the current style.
func (p *parser) put(r rune) {
	line := p.lines[len(p.lines)-1]
	w := runeWidth(r)
	if w == 0 {
		// Zero-width (combining marks, joiners, variation selectors):
		// attach to the cell before the cursor.
		j := min(p.col, len(line)) - 1
		for j >= 0 && line[j].Width == 0 {
			j--
		}
		if j >= 0 {
			line[j].Text += string(r)
		}
		return
	}
	line = p.set(line, p.col, Cell{Text: string(r), Width: w, Style: p.style})
	if w == 2 {
		line = p.set(line, p.col+1, Cell{Width: 0, Style: p.style})
	}
	p.lines[len(p.lines)-1] = line
	p.col += w
}

// set stores c at column col, padding the line with blanks and clearing
// any wide rune that c partly overwrites.
func (p *parser) set(line []Cell, col int, c Cell) []Cell {
	for len(line) <= col {
		line = append(line, Cell{Text: " ", Width: 1})
	}
	old := line[col]
	if old.Width == 0 && c.Width != 0 && col > 0 {
		line[col-1] = Cell{Text: " ", Width: 1, Style: line[col-1].Style}
	}
	if old.Width == 2 && col+1 < len(line) && line[col+1].Width == 0 && c.Width != 2 {
		line[col+1] = Cell{Text: " ", Width: 1, Style: line[col+1].Style}
	}
	line[col] = c
	return line
}

// applySGR applies the parameters of one "CSI … m" sequence. Parameters are
// separated by ';'; a parameter may carry ':'-separated sub-parameters
// (ITU T.416 style, e.g. 38:2::R:G:B or 4:3).
func (st *Style) applySGR(params string) {
	fields := strings.Split(params, ";")
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if strings.IndexByte(f, ':') >= 0 {
			st.applySub(strings.Split(f, ":"))
			continue
		}
		code, ok := atoi(f)
		if !ok {
			continue
		}
		switch code {
		case 38, 48, 58:
			c, used, ok := extColor(fields[i+1:])
			i += used
			if ok {
				st.setExt(code, c)
			}
		default:
			st.apply(code)
		}
	}
}

func (st *Style) applySub(sub []string) {
	code, ok := atoi(sub[0])
	if !ok {
		return
	}
	switch code {
	case 38, 48, 58:
		args := sub[1:]
		if len(args) > 0 && args[0] == "2" && len(args) >= 5 {
			// 38:2:CS:R:G:B — drop the colour-space id.
			args = append([]string{"2"}, args[2:]...)
		}
		if c, _, ok := extColor(args); ok {
			st.setExt(code, c)
		}
	case 4:
		n, _ := atoi(sub[1])
		st.Underline = n != 0
	default:
		st.apply(code)
	}
}

func (st *Style) setExt(code int, c Color) {
	switch code {
	case 38:
		st.FG = c
	case 48:
		st.BG = c
	}
	// 58 (underline colour) is parsed so that its arguments are skipped, but
	// underlines are drawn in the foreground colour.
}

// extColor parses the arguments after 38/48/58: "5;N" or "2;R;G;B". It
// returns how many arguments it consumed.
func extColor(args []string) (Color, int, bool) {
	if len(args) == 0 {
		return Color{}, 0, false
	}
	mode, _ := atoi(args[0])
	switch mode {
	case 5:
		if len(args) < 2 {
			return Color{}, len(args), false
		}
		n, ok := atoi(args[1])
		if !ok || n > 255 {
			return Color{}, 2, false
		}
		return Indexed(uint8(n)), 2, true
	case 2:
		if len(args) < 4 {
			return Color{}, len(args), false
		}
		var v [3]uint8
		for k := range v {
			n, _ := atoi(args[1+k])
			v[k] = uint8(min(n, 255))
		}
		return RGB(v[0], v[1], v[2]), 4, true
	default:
		return Color{}, 1, false
	}
}

func (st *Style) apply(code int) {
	switch {
	case code == 0:
		*st = Style{}
	case code == 1:
		st.Bold = true
	case code == 2:
		st.Faint = true
	case code == 3:
		st.Italic = true
	case code == 4 || code == 21:
		st.Underline = true
	case code == 7:
		st.Reverse = true
	case code == 8:
		st.Hidden = true
	case code == 9:
		st.Strike = true
	case code == 22:
		st.Bold, st.Faint = false, false
	case code == 23:
		st.Italic = false
	case code == 24:
		st.Underline = false
	case code == 27:
		st.Reverse = false
	case code == 28:
		st.Hidden = false
	case code == 29:
		st.Strike = false
	case code >= 30 && code <= 37:
		st.FG = Indexed(uint8(code - 30))
	case code == 39:
		st.FG = Color{}
	case code >= 40 && code <= 47:
		st.BG = Indexed(uint8(code - 40))
	case code == 49:
		st.BG = Color{}
	case code >= 90 && code <= 97:
		st.FG = Indexed(uint8(code - 90 + 8))
	case code >= 100 && code <= 107:
		st.BG = Indexed(uint8(code - 100 + 8))
	}
	// Anything else (blink, overline, fonts, …) is ignored.
}

// atoi parses a decimal SGR parameter; the empty string is 0. Values are
// capped so that huge numbers cannot overflow.
func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<20 {
			n = n*10 + int(c-'0')
		}
	}
	return n, true
}
