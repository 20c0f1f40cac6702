package main

import (
	"image"
	"image/color"
	"math"
)

// Box drawing (U+2500–U+257F), block elements (U+2580–U+259F) and braille
// (U+2800–U+28FF) are drawn from geometry rather than from the font, as
// terminals do: lines then join seamlessly across cells whatever the line
// height, and runes that Go Mono lacks (rounded corners, heavy lines,
// eighth blocks, braille spinners) still appear.

// boxArms gives, for U+2500+i, the weight of the arm going left, right, up
// and down: 0 none, 1 light, 2 heavy, 3 double. "" marks a rune drawn
// otherwise (dashes, arcs, diagonals).
var boxArms = [0x80]string{
	"1100", "2200", "0011", "0022", "", "", "", "", "", "", "", "", "0101", "0201", "0102", "0202",
	"1001", "2001", "1002", "2002", "0110", "0210", "0120", "0220", "1010", "2010", "1020", "2020", "0111", "0211", "0121", "0112",
	"0122", "0221", "0212", "0222", "1011", "2011", "1021", "1012", "1022", "2021", "2012", "2022", "1101", "2101", "1201", "2201",
	"1102", "2102", "1202", "2202", "1110", "2110", "1210", "2210", "1120", "2120", "1220", "2220", "1111", "2111", "1211", "2211",
	"1121", "1112", "1122", "2121", "1221", "2112", "1212", "2221", "2212", "2122", "1222", "2222", "", "", "", "",
	"3300", "0033", "0301", "0103", "0303", "3001", "1003", "3003", "0310", "0130", "0330", "3010", "1030", "3030", "0311", "0133",
	"0333", "3011", "1033", "3033", "3301", "1103", "3303", "3310", "1130", "3330", "3311", "1133", "3333", "", "", "",
	"", "", "", "", "1000", "0010", "0100", "0001", "2000", "0020", "0200", "0002", "1200", "0012", "2100", "0021",
}

// painter fills rectangles in one cell, optionally transposed so that the
// code for horizontal arms also draws vertical ones.
type painter struct {
	img *image.RGBA
	r   image.Rectangle
	c   color.RGBA
	tr  bool
}

func (p painter) w() int {
	if p.tr {
		return p.r.Dy()
	}
	return p.r.Dx()
}

func (p painter) h() int {
	if p.tr {
		return p.r.Dx()
	}
	return p.r.Dy()
}

func (p painter) rect(x0, y0, x1, y1 int) {
	if p.tr {
		x0, y0, x1, y1 = y0, x0, y1, x1
	}
	fill(p.img, image.Rect(p.r.Min.X+x0, p.r.Min.Y+y0, p.r.Min.X+x1, p.r.Min.Y+y1).Intersect(p.r), p.c)
}

func (p painter) transposed() painter {
	p.tr = !p.tr
	return p
}

// lo and hi bound a line of thickness t centred on pixel c: [lo, hi).
func lo(c, t int) int { return c - t/2 }
func hi(c, t int) int { return c - t/2 + t }

// drawSpecial draws r if it is a rune drawn from geometry and reports
// whether it did. t is the light line thickness.
func drawSpecial(img *image.RGBA, rect image.Rectangle, r rune, fg color.RGBA, t int) bool {
	p := painter{img: img, r: rect, c: fg}
	switch {
	case r >= 0x2500 && r <= 0x257f:
		drawBox(p, r, t)
	case r >= 0x2580 && r <= 0x259f:
		drawBlock(p, r)
	case r >= 0x2800 && r <= 0x28ff:
		drawBraille(p, r)
	default:
		return false
	}
	return true
}

func drawBox(p painter, r rune, t int) {
	heavy := 2 * t
	i := int(r - 0x2500)
	switch {
	case i >= 0x04 && i <= 0x0b, i >= 0x4c && i <= 0x4f:
		var n int
		switch {
		case i <= 0x07:
			n = 3
		case i <= 0x0b:
			n = 4
		default:
			n = 2
		}
		th := t
		if i%2 == 1 {
			th = heavy
		}
		q := p
		if i%4 >= 2 {
			q = p.transposed()
		}
		dashes(q, n, th)
		return
	case i >= 0x6d && i <= 0x70:
		arc(p, i-0x6d, t)
		return
	case i >= 0x71 && i <= 0x73:
		if i != 0x72 {
			diagonal(p, true, t)
		}
		if i != 0x71 {
			diagonal(p, false, t)
		}
		return
	}
	a := boxArms[i]
	l, rt, u, d := int(a[0]-'0'), int(a[1]-'0'), int(a[2]-'0'), int(a[3]-'0')
	g := max(t+1, int(math.Round(float64(min(p.w(), p.h()))*0.2)))
	hArms(p, l, rt, u, d, t, heavy, g)
	hArms(p.transposed(), u, d, l, rt, t, heavy, g)
}

// hArms draws the left and right arms (weights l and r) of a box-drawing
// rune whose up and down arms have weights u and d. Called on a transposed
// painter with the arms rotated, it draws the vertical arms.
func hArms(p painter, l, r, u, d, t, heavy, g int) {
	w, h := p.w(), p.h()
	cx, cy := w/2, h/2
	thick := func(weight int) int {
		if weight == 2 {
			return heavy
		}
		return t
	}
	vDouble := u == 3 || d == 3
	vt := 0 // thickness of the single or heavy vertical arms
	for _, v := range []int{u, d} {
		if v == 1 || v == 2 {
			vt = max(vt, thick(v))
		}
	}
	for side, wgt := range []int{l, r} {
		if wgt == 0 {
			continue
		}
		right := side == 1
		other := l
		if !right {
			other = r
		}
		if wgt != 3 {
			th := thick(wgt)
			var x0, x1 int
			if right {
				switch {
				case vDouble && u == 3 && d == 3 && other == 0:
					x0 = lo(cx+g, t)
				case vDouble:
					x0 = lo(cx-g, t)
				case vt > 0:
					x0 = lo(cx, vt)
				default:
					x0 = lo(cx, th)
				}
				x1 = w
			} else {
				switch {
				case vDouble && u == 3 && d == 3 && other == 0:
					x1 = hi(cx-g, t)
				case vDouble:
					x1 = hi(cx+g, t)
				case vt > 0:
					x1 = hi(cx, vt)
				default:
					x1 = hi(cx, th)
				}
			}
			p.rect(x0, lo(cy, th), x1, hi(cy, th))
			continue
		}
		// Double arm: two light lines, the upper meeting the up arm and the
		// lower meeting the down arm.
		for k, perp := range []int{u, d} {
			y := cy - g
			if k == 1 {
				y = cy + g
			}
			var x0, x1 int
			if right {
				switch {
				case vDouble && perp == 3:
					x0 = lo(cx+g, t)
				case vDouble && other == 3:
					x0 = cx
				case vDouble:
					x0 = lo(cx-g, t)
				case vt > 0:
					x0 = lo(cx, vt)
				default:
					x0 = cx
				}
				x1 = w
			} else {
				switch {
				case vDouble && perp == 3:
					x1 = hi(cx-g, t)
				case vDouble && other == 3:
					x1 = cx
				case vDouble:
					x1 = hi(cx+g, t)
				case vt > 0:
					x1 = hi(cx, vt)
				default:
					x1 = cx
				}
			}
			p.rect(x0, lo(y, t), x1, hi(y, t))
		}
	}
}

// dashes draws n dashes along the horizontal centre line.
func dashes(p painter, n, th int) {
	w, cy := float64(p.w()), p.h()/2
	seg := w / float64(n)
	gap := math.Max(1, math.Round(seg*0.3))
	for k := range n {
		x0 := int(math.Round(float64(k)*seg + gap/2))
		x1 := int(math.Round(float64(k+1)*seg - gap/2))
		p.rect(x0, lo(cy, th), max(x1, x0+1), hi(cy, th))
	}
}

// arc draws a rounded corner: k is 0 ╭, 1 ╮, 2 ╯, 3 ╰.
func arc(p painter, k, t int) {
	w, h := p.r.Dx(), p.r.Dy()
	lx := float64(lo(w/2, t)) + float64(t)/2 // centre of the vertical line
	ly := float64(lo(h/2, t)) + float64(t)/2 // centre of the horizontal line
	rad := math.Min(math.Min(lx, float64(w)-lx), math.Min(ly, float64(h)-ly))
	sx, sy := 1.0, 1.0 // direction of the horizontal and vertical arms
	if k == 1 || k == 2 {
		sx = -1
	}
	if k == 2 || k == 3 {
		sy = -1
	}
	ox, oy := lx+sx*rad, ly+sy*rad
	half := float64(t) / 2
	for y := range h {
		for x := range w {
			px, py := float64(x)+0.5, float64(y)+0.5
			inX := (px-ox)*sx >= 0 // beyond the arc, on the horizontal arm's side
			inY := (py-oy)*sy >= 0
			var cov float64
			switch {
			case inX && !inY:
				cov = clamp01(half + 0.5 - math.Abs(py-ly))
			case inY && !inX:
				cov = clamp01(half + 0.5 - math.Abs(px-lx))
			case !inX && !inY:
				cov = clamp01(half + 0.5 - math.Abs(math.Hypot(px-ox, py-oy)-rad))
			}
			blend(p.img, p.r.Min.X+x, p.r.Min.Y+y, p.c, cov)
		}
	}
}

// diagonal draws ╱ (rising) or ╲ corner to corner.
func diagonal(p painter, rising bool, t int) {
	w, h := float64(p.r.Dx()), float64(p.r.Dy())
	n := math.Hypot(w, h)
	for y := range p.r.Dy() {
		for x := range p.r.Dx() {
			px, py := float64(x)+0.5, float64(y)+0.5
			if rising {
				py = h - py
			}
			dist := math.Abs(px*h-py*w) / n
			blend(p.img, p.r.Min.X+x, p.r.Min.Y+y, p.c, clamp01(float64(t)/2+0.5-dist))
		}
	}
}

func drawBlock(p painter, r rune) {
	w, h := p.r.Dx(), p.r.Dy()
	eighthY := func(k int) int { return int(math.Round(float64(h) * float64(k) / 8)) }
	eighthX := func(k int) int { return int(math.Round(float64(w) * float64(k) / 8)) }
	cx, cy := w/2, h/2
	switch {
	case r == 0x2580: // ▀
		p.rect(0, 0, w, cy)
	case r >= 0x2581 && r <= 0x2588: // ▁ … █
		p.rect(0, h-eighthY(int(r-0x2580)), w, h)
	case r >= 0x2589 && r <= 0x258f: // ▉ … ▏
		p.rect(0, 0, eighthX(int(0x2590-r)), h)
	case r == 0x2590: // ▐
		p.rect(cx, 0, w, h)
	case r >= 0x2591 && r <= 0x2593: // ░ ▒ ▓
		a := float64(r-0x2590) / 4
		for y := p.r.Min.Y; y < p.r.Max.Y; y++ {
			for x := p.r.Min.X; x < p.r.Max.X; x++ {
				blend(p.img, x, y, p.c, a)
			}
		}
	case r == 0x2594: // ▔
		p.rect(0, 0, w, eighthY(1))
	case r == 0x2595: // ▕
		p.rect(w-eighthX(1), 0, w, h)
	default: // quadrants ▖ … ▟: bits are upper-left, upper-right, lower-left, lower-right
		quads := [...]uint8{0b0010, 0b0001, 0b1000, 0b1011, 0b1001, 0b1110, 0b1101, 0b0100, 0b0110, 0b0111}
		q := quads[r-0x2596]
		if q&0b1000 != 0 {
			p.rect(0, 0, cx, cy)
		}
		if q&0b0100 != 0 {
			p.rect(cx, 0, w, cy)
		}
		if q&0b0010 != 0 {
			p.rect(0, cy, cx, h)
		}
		if q&0b0001 != 0 {
			p.rect(cx, cy, w, h)
		}
	}
}

// drawBraille draws the dots of a braille pattern on a 2×4 grid.
func drawBraille(p painter, r rune) {
	bits := int(r - 0x2800)
	w, h := float64(p.r.Dx()), float64(p.r.Dy())
	rad := math.Max(0.8, math.Min(w/4, h/8)*0.75)
	// Dot numbers 1–8 by bit: 1,2,3 and 7 down the left column, 4,5,6 and 8
	// down the right.
	pos := [8][2]int{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {0, 3}, {1, 3}}
	for b, cr := range pos {
		if bits&(1<<b) == 0 {
			continue
		}
		x := float64(p.r.Min.X) + w*float64(2*cr[0]+1)/4
		y := float64(p.r.Min.Y) + h*float64(2*cr[1]+1)/8
		disc(p.img, x, y, rad, p.c)
	}
}
