// Package components holds the console's reusable widgets. They carry no
// colours of their own: the styles come from the ui package's styles.go.
package components

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"kmsconsole/model"
)

// TableStyles style a Table.
type TableStyles struct {
	Header   lipgloss.Style
	Cell     lipgloss.Style
	Cursor   lipgloss.Style // the whole cursor row
	Selected lipgloss.Style // the selection mark
	Empty    lipgloss.Style
}

// Column describes one table column. Width is the natural width; the Flex
// column takes what is left (at least Min). Columns with a Drop rank are
// hidden, highest rank first, when the table is too narrow.
type Column struct {
	Title string
	Width int
	Min   int
	Flex  bool
	Drop  int
}

// Cell is one rendered cell: its text and style. Text is plain text, often
// from outside (names, labels, host output): the table draws it through
// model.SafeText, so a cell cannot carry an escape sequence to the terminal.
type Cell struct {
	Text  string
	Style lipgloss.Style
}

// Table is a virtual table over n rows: it asks for the cells of the rows
// it shows and nothing else, so 10,000 rows cost as much as 30.
type Table struct {
	Styles  TableStyles
	Columns []Column
	// Row returns the cells of row i, one per column.
	Row func(i int) []Cell
	// Mark returns the selection mark of row i (nil: no mark column).
	Mark func(i int) bool
	// EmptyText is shown when there are no rows.
	EmptyText string

	n              int
	cursor, offset int
	width, height  int
	widths         []int
}

const gap = 2

// SetSize sets the outer size (header line included).
func (t *Table) SetSize(w, h int) {
	t.width, t.height = w, h
	t.layout()
	t.clamp()
}

// SetColumns replaces the columns and lays them out again.
func (t *Table) SetColumns(cols []Column) {
	t.Columns = cols
	t.layout()
}

// SetRows sets the number of rows, keeping the cursor in range.
func (t *Table) SetRows(n int) {
	t.n = n
	t.clamp()
}

// Len is the number of rows.
func (t *Table) Len() int { return t.n }

// Cursor is the index of the cursor row (0 when empty).
func (t *Table) Cursor() int { return t.cursor }

// SetCursor moves the cursor to row i.
func (t *Table) SetCursor(i int) {
	t.cursor = i
	t.clamp()
}

// Move moves the cursor by d rows.
func (t *Table) Move(d int) { t.SetCursor(t.cursor + d) }

// Page moves the cursor by d pages.
func (t *Table) Page(d int) { t.Move(d * max(1, t.visible()-1)) }

// Home and End jump to the first and last row.
func (t *Table) Home() { t.SetCursor(0) }
func (t *Table) End()  { t.SetCursor(t.n - 1) }

func (t *Table) visible() int { return max(0, t.height-1) }

func (t *Table) clamp() {
	if t.cursor >= t.n {
		t.cursor = t.n - 1
	}
	if t.cursor < 0 {
		t.cursor = 0
	}
	v := t.visible()
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if v > 0 && t.cursor >= t.offset+v {
		t.offset = t.cursor - v + 1
	}
	if t.offset > max(0, t.n-v) {
		t.offset = max(0, t.n-v)
	}
	if t.offset < 0 {
		t.offset = 0
	}
}

func (t *Table) markWidth() int {
	if t.Mark == nil {
		return 2 // the cursor mark
	}
	return 3
}

// layout computes the column widths for the current width, hiding
// droppable columns until the rest fits.
func (t *Table) layout() {
	t.widths = make([]int, len(t.Columns))
	avail := t.width - t.markWidth()
	hidden := make([]bool, len(t.Columns))
	for {
		need, flexMin := 0, 0
		shown := 0
		for i, c := range t.Columns {
			if hidden[i] {
				continue
			}
			shown++
			if c.Flex {
				flexMin += max(c.Min, len(c.Title))
			} else {
				need += max(c.Width, ansi.StringWidth(c.Title))
			}
		}
		need += flexMin + gap*max(0, shown-1)
		if need <= avail {
			break
		}
		drop, rank := -1, 0
		for i, c := range t.Columns {
			if !hidden[i] && c.Drop > rank {
				drop, rank = i, c.Drop
			}
		}
		if drop < 0 {
			break
		}
		hidden[drop] = true
	}
	used, shown, flex := 0, 0, -1
	for i, c := range t.Columns {
		if hidden[i] {
			t.widths[i] = -1
			continue
		}
		shown++
		if c.Flex {
			flex = i
			continue
		}
		t.widths[i] = max(c.Width, ansi.StringWidth(c.Title))
		used += t.widths[i]
	}
	used += gap * max(0, shown-1)
	if flex >= 0 {
		// Min decides what to drop; when nothing is left to drop the
		// flex column shrinks below it rather than push the table out.
		t.widths[flex] = max(avail-used, len(t.Columns[flex].Title), 8)
	}
}

// View renders the header and the visible rows, exactly width×height.
func (t *Table) View() string {
	if t.width <= 0 || t.height <= 0 {
		return ""
	}
	lines := make([]string, 0, t.height)
	var hb strings.Builder
	hb.WriteString(strings.Repeat(" ", t.markWidth()))
	first := true
	for i, c := range t.Columns {
		if t.widths[i] < 0 {
			continue
		}
		if !first {
			hb.WriteString(strings.Repeat(" ", gap))
		}
		first = false
		hb.WriteString(fit(strings.ToUpper(c.Title), t.widths[i]))
	}
	lines = append(lines, t.Styles.Header.Render(fit(hb.String(), t.width)))
	if t.n == 0 {
		if t.EmptyText != "" && t.height > 1 {
			lines = append(lines, t.Styles.Empty.Render(fit("  "+t.EmptyText, t.width)))
		}
	}
	end := min(t.n, t.offset+t.visible())
	for i := t.offset; i < end; i++ {
		lines = append(lines, t.renderRow(i))
	}
	for len(lines) < t.height {
		lines = append(lines, strings.Repeat(" ", t.width))
	}
	return strings.Join(lines, "\n")
}

func (t *Table) renderRow(i int) string {
	cells := t.Row(i)
	cur := i == t.cursor
	var b strings.Builder
	mark := " "
	if cur {
		mark = "▸"
	}
	if t.Mark != nil {
		if t.Mark(i) {
			mark += "✓ "
		} else {
			mark += "  "
		}
	} else {
		mark += " "
	}
	if cur {
		// The cursor row is one style across: the mark says it even
		// without colour.
		b.WriteString(mark)
	} else if t.Mark != nil && t.Mark(i) {
		b.WriteString(t.Styles.Selected.Render(mark))
	} else {
		b.WriteString(mark)
	}
	first := true
	for c := range t.Columns {
		if t.widths[c] < 0 {
			continue
		}
		if !first {
			b.WriteString(strings.Repeat(" ", gap))
		}
		first = false
		var cell Cell
		if c < len(cells) {
			cell = cells[c]
		}
		text := fit(cell.Text, t.widths[c])
		if cur {
			b.WriteString(text)
		} else {
			b.WriteString(cell.Style.Render(text))
		}
	}
	line := b.String()
	if cur {
		return t.Styles.Cursor.Render(fit(line, t.width))
	}
	if w := ansi.StringWidth(line); w < t.width {
		line += strings.Repeat(" ", t.width-w)
	}
	return line
}

// fit truncates s (plain text) with an ellipsis or pads it to w cells. s
// is drawn through model.SafeText first: table cells, labels and one-line
// fields from outside show their control characters (ESC as ␛) instead of
// sending them to the terminal, and are measured as they are drawn.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = model.SafeText(s)
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-sw)
}

// Fit is fit for other packages: truncate or pad plain text to w cells,
// control characters made visible.
func Fit(s string, w int) string { return fit(s, w) }
