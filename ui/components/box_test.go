package components

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// styledBoxStyles renders real SGR sequences, so the tests see the same
// escape codes in the background and the dialog as a colour terminal.
func styledBoxStyles() (BoxStyles, lipgloss.Style) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	st := BoxStyles{
		Border: r.NewStyle().Foreground(lipgloss.Color("#7aa2f7")),
		Title:  r.NewStyle().Bold(true),
		Shape:  lipgloss.RoundedBorder(),
		Faint:  r.NewStyle().Faint(true),
	}
	return st, r.NewStyle().Foreground(lipgloss.Color("#c0caf5"))
}

// screenCells lays a line out as a terminal would: one string per cell, a
// wide grapheme in its first cell and "" in the cells it also covers.
func screenCells(line string) []string {
	s := ansi.Strip(line)
	var out []string
	for s != "" {
		g, w := ansi.FirstGraphemeCluster(s, ansi.GraphemeWidth)
		s = s[len(g):]
		if w == 0 {
			continue
		}
		out = append(out, g)
		for k := 1; k < w; k++ {
			out = append(out, "")
		}
	}
	return out
}

// checkOverlay asserts that every line of got is exactly w cells, that the
// dialog's rectangle holds the dialog and nothing of the background, and
// that outside it each cell is the background's cell or a blank.
func checkOverlay(t *testing.T, bg, fg, got string, w, h int) {
	t.Helper()
	fgLines := strings.Split(fg, "\n")
	fw := 0
	for _, l := range fgLines {
		fw = max(fw, ansi.StringWidth(l))
	}
	fw = min(fw, w)
	x, y := max(0, (w-fw)/2), max(0, (h-len(fgLines))/2)
	bgLines := strings.Split(bg, "\n")
	lines := strings.Split(got, "\n")
	if len(lines) != h {
		t.Fatalf("overlay has %d lines, want %d", len(lines), h)
	}
	for i, line := range lines {
		cells := screenCells(line)
		if len(cells) != w {
			t.Errorf("line %d is %d cells wide, want %d:\n%s", i, len(cells), w, ansi.Strip(line))
		}
		// The background as Overlay shows it: w cells, cut with "…".
		bgLine := ""
		if i < len(bgLines) {
			bgLine = bgLines[i]
		}
		bgc := screenCells(Pad(ansi.Strip(bgLine), w))
		inRows := i >= y && i < y+len(fgLines)
		var want []string
		if inRows {
			want = screenCells(Pad(fgLines[i-y], fw))
		}
		inBad, outBad := false, false // one report of each kind per line
		for c, got := range cells[:min(w, len(cells))] {
			if inRows && c >= x && c < x+fw {
				if got != want[c-x] && !inBad {
					inBad = true
					t.Errorf("line %d cell %d (inside the dialog) = %q, want the dialog's %q:\n%s",
						i, c, got, want[c-x], ansi.Strip(line))
				}
				continue
			}
			if b := bgc[c]; got != b && got != " " && !outBad {
				outBad = true
				t.Errorf("line %d cell %d (outside the dialog) = %q, want the background's %q or a blank:\n%s",
					i, c, got, bgc[c], ansi.Strip(line))
			}
		}
	}
}

func TestOverlayClearsDialogRectangle(t *testing.T) {
	st, text := styledBoxStyles()
	const w, h = 70, 16
	words := strings.Fields("could not connect to the instance (nothing was changed on the host); " +
		"secrets rotated: 3 of 4, host key pinned, ACSCurrent ACSPrevious")
	var bg []string
	for i := 0; i < h; i++ {
		var b strings.Builder
		for k := i; ansi.StringWidth(b.String()) < w+10; k++ {
			b.WriteString(words[k%len(words)] + " ")
		}
		// Some lines overflow, some are short, all are styled.
		line := b.String()
		switch i % 3 {
		case 0:
			line = ansi.Truncate(line, w-7, "")
		case 1:
			line = ansi.Truncate(line, w, "")
		}
		bg = append(bg, text.Render(line))
	}
	body := "Remove instance i-web1?\n\nshort\n" + strings.Repeat("x", 40)
	for _, fg := range []string{
		Box(st, st.Title.Render("Remove Instance"), body, 36, 8),
		// Lines of unequal width, no border: the short ones are still
		// cleared to the widest.
		"a dialog line\nshort\n\nthe widest line of this dialog",
		// Wider than the screen.
		strings.Repeat("W", w+5) + "\nnarrow",
	} {
		got := Overlay(st, strings.Join(bg, "\n"), fg, w, h)
		checkOverlay(t, strings.Join(bg, "\n"), fg, got, w, h)
	}
}

// A wide rune straddling the dialog's left or right edge used to shift the
// dialog a cell left (ansi.Truncate stops before the rune), leaving a
// background cell inside the dialog's right edge and the line a cell short.
func TestOverlayWideRuneAtEdges(t *testing.T) {
	st, _ := styledBoxStyles()
	fg := Box(st, "名前", "秘密 db/prod/密码\nok", 11, 4)
	for _, w := range []int{30, 31, 32, 33} {
		for _, lead := range []string{"", "a"} {
			var bg []string
			for i := 0; i < 6; i++ {
				bg = append(bg, lead+strings.Repeat("中文", w))
			}
			got := Overlay(st, strings.Join(bg, "\n"), fg, w, 6)
			checkOverlay(t, strings.Join(bg, "\n"), fg, got, w, 6)
			if t.Failed() {
				t.Fatalf("w=%d lead=%q:\n%s", w, lead, ansi.Strip(got))
			}
		}
	}
}

// A background word the dialog cuts leaves no tail at its edges: the
// fragments ("nnect", "d)") looked like the dialog's own text.
func TestOverlayBlanksCutWords(t *testing.T) {
	st := BoxStyles{}
	bg := "│ ok could not connect now (nothing was changed) │\n" +
		"│ ╭───────────────── rule ─────────────────────╮ │"
	fg := "[DIALOG  DIALOG]\n[DIALOG  DIALOG]"
	w := ansi.StringWidth(strings.Split(bg, "\n")[0])
	got := strings.Split(ansi.Strip(Overlay(st, bg, fg, w, 2)), "\n")
	// "connect" and "(nothing" are cut: "con" and "ing" go.
	if want := "│ ok could not   [DIALOG  DIALOG]   was changed) │"; got[0] != want {
		t.Errorf("cut words not blanked:\n got %q\nwant %q", got[0], want)
	}
	// Borders and rules are not words: they stay whole.
	if want := "│ ╭──────────────[DIALOG  DIALOG]──────────────╮ │"; got[1] != want {
		t.Errorf("a rule was blanked:\n got %q\nwant %q", got[1], want)
	}
}

func TestPadIsExact(t *testing.T) {
	for _, c := range []struct {
		in string
		w  int
	}{
		{"中中中", 4}, {"中中中", 5}, {"ab中", 3}, {"abc", 5}, {"abcdef", 3}, {"中", 1}, {"x", 0},
	} {
		got := Pad(c.in, c.w)
		if gw := ansi.StringWidth(got); gw != c.w {
			t.Errorf("Pad(%q, %d) = %q, %d cells", c.in, c.w, got, gw)
		}
		if ansi.StringWidth(c.in) > c.w && c.w > 0 && !strings.Contains(got, "…") {
			t.Errorf("Pad(%q, %d) = %q: a cut line ends in …", c.in, c.w, got)
		}
	}
	// The box border stays in its column when a body line is cut at a
	// wide rune.
	st, _ := styledBoxStyles()
	for _, l := range strings.Split(Box(st, "", "中中中中中中中中", 9, 3), "\n") {
		if gw := ansi.StringWidth(l); gw != 9 {
			t.Errorf("box line %q is %d cells, want 9", ansi.Strip(l), gw)
		}
	}
}

func TestPlaceIsExact(t *testing.T) {
	out := Place("中文 dialog\nx", 21, 5)
	lines := strings.Split(out, "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	for i, l := range lines {
		if gw := ansi.StringWidth(l); gw != 21 {
			t.Errorf("line %d %q is %d cells, want 21", i, l, gw)
		}
	}
}
