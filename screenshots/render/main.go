// Command render turns the output of `tmux capture-pane -p -e` (text with
// ANSI SGR escape sequences) into a PNG that looks like a terminal window.
//
// Usage:
//
//	go run ./screenshots/render -o out.png [-title "kmsconsole — secrets"] [-cols 120 -rows 40] < capture.ansi
//
// The grid defaults to the widest line and the number of lines; longer
// lines are clipped and missing lines are blank. Text is set in Go Mono;
// runes it lacks are looked up in the -fallback fonts and otherwise drawn
// as an empty box.
//
// tmux capture-pane drops trailing spaces, and with them a background colour
// that runs to the end of a line (a selection bar, a status line); add -N to
// keep them: `tmux capture-pane -p -e -N -t PANE > capture.ansi`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"strings"
)

// autoFallbacks are fonts used for runes Go Mono lacks, when present: more
// symbols (DejaVu) and CJK ideographs.
var autoFallbacks = []string{
	"/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
}

// maxSide bounds the picture, so that a stray long line cannot ask for a
// gigantic image.
const maxSide = 20000

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output PNG file (- for standard output)")
	fs.StringVar(&opts.Title, "title", "", "window title")
	fs.BoolVar(&opts.Bar, "bar", opts.Bar, "draw a window title bar with three dots")
	fs.IntVar(&opts.Cols, "cols", 0, "columns (default: the widest line)")
	fs.IntVar(&opts.Rows, "rows", 0, "rows (default: the number of lines)")
	fs.Float64Var(&opts.FontSize, "size", opts.FontSize, "font size in pixels")
	fs.IntVar(&opts.Padding, "pad", opts.Padding, "padding around the text in pixels")
	fs.IntVar(&opts.Radius, "radius", opts.Radius, "window corner radius in pixels (0: square)")
	trim := fs.Bool("trim", false, "drop blank lines at the end of the capture")
	fallback := fs.String("fallback", "auto", "fonts for runes Go Mono lacks: auto, none, or comma-separated font files")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: render -o out.png [flags] [capture.ansi] (reads standard input without a file)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("-o is required")
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("at most one input file")
	}
	switch *fallback {
	case "auto":
		opts.SkipBadFallbacks = true // x/image cannot read every font file
		for _, f := range autoFallbacks {
			if _, err := os.Stat(f); err == nil {
				opts.Fallbacks = append(opts.Fallbacks, f)
			}
		}
	case "none", "":
	default:
		opts.Fallbacks = strings.Split(*fallback, ",")
	}

	var in []byte
	var err error
	if fs.NArg() == 1 {
		in, err = os.ReadFile(fs.Arg(0))
	} else {
		in, err = io.ReadAll(stdin)
	}
	if err != nil {
		return err
	}
	scr := Parse(string(in))
	if *trim {
		scr.TrimBottom()
	}
	r, err := NewRenderer(opts)
	if err != nil {
		return err
	}
	if _, _, size := r.Size(scr); size.X > maxSide || size.Y > maxSide {
		return fmt.Errorf("picture would be %dx%d pixels; limit the grid with -cols and -rows", size.X, size.Y)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, r.Render(scr)); err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

// TrimBottom drops the blank lines at the end of the screen. A line is
// blank when every cell is a space with the default background.
func (s *Screen) TrimBottom() {
	for n := len(s.Lines); n > 0; n-- {
		for _, c := range s.Lines[n-1] {
			if (c.Text != " " && c.Width != 0) || c.Style.BG != (Color{}) || c.Style.Reverse {
				s.Lines = s.Lines[:n]
				return
			}
		}
	}
	s.Lines = nil
}
