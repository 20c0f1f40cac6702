package components

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// BarStyles style a progress bar.
type BarStyles struct {
	Full  lipgloss.Style
	Empty lipgloss.Style
	Text  lipgloss.Style
}

// Bar renders done/total as a bar w cells wide followed by "done/total".
// The bar itself uses two glyphs, so it reads without colour too.
func Bar(st BarStyles, done, total, w int) string {
	label := " " + itoa(done) + "/" + itoa(total)
	bw := max(1, w-len(label))
	full := 0
	if total > 0 {
		full = bw * done / total
	}
	return st.Full.Render(strings.Repeat("█", full)) + st.Empty.Render(strings.Repeat("░", bw-full)) + st.Text.Render(label)
}
