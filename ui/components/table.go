// Package components holds the console's reusable widgets. They carry no
// colours of their own: the styles come from the ui package's styles.go.
package components

import (
	"slices"
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

// Column describes one table column.
//
// Width is the natural width of a fixed column. A Flex column takes the
// width the others leave, at least Min (below that, lower-priority columns
// drop first) and at most Max when Max > 0: a capped column stops growing
// on a wide screen and its longer cells end in "…" (the full text belongs
// in the details).
//
// When the columns do not all fit, whole columns drop, least important
// first, until the rest fit at their widths:
//   - Priority > 0 ranks a column: the lowest Priority drops first;
//   - Drop > 0 is the older spelling: those columns drop before any ranked
//     by Priority, the highest Drop first;
//   - a column with neither (the zero value) is essential and never drops,
//     nor does the most important column of a table whose columns are all
//     ranked.
//
// Columns that set neither Priority nor Max lay out as before.
type Column struct {
	Title    string
	Width    int
	Min      int
	Max      int
	Flex     bool
	Priority int
	Drop     int
}

// dropOrder is the column's place in the order in which columns drop:
// lower goes first; ok is false for an essential column.
func (c Column) dropOrder() (order int, ok bool) {
	switch {
	case c.Priority > 0:
		return c.Priority, true
	case c.Drop > 0:
		return -c.Drop, true
	}
	return 0, false
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

// layout computes the column widths for the current width: it drops
// whole columns, least important first, until the rest fit, then gives the
// flexible columns the room left (up to their Max). A hidden column has
// width -1.
func (t *Table) layout() {
	n := len(t.Columns)
	t.widths = make([]int, n)
	avail := t.width - t.markWidth()
	hidden := make([]bool, n)

	// The most important column of a fully ranked table never drops.
	keep, keepOrder := -1, 0
	for i, c := range t.Columns {
		o, ok := c.dropOrder()
		if !ok {
			keep = -1
			break
		}
		if keep < 0 || o > keepOrder {
			keep, keepOrder = i, o
		}
	}

	for {
		need, shown := 0, 0
		for i, c := range t.Columns {
			if hidden[i] {
				continue
			}
			shown++
			if c.Flex {
				need += c.minWidth()
			} else {
				need += c.fixedWidth()
			}
		}
		need += gap * max(0, shown-1)
		if need <= avail {
			break
		}
		drop, dropOrder := -1, 0
		for i, c := range t.Columns {
			o, ok := c.dropOrder()
			if hidden[i] || !ok || i == keep {
				continue
			}
			// Equal ranks drop left to right.
			if drop < 0 || o < dropOrder {
				drop, dropOrder = i, o
			}
		}
		if drop < 0 {
			break
		}
		hidden[drop] = true
	}

	used, shown := 0, 0
	var flex []int
	for i, c := range t.Columns {
		if hidden[i] {
			t.widths[i] = -1
			continue
		}
		shown++
		if c.Flex {
			flex = append(flex, i)
			continue
		}
		t.widths[i] = c.fixedWidth()
		used += t.widths[i]
	}
	used += gap * max(0, shown-1)
	t.shareFlex(flex, avail-used)

	// Essential columns wider than the table: narrow the rightmost ones
	// (their cells end in "…") so that no line is wider than the table.
	total := gap * max(0, shown-1)
	for _, w := range t.widths {
		total += max(0, w)
	}
	for i := n - 1; i >= 0 && total > avail; i-- {
		if t.widths[i] <= 1 {
			continue
		}
		cut := min(total-avail, t.widths[i]-1)
		t.widths[i] -= cut
		total -= cut
	}
}

// shareFlex splits room between the flexible columns: evenly, none above
// its Max, none below its floor. With nothing left for them they keep the
// floor and the last step of layout narrows the table to fit.
func (t *Table) shareFlex(flex []int, room int) {
	if len(flex) == 0 {
		return
	}
	for _, i := range flex {
		t.widths[i] = t.Columns[i].floorWidth()
		room -= t.widths[i]
	}
	open := slices.Clone(flex)
	for room > 0 && len(open) > 0 {
		share := max(1, room/len(open))
		next := open[:0]
		for _, i := range open {
			if room == 0 {
				next = append(next, i)
				continue
			}
			add := min(share, room)
			if m := t.Columns[i].Max; m > 0 {
				add = min(add, max(0, m-t.widths[i]))
			}
			t.widths[i] += add
			room -= add
			if m := t.Columns[i].Max; m == 0 || t.widths[i] < m {
				next = append(next, i)
			}
		}
		open = next
	}
}

// fixedWidth is the width of a fixed column: its Width, or its title's.
func (c Column) fixedWidth() int { return max(c.Width, ansi.StringWidth(c.Title)) }

// minWidth is the width a flexible column needs before others drop.
func (c Column) minWidth() int { return max(c.Min, ansi.StringWidth(c.Title)) }

// floorWidth is the narrowest a flexible column gets when nothing is left
// to drop: its title, and 8 cells (so a name stays recognisable), but never
// above its Max.
func (c Column) floorWidth() int {
	f := max(ansi.StringWidth(c.Title), 8)
	if c.Max > 0 {
		f = min(f, max(c.Max, ansi.StringWidth(c.Title)))
	}
	return f
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
	// Pad, or cut a table narrower than its essential columns.
	return Pad(line, t.width)
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
