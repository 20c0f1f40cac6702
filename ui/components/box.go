package components

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
)

// BoxStyles style a Box.
type BoxStyles struct {
	Border lipgloss.Style
	Title  lipgloss.Style
	Shape  lipgloss.Border
	// Faint dims the background a dialog is drawn over.
	Faint lipgloss.Style
}

// Box draws body inside a border of exactly w×h cells, with title (already
// styled) set into the top border, k9s style: ┌─ Secrets [12] ─────┐.
// Body lines are padded or cut to the inner size.
func Box(st BoxStyles, title, body string, w, h int) string {
	if w < 4 || h < 2 {
		return ""
	}
	b := st.Shape
	inner := w - 2
	var out strings.Builder
	top := b.TopLeft + b.Top
	tw := ansi.StringWidth(title)
	if title != "" && tw+4 <= inner {
		out.WriteString(st.Border.Render(top + " "))
		out.WriteString(title)
		out.WriteString(st.Border.Render(" " + strings.Repeat(b.Top, inner-tw-3) + b.TopRight))
	} else {
		out.WriteString(st.Border.Render(b.TopLeft + strings.Repeat(b.Top, inner) + b.TopRight))
	}
	lines := strings.Split(body, "\n")
	left, right := st.Border.Render(b.Left), st.Border.Render(b.Right)
	for i := 0; i < h-2; i++ {
		out.WriteByte('\n')
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		out.WriteString(left)
		out.WriteString(Pad(line, inner))
		out.WriteString(right)
	}
	out.WriteByte('\n')
	out.WriteString(st.Border.Render(b.BottomLeft + strings.Repeat(b.Bottom, inner) + b.BottomRight))
	return out.String()
}

// Pad cuts or pads a styled line to exactly w cells. A cut line ends in
// "…"; when a wide rune would straddle the cut, the cell it cannot fill is
// padded, so the result is never a cell short (a box border after it stays
// in its column).
func Pad(line string, w int) string {
	if w <= 0 {
		return ""
	}
	lw := ansi.StringWidth(line)
	if lw > w {
		line = ansi.Truncate(line, w, "…")
		lw = ansi.StringWidth(line)
	}
	return line + strings.Repeat(" ", w-lw)
}

// Overlay draws fg centred over bg (both w×h blocks of lines); the
// background is dimmed so that the dialog is clearly in front.
//
// The dialog clears every cell of its rectangle and nothing else: the
// background is cut by terminal cells, not by runes, so a wide rune (CJK)
// straddling either edge becomes blanks instead of shifting the dialog a
// cell to the left (which let a background character show inside its right
// edge and pushed the line a cell short). A background word the dialog cuts
// through is blanked on both sides up to the next space or border, so no
// tail such as "nnect" or "d)" clings to the dialog's edge as if it were
// part of it.
func Overlay(st BoxStyles, bg, fg string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	bgLines := strings.Split(bg, "\n")
	fgLines := strings.Split(fg, "\n")
	fw := 0
	for _, l := range fgLines {
		fw = max(fw, ansi.StringWidth(l))
	}
	fw = min(fw, w)
	x := max(0, (w-fw)/2)
	y := max(0, (h-len(fgLines))/2)
	out := make([]string, h)
	for i := 0; i < h; i++ {
		line := ""
		if i < len(bgLines) {
			line = bgLines[i]
		}
		row := splitCells(Pad(ansi.Strip(line), w), w)
		if i < y || i >= y+len(fgLines) {
			out[i] = st.Faint.Render(row.text(0, w))
			continue
		}
		if x > 0 && isWordRune(row.runeAt(x-1)) && isWordRune(row.runeAt(x)) {
			j := x - 1
			for j >= 0 && isWordRune(row.runeAt(j)) {
				j--
			}
			row.blank(j+1, x)
		}
		if r := x + fw; r < w && isWordRune(row.runeAt(r-1)) && isWordRune(row.runeAt(r)) {
			k := r
			for k < w && isWordRune(row.runeAt(k)) {
				k++
			}
			row.blank(r, k)
		}
		out[i] = st.Faint.Render(row.text(0, x)) + Pad(fgLines[i-y], fw) + st.Faint.Render(row.text(x+fw, w))
	}
	return strings.Join(out, "\n")
}

// cells is a line of plain text as the terminal lays it out: one entry per
// cell. A grapheme n cells wide sits in its first cell (w = n); the cells it
// also covers have w = 0.
type cells []cell

type cell struct {
	g string
	w int
}

// splitCells lays plain text out in exactly n cells (padding with blanks).
// Control characters, which take no cell here but would be drawn visible
// later, are dropped: the background must not shift under the dialog.
func splitCells(s string, n int) cells {
	cs := make(cells, 0, n)
	for s != "" && len(cs) < n {
		g, gw := ansi.FirstGraphemeCluster(s, ansi.GraphemeWidth)
		if g == "" {
			break
		}
		s = s[len(g):]
		if gw == 0 {
			if r, _ := utf8.DecodeRuneInString(g); r >= 0x20 && r != 0x7f && len(cs) > 0 {
				lead := len(cs) - 1
				for cs[lead].w == 0 {
					lead--
				}
				cs[lead].g += g // a combining mark joins its base
			}
			continue
		}
		if len(cs)+gw > n {
			break
		}
		cs = append(cs, cell{g, gw})
		for k := 1; k < gw; k++ {
			cs = append(cs, cell{"", 0})
		}
	}
	for len(cs) < n {
		cs = append(cs, cell{" ", 1})
	}
	return cs
}

// runeAt is the first rune of the grapheme covering cell i.
func (cs cells) runeAt(i int) rune {
	for i > 0 && cs[i].w == 0 {
		i--
	}
	r, _ := utf8.DecodeRuneInString(cs[i].g)
	return r
}

// blank clears cells [a, b).
func (cs cells) blank(a, b int) {
	for i := a; i < b; i++ {
		cs[i].g, cs[i].w = " ", 1
	}
}

// text renders cells [a, b) as exactly b-a cells: the part of a wide
// grapheme that lies outside the range is dropped and its cells inside are
// blanks.
func (cs cells) text(a, b int) string {
	var sb strings.Builder
	for i := a; i < b; i++ {
		c := cs[i]
		switch {
		case c.w == 0: // covered by a grapheme that starts before a
			sb.WriteByte(' ')
		case i+c.w > b: // runs past b
			sb.WriteString(strings.Repeat(" ", b-i))
			i = b
		default:
			sb.WriteString(c.g)
			i += c.w - 1
		}
	}
	return sb.String()
}

// isWordRune: text that belongs to a word — not a blank, and not box
// drawing or block elements (the page's own borders and rules stay whole).
func isWordRune(r rune) bool {
	return r != ' ' && r != 0 && !(r >= 0x2500 && r <= 0x259f)
}

// Place puts block in the middle of a w×h area of blank lines.
func Place(block string, w, h int) string {
	lines := strings.Split(block, "\n")
	bw := 0
	for _, l := range lines {
		bw = max(bw, ansi.StringWidth(l))
	}
	x := max(0, (w-bw)/2)
	y := max(0, (h-len(lines))/2)
	out := make([]string, h)
	for i := range out {
		if i >= y && i < y+len(lines) {
			out[i] = Pad(strings.Repeat(" ", x)+Pad(lines[i-y], bw), w)
		} else {
			out[i] = strings.Repeat(" ", w)
		}
	}
	return strings.Join(out, "\n")
}

// Lines pads or cuts text to exactly h lines of w cells.
func Lines(text string, w, h int) string {
	lines := strings.Split(text, "\n")
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = Pad(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", w)
		}
	}
	return strings.Join(out, "\n")
}

// Wrap wraps plain text to w cells, hard-breaking long words (keys, ARNs).
// Line breaks stay; every other control character is made visible
// (model.SafeLines), so wrapped text from outside cannot drive the terminal.
func Wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return strings.Split(ansi.Wrap(model.SafeLines(s), w, " /-"), "\n")
}
