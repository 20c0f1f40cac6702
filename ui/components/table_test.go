package components

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// newTable builds a table of rows whose cells are the column's title
// repeated past any width, except for the names given.
func newTable(cols []Column, names []string, mark bool, w, h int) *Table {
	t := &Table{Columns: cols}
	t.Row = func(i int) []Cell {
		cells := make([]Cell, len(cols))
		for c, col := range cols {
			text := strings.Repeat("x", col.Width)
			if col.Flex {
				text = names[i]
			}
			cells[c] = Cell{Text: text}
		}
		return cells
	}
	if mark {
		t.Mark = func(i int) bool { return i%2 == 0 }
	}
	t.SetColumns(cols)
	t.SetSize(w, h)
	t.SetRows(len(names))
	return t
}

// shownColumns reads the column titles off the header line.
func shownColumns(t *Table) []string {
	header := strings.SplitN(ansi.Strip(t.View()), "\n", 2)[0]
	var titles []string
	for _, c := range t.Columns {
		if strings.Contains(header, strings.ToUpper(c.Title)) {
			titles = append(titles, c.Title)
		}
	}
	return titles
}

// checkLines asserts every line of the view is exactly w cells.
func checkLines(t *testing.T, tb *Table, w int) {
	t.Helper()
	for i, l := range strings.Split(tb.View(), "\n") {
		if lw := ansi.StringWidth(l); lw != w {
			t.Errorf("line %d is %d cells, want %d: %q", i, lw, w, ansi.Strip(l))
		}
	}
}

// The secrets list as ui/secrets.go lays it out, with the recommended
// priorities: NAME and STATUS are essential, NAME is capped.
func secretsColumns(statusW int, wide bool) []Column {
	dateW := 10
	if wide {
		dateW = 16
	}
	return []Column{
		{Title: "Name", Flex: true, Min: 24, Max: 48},
		{Title: "Type", Width: len("Managed ECS secret"), Priority: 3},
		{Title: "Status", Width: statusW},
		{Title: "Auto rotation", Width: len("Enabled · 30d"), Priority: 4},
		{Title: "Last rotation", Width: dateW, Priority: 1},
		{Title: "Next rotation", Width: dateW, Priority: 2},
	}
}

// The instances list (ui/instances.go) with the recommended priorities.
func instancesColumns() []Column {
	return []Column{
		{Title: "Instance", Width: 14},
		{Title: "Name", Flex: true, Min: 10, Max: 32, Priority: 4},
		{Title: "Address", Width: 21, Priority: 5},
		{Title: "Admin", Width: 10, Priority: 2},
		{Title: "Secrets", Width: 7, Priority: 3},
		{Title: "Reachability", Width: 18},
		{Title: "Host key fingerprint", Width: 50, Priority: 1},
	}
}

var longName = "team/payments/" + strings.Repeat("very-long-service-name/", 6) + "webhook-secret"

func TestTablePrioritiesSecrets(t *testing.T) {
	names := []string{"db/prod/password", longName, "中文名称/数据库/密码"}
	for _, c := range []struct {
		w       int
		statusW int
		want    []string
		nameW   int
	}{
		// 28: "Pending deletion (in 7 days)" is in the list.
		{60, 28, []string{"Name", "Status"}, 27},
		{80, 28, []string{"Name", "Status", "Auto rotation"}, 31},
		{120, 28, []string{"Name", "Type", "Status", "Auto rotation", "Next rotation"}, 36},
		{200, 28, []string{"Name", "Type", "Status", "Auto rotation", "Last rotation", "Next rotation"}, 48},
		// 15: the widest status is "Rotation failed".
		{60, 15, []string{"Name", "Status", "Auto rotation"}, 24},
		{80, 15, []string{"Name", "Type", "Status", "Auto rotation"}, 24},
	} {
		t.Run(fmt.Sprintf("%d/status%d", c.w, c.statusW), func(t *testing.T) {
			tb := newTable(secretsColumns(c.statusW, c.w >= 140), names, true, c.w, 6)
			if got := shownColumns(tb); !slices.Equal(got, c.want) {
				t.Errorf("columns %q, want %q", got, c.want)
			}
			if tb.widths[0] != c.nameW {
				t.Errorf("NAME is %d cells, want %d", tb.widths[0], c.nameW)
			}
			checkLines(t, tb, c.w)
			// The long name is cut to the column and ends in "…"; the
			// full name is for the details.
			row := ansi.Strip(strings.Split(tb.View(), "\n")[2])
			cell := ansi.Cut(row, 3, 3+tb.widths[0])
			if !strings.HasSuffix(cell, "…") || ansi.StringWidth(cell) != tb.widths[0] {
				t.Errorf("long name cell %q (%d cells): want %d cells ending in …", cell, ansi.StringWidth(cell), tb.widths[0])
			}
		})
	}
}

func TestTablePrioritiesInstances(t *testing.T) {
	names := []string{"web1", "a-very-long-instance-name-given-by-an-operator-with-time"}
	for _, c := range []struct {
		w     int
		want  []string
		nameW int
	}{
		{60, []string{"Instance", "Address", "Reachability"}, -1},
		{80, []string{"Instance", "Name", "Address", "Secrets", "Reachability"}, 10},
		{120, []string{"Instance", "Name", "Address", "Admin", "Secrets", "Reachability"}, 32},
		{200, []string{"Instance", "Name", "Address", "Admin", "Secrets", "Reachability", "Host key fingerprint"}, 32},
	} {
		t.Run(fmt.Sprint(c.w), func(t *testing.T) {
			tb := newTable(instancesColumns(), names, false, c.w, 5)
			if got := shownColumns(tb); !slices.Equal(got, c.want) {
				t.Errorf("columns %q, want %q", got, c.want)
			}
			if tb.widths[1] != c.nameW {
				t.Errorf("NAME is %d cells, want %d", tb.widths[1], c.nameW)
			}
			checkLines(t, tb, c.w)
			if c.nameW > 0 {
				row := ansi.Strip(strings.Split(tb.View(), "\n")[2])
				cell := ansi.Cut(row, 2+14+gap, 2+14+gap+c.nameW)
				if !strings.HasSuffix(cell, "…") {
					t.Errorf("long name cell %q: want it to end in …", cell)
				}
			}
		})
	}
}

// Callers that set neither Priority nor Max lay out as before: Drop ranks
// (highest first), the flex column takes all the room left. (Widths:
// "Enabled · 30d" is 14 bytes; a date column is as wide as its title.)
func TestTableDropRanksUnchanged(t *testing.T) {
	cols := func(dateW int) []Column {
		return []Column{
			{Title: "Name", Flex: true, Min: 26},
			{Title: "Type", Width: len("Managed ECS secret")},
			{Title: "Status", Width: 28},
			{Title: "Auto rotation", Width: len("Enabled · 30d"), Drop: 1},
			{Title: "Last rotation", Width: dateW, Drop: 3},
			{Title: "Next rotation", Width: dateW, Drop: 2},
		}
	}
	for _, c := range []struct {
		w     int
		want  []string
		nameW int
	}{
		{80, []string{"Name", "Type", "Status"}, 80 - 3 - 18 - 28 - 2*gap},
		{100, []string{"Name", "Type", "Status", "Auto rotation"}, 31},
		{120, []string{"Name", "Type", "Status", "Auto rotation", "Next rotation"}, 36},
		{200, []string{"Name", "Type", "Status", "Auto rotation", "Last rotation", "Next rotation"}, 95},
	} {
		dateW := 10
		if c.w >= 140 {
			dateW = 16
		}
		tb := newTable(cols(dateW), []string{"db/prod/password"}, true, c.w, 3)
		if got := shownColumns(tb); !slices.Equal(got, c.want) {
			t.Errorf("width %d: columns %q, want %q", c.w, got, c.want)
		}
		if tb.widths[0] != c.nameW {
			t.Errorf("width %d: NAME is %d cells, want %d (all the room left)", c.w, tb.widths[0], c.nameW)
		}
		checkLines(t, tb, c.w)
	}
}

// Too narrow for the essential columns: nothing is wider than the table,
// and the essential columns are all still there.
func TestTableNarrowerThanEssentials(t *testing.T) {
	for _, w := range []int{60, 40, 20, 8, 3} {
		tb := newTable(secretsColumns(28, false), []string{longName}, true, w, 3)
		checkLines(t, tb, w)
		if w >= 40 {
			if got := shownColumns(tb); !slices.Contains(got, "Name") {
				t.Errorf("width %d: NAME dropped: %q", w, got)
			}
		}
	}
}

// When every column is ranked, the most important one never drops.
func TestTableMostImportantNeverDrops(t *testing.T) {
	cols := []Column{
		{Title: "Id", Width: 30, Priority: 9},
		{Title: "Name", Flex: true, Min: 20, Priority: 5},
		{Title: "Note", Width: 20, Priority: 1},
	}
	for _, c := range []struct {
		w    int
		want []string
	}{
		{80, []string{"Id", "Name", "Note"}},
		{60, []string{"Id", "Name"}},
		{40, []string{"Id"}},
		{20, []string{"Id"}},
	} {
		tb := newTable(cols, []string{"n"}, false, c.w, 2)
		if got := shownColumns(tb); !slices.Equal(got, c.want) {
			t.Errorf("width %d: columns %q, want %q", c.w, got, c.want)
		}
		checkLines(t, tb, c.w)
	}
}

// Two flexible columns share the room; a capped one stops at its Max and
// the other takes the rest.
func TestTableFlexShare(t *testing.T) {
	cols := []Column{
		{Title: "A", Flex: true, Min: 10, Max: 20},
		{Title: "B", Flex: true, Min: 10},
	}
	tb := newTable(cols, []string{"a"}, false, 102, 2)
	if tb.widths[0] != 20 || tb.widths[1] != 100-20-gap {
		t.Errorf("widths %v, want [20 %d]", tb.widths, 100-20-gap)
	}
	tb = newTable(cols, []string{"a"}, false, 32, 2)
	if tb.widths[0]+tb.widths[1] != 30-gap || tb.widths[0] < 10 || tb.widths[1] < 10 {
		t.Errorf("widths %v: want the 28 cells shared, each at least 10", tb.widths)
	}
	checkLines(t, tb, 32)
}
