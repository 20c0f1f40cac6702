package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/gomonobolditalic"
	"golang.org/x/image/font/gofont/gomonoitalic"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/unicode/norm"
)

// Options control the look of the picture.
type Options struct {
	Cols, Rows int      // grid size; 0 means the capture's own size
	Title      string   // text in the title bar
	Bar        bool     // draw a title bar with three dots
	FontSize   float64  // pixels
	Padding    int      // pixels around the grid
	Radius     int      // window corner radius in pixels; 0 for square corners
	Fallbacks  []string // font files for runes Go Mono lacks, tried in order
	// SkipBadFallbacks skips a fallback font that cannot be read instead
	// of failing (used for fonts found on the system).
	SkipBadFallbacks bool
	Theme            *Theme
}

// DefaultOptions are the options the command starts from.
func DefaultOptions() Options {
	return Options{Bar: true, FontSize: 15, Padding: 16, Radius: 10}
}

type face struct {
	font *sfnt.Font
	face font.Face
}

// Renderer draws Screens with one font setup.
type Renderer struct {
	opts      Options
	theme     *Theme
	styles    [4]face // regular, bold, italic, bold italic
	fallbacks []face
	title     face
	buf       sfnt.Buffer

	CellW, CellH int // cell size in pixels
	baseline     int // baseline offset from a cell's top
	descent      int
	line         int // light line thickness
	titleH       int // title bar height, 0 without a bar
}

// NewRenderer loads the fonts and computes the cell grid.
func NewRenderer(opts Options) (*Renderer, error) {
	if opts.FontSize <= 0 {
		opts.FontSize = 15
	}
	r := &Renderer{opts: opts, theme: opts.Theme}
	if r.theme == nil {
		r.theme = &DefaultTheme
	}
	var err error
	for i, ttf := range [][]byte{gomono.TTF, gomonobold.TTF, gomonoitalic.TTF, gomonobolditalic.TTF} {
		if r.styles[i], err = loadFace(ttf, 0, opts.FontSize); err != nil {
			return nil, err
		}
	}
	if r.title, err = loadFace(goregular.TTF, 0, math.Round(opts.FontSize*0.9)); err != nil {
		return nil, err
	}
	for _, path := range opts.Fallbacks {
		f, err := loadFile(path, opts.FontSize)
		if err != nil {
			if opts.SkipBadFallbacks {
				continue
			}
			return nil, fmt.Errorf("fallback font: %w", err)
		}
		r.fallbacks = append(r.fallbacks, f)
	}

	reg := r.styles[0].face
	adv, ok := reg.GlyphAdvance('M')
	if !ok {
		return nil, fmt.Errorf("font has no 'M'")
	}
	m := reg.Metrics()
	r.CellW = adv.Round()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	r.CellH = max(asc+desc, int(math.Ceil(opts.FontSize*1.2)))
	r.baseline = asc + (r.CellH-asc-desc)/2
	r.descent = desc
	r.line = max(1, int(math.Round(opts.FontSize/15)))
	if opts.Bar {
		r.titleH = int(math.Round(opts.FontSize * 2.2))
	}
	return r, nil
}

func loadFile(path string, size float64) (face, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return face{}, err
	}
	f, err := loadFace(data, 0, size)
	if err != nil {
		return face{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func loadFace(data []byte, index int, size float64) (face, error) {
	c, err := opentype.ParseCollection(data)
	if err != nil {
		return face{}, err
	}
	f, err := c.Font(index)
	if err != nil {
		return face{}, err
	}
	ff, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return face{}, err
	}
	return face{font: f, face: ff}, nil
}

func (r *Renderer) has(f face, ru rune) bool {
	i, err := f.font.GlyphIndex(&r.buf, ru)
	return err == nil && i != 0
}

// faceFor picks the face that draws ru in the given style: the Go Mono
// variant, else the first fallback font that has the rune.
func (r *Renderer) faceFor(ru rune, st Style) (font.Face, bool) {
	i := 0
	if st.Bold {
		i |= 1
	}
	if st.Italic {
		i |= 2
	}
	if r.has(r.styles[i], ru) {
		return r.styles[i].face, true
	}
	for _, f := range r.fallbacks {
		if r.has(f, ru) {
			return f.face, true
		}
	}
	return nil, false
}

// Size returns the grid and picture sizes used for scr.
func (r *Renderer) Size(scr *Screen) (cols, rows int, size image.Point) {
	cols, rows = r.opts.Cols, r.opts.Rows
	if cols <= 0 {
		cols = max(1, scr.Width())
	}
	if rows <= 0 {
		rows = max(1, len(scr.Lines))
	}
	p := r.opts.Padding
	return cols, rows, image.Pt(2*p+cols*r.CellW, r.titleH+2*p+rows*r.CellH)
}

// CellRect returns the pixel rectangle of the cell at (col, row).
func (r *Renderer) CellRect(col, row int) image.Rectangle {
	x := r.opts.Padding + col*r.CellW
	y := r.titleH + r.opts.Padding + row*r.CellH
	return image.Rect(x, y, x+r.CellW, y+r.CellH)
}

// Render draws scr as a terminal window.
func (r *Renderer) Render(scr *Screen) *image.RGBA {
	cols, rows, size := r.Size(scr)
	img := image.NewRGBA(image.Rectangle{Max: size})
	t := r.theme
	draw.Draw(img, img.Bounds(), image.NewUniform(t.BG), image.Point{}, draw.Src)
	if r.opts.Bar {
		r.drawBar(img)
	}

	blank := Cell{Text: " ", Width: 1}
	cellAt := func(line []Cell, col int) Cell {
		if col < len(line) {
			return line[col]
		}
		return blank
	}
	// Backgrounds first, so that glyphs that overhang their cell (italics)
	// are not cut by the next cell's background.
	for row := range rows {
		var line []Cell
		if row < len(scr.Lines) {
			line = scr.Lines[row]
		}
		for col := range cols {
			c := cellAt(line, col)
			if c.Width == 0 {
				continue
			}
			_, bg := t.Resolve(c.Style)
			rect := r.CellRect(col, row)
			if c.Width == 2 && col+1 < cols {
				rect.Max.X += r.CellW
			}
			draw.Draw(img, rect, image.NewUniform(bg), image.Point{}, draw.Src)
		}
	}
	for row := range min(rows, len(scr.Lines)) {
		line := scr.Lines[row]
		for col := range min(cols, len(line)) {
			c := line[col]
			if c.Width == 0 || (c.Width == 2 && col+1 >= cols) {
				continue // continuation, or a wide rune clipped at the edge
			}
			rect := r.CellRect(col, row)
			rect.Max.X = rect.Min.X + c.Width*r.CellW
			r.drawCell(img, rect, c)
		}
	}
	if r.opts.Radius > 0 {
		roundCorners(img, r.opts.Radius)
	}
	return img
}

func (r *Renderer) drawCell(img *image.RGBA, rect image.Rectangle, c Cell) {
	fg, _ := r.theme.Resolve(c.Style)
	text := c.Text
	if len(text) > 1 {
		text = norm.NFC.String(text) // e + U+0301 → é, which the font has
	}
	first, rest := firstRune(text)
	if first != ' ' || rest != "" {
		if !drawSpecial(img, rect, first, fg, r.line) {
			r.drawText(img, rect, first, rest, c.Style, fg)
		}
	}
	th := r.line
	if c.Style.Underline {
		y := rect.Min.Y + r.baseline + max(1, r.descent/3)
		y = min(y, rect.Max.Y-th)
		fill(img, image.Rect(rect.Min.X, y, rect.Max.X, y+th), fg)
	}
	if c.Style.Strike {
		y := rect.Min.Y + r.baseline - int(math.Round(r.opts.FontSize*0.3))
		fill(img, image.Rect(rect.Min.X, y, rect.Max.X, y+th), fg)
	}
}

func firstRune(s string) (rune, string) {
	for i, ru := range s {
		if i == 0 {
			return ru, s[len(string(ru)):]
		}
	}
	return ' ', ""
}

// drawText draws a rune and the zero-width runes attached to it. A glyph
// that no font has is drawn as an empty box.
func (r *Renderer) drawText(img *image.RGBA, rect image.Rectangle, first rune, rest string, st Style, fg color.RGBA) {
	f, ok := r.faceFor(first, st)
	if !ok {
		box := rect.Inset(max(1, r.CellW/6))
		box.Min.Y = rect.Min.Y + r.baseline - int(math.Round(r.opts.FontSize*0.7))
		box.Max.Y = rect.Min.Y + r.baseline
		strokeRect(img, box, mix(fg, r.theme.BG, 0.6))
		return
	}
	adv, _ := f.GlyphAdvance(first)
	x := fixed.I(rect.Min.X)
	if w := fixed.I(rect.Dx()); adv != w {
		x += (w - adv) / 2 // centre a glyph from a font with other metrics
	}
	d := font.Drawer{Dst: img, Src: image.NewUniform(fg), Face: f, Dot: fixed.Point26_6{X: x, Y: fixed.I(rect.Min.Y + r.baseline)}}
	d.DrawString(string(first))
	// Marks that did not compose: one with no advance is meant to be drawn
	// after the base; a spacing one is centred over the cell instead.
	end := d.Dot
	for _, ru := range rest {
		f, ok := r.faceFor(ru, st)
		if !ok {
			continue
		}
		d.Face, d.Dot = f, end
		if adv, _ := f.GlyphAdvance(ru); adv != 0 {
			d.Dot.X = fixed.I(rect.Min.X) + (fixed.I(rect.Dx())-adv)/2
		}
		d.DrawString(string(ru))
	}
}

func (r *Renderer) drawBar(img *image.RGBA) {
	t := r.theme
	w := img.Bounds().Dx()
	fill(img, image.Rect(0, 0, w, r.titleH), t.Bar)
	rad := math.Max(3, math.Round(r.opts.FontSize*0.4))
	cy := float64(r.titleH) / 2
	x := float64(r.opts.Padding) + rad
	for _, c := range t.Dots {
		disc(img, x, cy, rad, c)
		x += rad * 3.2
	}
	if r.opts.Title == "" {
		return
	}
	// Centre the title, shortened with an ellipsis if it would reach the dots.
	title := r.title.face
	limit := fixed.I(w - 2*int(x+rad))
	text := r.opts.Title
	for rs := []rune(text); font.MeasureString(title, text) > limit; {
		if len(rs) <= 1 {
			return
		}
		rs = rs[:len(rs)-1]
		text = string(rs) + "…"
	}
	m := title.Metrics()
	tw := font.MeasureString(title, text)
	d := font.Drawer{Dst: img, Src: image.NewUniform(t.BarText), Face: title}
	d.Dot.X = (fixed.I(w) - tw) / 2
	d.Dot.Y = fixed.I(r.titleH)/2 + (m.Ascent-m.Descent)/2
	d.DrawString(text)
}

// fill paints rect with c, replacing what is there.
func fill(img *image.RGBA, rect image.Rectangle, c color.RGBA) {
	draw.Draw(img, rect.Intersect(img.Bounds()), image.NewUniform(c), image.Point{}, draw.Src)
}

func strokeRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), c)
	fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), c)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), c)
	fill(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), c)
}

// blend paints c over the pixel at (x, y) with coverage a in [0, 1].
func blend(img *image.RGBA, x, y int, c color.RGBA, a float64) {
	if a <= 0 || !(image.Point{X: x, Y: y}).In(img.Bounds()) {
		return
	}
	if a >= 1 {
		img.SetRGBA(x, y, c)
		return
	}
	o := img.RGBAAt(x, y)
	f := func(s, d uint8) uint8 { return uint8(float64(s)*a + float64(d)*(1-a) + 0.5) }
	img.SetRGBA(x, y, color.RGBA{R: f(c.R, o.R), G: f(c.G, o.G), B: f(c.B, o.B), A: f(c.A, o.A)})
}

// disc draws an anti-aliased filled circle.
func disc(img *image.RGBA, cx, cy, rad float64, c color.RGBA) {
	for y := int(cy - rad - 1); y <= int(cy+rad+1); y++ {
		for x := int(cx - rad - 1); x <= int(cx+rad+1); x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			blend(img, x, y, c, clamp01(rad-d+0.5))
		}
	}
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

// roundCorners makes the outside of rounded window corners transparent.
func roundCorners(img *image.RGBA, rad int) {
	b := img.Bounds()
	rf := float64(rad)
	for y := 0; y < rad; y++ {
		for x := 0; x < rad; x++ {
			d := math.Hypot(rf-(float64(x)+0.5), rf-(float64(y)+0.5))
			a := clamp01(rf - d + 0.5)
			if a >= 1 {
				continue
			}
			for _, p := range []image.Point{{x, y}, {b.Max.X - 1 - x, y}, {x, b.Max.Y - 1 - y}, {b.Max.X - 1 - x, b.Max.Y - 1 - y}} {
				o := img.RGBAAt(p.X, p.Y)
				s := func(v uint8) uint8 { return uint8(float64(v)*a + 0.5) }
				img.SetRGBA(p.X, p.Y, color.RGBA{R: s(o.R), G: s(o.G), B: s(o.B), A: s(o.A)})
			}
		}
	}
}
