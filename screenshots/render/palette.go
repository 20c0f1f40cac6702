package main

import "image/color"

// Theme holds the colours of the window and the terminal.
type Theme struct {
	FG, BG   color.RGBA // default foreground and background
	Bar      color.RGBA // title bar background
	BarText  color.RGBA // title text
	Dots     [3]color.RGBA
	ANSI     [16]color.RGBA // colours 0–15
	FaintMix float64        // weight of the foreground in a faint colour
}

func rgb(v uint32) color.RGBA {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// DefaultTheme is a dark window (#1e1e2e) with xterm's standard 16 colours,
// except that blue (xterm's #0000ee, which is hard to read on a dark
// background) is #2472c8 as in VS Code's terminal.
var DefaultTheme = Theme{
	FG:      rgb(0xcdd6f4),
	BG:      rgb(0x1e1e2e),
	Bar:     rgb(0x181825),
	BarText: rgb(0xa6adc8),
	Dots:    [3]color.RGBA{rgb(0xff5f57), rgb(0xfebc2e), rgb(0x28c840)},
	ANSI: [16]color.RGBA{
		rgb(0x000000), rgb(0xcd0000), rgb(0x00cd00), rgb(0xcdcd00),
		rgb(0x2472c8), rgb(0xcd00cd), rgb(0x00cdcd), rgb(0xe5e5e5),
		rgb(0x7f7f7f), rgb(0xff0000), rgb(0x00ff00), rgb(0xffff00),
		rgb(0x5c5cff), rgb(0xff00ff), rgb(0x00ffff), rgb(0xffffff),
	},
	FaintMix: 0.6,
}

// Palette returns colour i of the xterm 256-colour palette: the theme's 16
// colours, then the 6×6×6 cube, then 24 greys.
func (t *Theme) Palette(i uint8) color.RGBA {
	switch {
	case i < 16:
		return t.ANSI[i]
	case i < 232:
		n := int(i) - 16
		level := func(v int) uint8 {
			if v == 0 {
				return 0
			}
			return uint8(55 + 40*v)
		}
		return color.RGBA{R: level(n / 36), G: level(n / 6 % 6), B: level(n % 6), A: 0xff}
	default:
		g := uint8(8 + 10*(int(i)-232))
		return color.RGBA{R: g, G: g, B: g, A: 0xff}
	}
}

func (t *Theme) color(c Color, def color.RGBA) color.RGBA {
	switch c.Mode {
	case ColorIndexed:
		return t.Palette(c.Index)
	case ColorRGB:
		return color.RGBA{R: c.R, G: c.G, B: c.B, A: 0xff}
	default:
		return def
	}
}

// Resolve returns the colours a cell with style st is painted in: reverse
// video swaps the resolved foreground and background (so a reversed cell
// with default colours is light on dark inverted), faint mixes the
// foreground towards the background, hidden paints the foreground in the
// background colour.
func (t *Theme) Resolve(st Style) (fg, bg color.RGBA) {
	fg = t.color(st.FG, t.FG)
	bg = t.color(st.BG, t.BG)
	if st.Reverse {
		fg, bg = bg, fg
	}
	if st.Faint {
		fg = mix(fg, bg, t.FaintMix)
	}
	if st.Hidden {
		fg = bg
	}
	return fg, bg
}

// mix returns a*w + b*(1-w).
func mix(a, b color.RGBA, w float64) color.RGBA {
	f := func(x, y uint8) uint8 { return uint8(float64(x)*w + float64(y)*(1-w) + 0.5) }
	return color.RGBA{R: f(a.R, b.R), G: f(a.G, b.G), B: f(a.B, b.B), A: 0xff}
}
