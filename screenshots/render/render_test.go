package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func cellStyle(t *testing.T, s *Screen, row, col int) Style {
	t.Helper()
	if row >= len(s.Lines) || col >= len(s.Lines[row]) {
		t.Fatalf("no cell at row %d col %d (screen has %d lines)", row, col, len(s.Lines))
	}
	return s.Lines[row][col].Style
}

func lineText(l []Cell) string {
	var b strings.Builder
	for _, c := range l {
		b.WriteString(c.Text)
	}
	return b.String()
}

func TestParseStyleCarriesAcrossLines(t *testing.T) {
	s := Parse("\x1b[97;44mab\ncd\x1b[0mef\ngh\n")
	if len(s.Lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(s.Lines))
	}
	want := Style{FG: Indexed(15), BG: Indexed(4)}
	for _, pos := range [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
		if got := cellStyle(t, s, pos[0], pos[1]); got != want {
			t.Errorf("cell %v: style %+v, want %+v", pos, got, want)
		}
	}
	for _, pos := range [][2]int{{1, 2}, {1, 3}, {2, 0}} {
		if got := cellStyle(t, s, pos[0], pos[1]); got != (Style{}) {
			t.Errorf("cell %v after reset: style %+v, want default", pos, got)
		}
	}
}

func TestParseReverse(t *testing.T) {
	s := Parse("\x1b[31;42;7mx\x1b[27my\x1b[0m\x1b[7m \x1b[0m")
	th := &DefaultTheme

	x := cellStyle(t, s, 0, 0)
	if !x.Reverse {
		t.Fatalf("x not reversed: %+v", x)
	}
	fg, bg := th.Resolve(x)
	if fg != th.ANSI[2] || bg != th.ANSI[1] {
		t.Errorf("reversed red on green: fg %v bg %v, want green on red", fg, bg)
	}
	y := cellStyle(t, s, 0, 1)
	if y.Reverse || y.FG != Indexed(1) || y.BG != Indexed(2) {
		t.Errorf("after 27: %+v, want red on green, not reversed", y)
	}
	fg, bg = th.Resolve(cellStyle(t, s, 0, 2))
	if fg != th.BG || bg != th.FG {
		t.Errorf("reversed default colours: fg %v bg %v, want %v on %v", fg, bg, th.BG, th.FG)
	}
}

func TestParseExtendedColours(t *testing.T) {
	tests := []struct {
		in     string
		fg, bg Color
	}{
		{"\x1b[38;5;196;48;2;1;2;3mA", Indexed(196), RGB(1, 2, 3)},
		{"\x1b[38:2::10:20:30;48:5:232mA", RGB(10, 20, 30), Indexed(232)},
		{"\x1b[38:2:10:20:30mA", RGB(10, 20, 30), Color{}},
		{"\x1b[48;2;300;0;0;1mA", Color{}, RGB(255, 0, 0)},
		{"\x1b[94;103mA", Indexed(12), Indexed(11)},
		{"\x1b[31;41;39;49mA", Color{}, Color{}},
		// Incomplete or out-of-range arguments change nothing and do not
		// swallow what follows them.
		{"\x1b[38;5mA", Color{}, Color{}},
		{"\x1b[38;5;256;44mA", Color{}, Indexed(4)},
		{"\x1b[48;2;1;2mA", Color{}, Color{}},
		{"\x1b[38mA", Color{}, Color{}},
	}
	for _, tc := range tests {
		st := cellStyle(t, Parse(tc.in), 0, 0)
		if st.FG != tc.fg || st.BG != tc.bg {
			t.Errorf("%q: fg %+v bg %+v, want %+v %+v", tc.in, st.FG, st.BG, tc.fg, tc.bg)
		}
	}
	// 38;2 consumes exactly its three values: the 1 after it is bold.
	if st := cellStyle(t, Parse("\x1b[48;2;300;0;0;1mA"), 0, 0); !st.Bold {
		t.Errorf("parameter after truecolour not applied: %+v", st)
	}
}

func TestPalette(t *testing.T) {
	th := &DefaultTheme
	tests := map[uint8]color.RGBA{
		1:   th.ANSI[1],
		16:  {0, 0, 0, 255},
		21:  {0, 0, 255, 255},
		196: {255, 0, 0, 255},
		231: {255, 255, 255, 255},
		232: {8, 8, 8, 255},
		244: {128, 128, 128, 255},
		255: {238, 238, 238, 255},
	}
	for i, want := range tests {
		if got := th.Palette(i); got != want {
			t.Errorf("Palette(%d) = %v, want %v", i, got, want)
		}
	}
}

func TestParseResets(t *testing.T) {
	s := Parse("\x1b[1;2;3;4;7;8;9;31;41mA\x1b[mB\x1b[1;2;3;4mC\x1b[22;23mD\x1b[24mE\x1b[1m\x1b[;mF")
	full := Style{FG: Indexed(1), BG: Indexed(1), Bold: true, Faint: true, Italic: true, Underline: true, Reverse: true, Hidden: true, Strike: true}
	want := []Style{
		full,
		{},
		{Bold: true, Faint: true, Italic: true, Underline: true},
		{Underline: true},
		{},
		{},
	}
	for i, w := range want {
		if got := cellStyle(t, s, 0, i); got != w {
			t.Errorf("cell %d (%s): %+v, want %+v", i, s.Lines[0][i].Text, got, w)
		}
	}
}

func TestParseSkipsOtherSequences(t *testing.T) {
	in := "\x1b[2J\x1b[H\x1b[?25la\x1b]0;title\x07b\x1b]8;;http://x\x1b\\c\x1b(Bd\x1b[>4;1me\x1b=f\x1b[1 qg\x1bPdcs\x1b\\h\x07\x0ei\n" +
		"\x1b]unterminated\nnext"
	s := Parse(in)
	if len(s.Lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(s.Lines))
	}
	if got := lineText(s.Lines[0]); got != "abcdefghi" {
		t.Errorf("text %q, want %q", got, "abcdefghi")
	}
	for i, c := range s.Lines[0] {
		if c.Style != (Style{}) {
			t.Errorf("cell %d %q styled by a non-SGR sequence: %+v", i, c.Text, c.Style)
		}
	}
	if got := lineText(s.Lines[2]); got != "next" {
		t.Errorf("line after an unterminated OSC: %q, want %q", got, "next")
	}
}

func TestParseWidths(t *testing.T) {
	s := Parse("a中b\n╭─│╮\ne\u0301x\n\tz\r\x1b[31mA")
	l := s.Lines[0]
	if len(l) != 4 || l[1].Text != "中" || l[1].Width != 2 || l[2].Width != 0 || l[3].Text != "b" {
		t.Errorf("wide rune: %+v", l)
	}
	if got := len(s.Lines[1]); got != 4 {
		t.Errorf("box drawing takes %d cells, want 4 (single width)", got)
	}
	if l := s.Lines[2]; len(l) != 2 || l[0].Text != "e\u0301" {
		t.Errorf("combining mark: %+v", l)
	}
	if l := s.Lines[3]; len(l) != 9 || l[0].Text != "A" || l[0].Style.FG != Indexed(1) || l[8].Text != "z" {
		t.Errorf("tab and carriage return: %+v", l)
	}
	if w := s.Width(); w != 9 {
		t.Errorf("Width() = %d, want 9", w)
	}
}

func TestParseLineCount(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "a\n\n": 2, "a\n\x1b[0m": 1, "\n\n\n": 3} {
		if got := len(Parse(in).Lines); got != want {
			t.Errorf("%q: %d lines, want %d", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"\x1b[38;5;", "\x1b[38:2:", "\x1b]", "\x1b", "\x1b[", "a中\rb\x1b[7m\u0301", "\xff\xfe", "\x1b[4:m", "\u009b31m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, l := range Parse(in).Lines {
			for i, c := range l {
				if c.Width == 2 && (i+1 >= len(l) || l[i+1].Width != 0) {
					t.Fatalf("wide cell %d without continuation: %+v", i, l)
				}
				if c.Width == 0 && (i == 0 || l[i-1].Width != 2) {
					t.Fatalf("continuation cell %d without a wide cell: %+v", i, l)
				}
			}
		}
	})
}

func newTestRenderer(t *testing.T, opts Options) *Renderer {
	t.Helper()
	r, err := NewRenderer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func centre(r image.Rectangle) image.Point {
	return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
}

func TestRender(t *testing.T) {
	capture := "" +
		"\x1b[41m  \x1b[0m \x1b[7m \x1b[0m \x1b[32;44;7m█ \x1b[0m \x1b[48;5;196m \x1b[48;2;10;20;30m \x1b[0m this line is clipped\n" +
		"\x1b[42m  \n  \x1b[0m\n" +
		"\x1b[41m中\x1b[0m"
	const cols, rows = 12, 5
	opts := DefaultOptions()
	opts.Cols, opts.Rows = cols, rows
	opts.Title = "test"
	r := newTestRenderer(t, opts)
	img := r.Render(Parse(capture))
	th := &DefaultTheme

	if adv, _ := r.styles[0].face.GlyphAdvance('M'); r.CellW != adv.Round() || r.CellW < 8 || r.CellH <= r.CellW {
		t.Errorf("cell %dx%d, advance %v", r.CellW, r.CellH, adv)
	}
	wantSize := image.Pt(cols*r.CellW+2*opts.Padding, rows*r.CellH+2*opts.Padding+r.titleH)
	if got := img.Bounds().Size(); got != wantSize {
		t.Errorf("image size %v, want %v", got, wantSize)
	}
	if r.titleH == 0 {
		t.Error("no title bar")
	}

	at := func(col, row int) color.RGBA {
		return img.RGBAAt(centre(r.CellRect(col, row)).X, centre(r.CellRect(col, row)).Y)
	}
	checks := []struct {
		name     string
		col, row int
		want     color.RGBA
	}{
		{"red background", 0, 0, th.ANSI[1]},
		{"red background", 1, 0, th.ANSI[1]},
		{"default background", 2, 0, th.BG},
		{"reversed default colours", 3, 0, th.FG},
		{"reversed █ is drawn in the background colour", 5, 0, th.ANSI[4]},
		{"reversed space shows the foreground colour", 6, 0, th.ANSI[2]},
		{"256-colour background", 8, 0, color.RGBA{255, 0, 0, 255}},
		{"truecolour background", 9, 0, color.RGBA{10, 20, 30, 255}},
		{"background on the first line", 0, 1, th.ANSI[2]},
		{"background carried to the next line", 1, 2, th.ANSI[2]},
		{"after reset", 2, 2, th.BG},
		{"padding to the right of a short line", 11, 1, th.BG},
		{"blank row below the capture", 0, 4, th.BG},
	}
	for _, c := range checks {
		if got := at(c.col, c.row); got != c.want {
			t.Errorf("%s at cell (%d,%d): %v, want %v", c.name, c.col, c.row, got, c.want)
		}
	}
	// The wide rune's background covers both of its cells.
	for col := range 2 {
		rc := r.CellRect(col, 3)
		if got := img.RGBAAt(rc.Min.X+col, rc.Min.Y+1); got != th.ANSI[1] {
			t.Errorf("wide rune, cell %d: %v, want red", col, got)
		}
	}
	// Nothing is drawn past the last column: the right padding is plain.
	last := r.CellRect(cols-1, 0)
	for x := last.Max.X; x < img.Bounds().Max.X-opts.Radius; x++ {
		if got := img.RGBAAt(x, centre(last).Y); got != th.BG {
			t.Fatalf("right padding at x=%d: %v, want background", x, got)
		}
	}
	// Window chrome: bar, first dot, transparent rounded corner.
	if got := img.RGBAAt(img.Bounds().Dx()-opts.Radius-2, 2); got != th.Bar {
		t.Errorf("title bar: %v, want %v", got, th.Bar)
	}
	dotX := opts.Padding + int(r.opts.FontSize*0.4)
	if got := img.RGBAAt(dotX, r.titleH/2); got != th.Dots[0] {
		t.Errorf("first dot: %v, want %v", got, th.Dots[0])
	}
	if got := img.RGBAAt(0, 0); got.A != 0 {
		t.Errorf("corner pixel %v, want transparent", got)
	}
}

func TestRenderGlyphs(t *testing.T) {
	opts := DefaultOptions()
	opts.Bar = false
	r := newTestRenderer(t, opts)
	th := &DefaultTheme
	img := r.Render(Parse("\x1b[31mM\x1b[0m \x1b[1;7mW\x1b[0m ─"))
	if r.titleH != 0 {
		t.Errorf("title bar height %d with -bar=false", r.titleH)
	}

	// count reports how many pixels of a cell are exactly c.
	count := func(col int, c color.RGBA) int {
		n := 0
		rc := r.CellRect(col, 0)
		for y := rc.Min.Y; y < rc.Max.Y; y++ {
			for x := rc.Min.X; x < rc.Max.X; x++ {
				if img.RGBAAt(x, y) == c {
					n++
				}
			}
		}
		return n
	}
	if n := count(0, th.ANSI[1]); n < 5 {
		t.Errorf("red M: %d red pixels", n)
	}
	// Reversed bold W: the cell is light and the glyph is in the window
	// background colour.
	if n := count(2, th.FG); n < r.CellW*r.CellH/3 {
		t.Errorf("reversed cell: only %d pixels of the default foreground", n)
	}
	if n := count(2, th.BG); n < 5 {
		t.Errorf("reversed glyph: %d pixels of the default background", n)
	}
	// A horizontal line runs across the whole cell, so that lines join.
	rc := r.CellRect(4, 0)
	for x := rc.Min.X; x < rc.Max.X; x++ {
		if got := img.RGBAAt(x, rc.Min.Y+rc.Dy()/2); got != th.FG {
			t.Errorf("─ at x=%d: %v, want %v", x-rc.Min.X, got, th.FG)
		}
	}
}

func TestRunCLI(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.png")
	in := strings.NewReader("\x1b[1;31mred\x1b[0m\nline two is longer\n\n\n")
	if err := run([]string{"-o", out, "-fallback", "none", "-trim", "-bar=false", "-pad", "10"}, in, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRenderer(t, Options{FontSize: 15})
	want := image.Pt(18*r.CellW+20, 2*r.CellH+20)
	if got := img.Bounds().Size(); got != want {
		t.Errorf("size %v, want %v (18 columns, 2 rows after -trim)", got, want)
	}
	if err := run([]string{"-fallback", "none"}, strings.NewReader(""), io.Discard, io.Discard); err == nil {
		t.Error("no error without -o")
	}
}
