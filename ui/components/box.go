package components

import (
	"strings"

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

// Pad cuts or pads a styled line to exactly w cells.
func Pad(line string, w int) string {
	lw := ansi.StringWidth(line)
	if lw > w {
		return ansi.Truncate(line, w, "…")
	}
	return line + strings.Repeat(" ", w-lw)
}

// Overlay draws fg centred over bg (both w×h blocks of lines); the
// background is dimmed so that the dialog is clearly in front.
func Overlay(st BoxStyles, bg, fg string, w, h int) string {
	bgLines := strings.Split(bg, "\n")
	fgLines := strings.Split(fg, "\n")
	fw := 0
	for _, l := range fgLines {
		fw = max(fw, ansi.StringWidth(l))
	}
	x := max(0, (w-fw)/2)
	y := max(0, (h-len(fgLines))/2)
	out := make([]string, h)
	for i := 0; i < h; i++ {
		line := ""
		if i < len(bgLines) {
			line = bgLines[i]
		}
		plain := Pad(ansi.Strip(line), w)
		if i < y || i >= y+len(fgLines) {
			out[i] = st.Faint.Render(plain)
			continue
		}
		fl := Pad(fgLines[i-y], fw)
		leftPart := ansi.Truncate(plain, x, "")
		rightPart := ansi.TruncateLeft(plain, x+fw, "")
		out[i] = st.Faint.Render(leftPart) + fl + st.Faint.Render(rightPart)
	}
	return strings.Join(out, "\n")
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
