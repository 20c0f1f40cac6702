package ui

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"kmsconsole/model"
	"kmsconsole/service"
)

// The key tables (actions.go) are the one place a screen's keys are bound:
// these tests hold the footer, the ? overlay, the : palette and the
// README's key list to them.

// item is a binding as the footer and the overlay show it.
func item(b key.Binding) string { return b.Help().Key + " " + b.Help().Desc }

// checkKeys holds the console's current screen to its tables: every
// footer hint is an action of the top page's table (or of the quit
// question / help overlay) that applies now; the ? overlay lists exactly
// the enabled actions of that table and of the root's; no enabled action
// is shadowed by an earlier one with the same key (its hint would be a
// lie); the palette's titles are unique; and every enabled action is in
// the README's key list.
func checkKeys(t *testing.T, where string, m *Model, readme string) {
	t.Helper()
	table := m.top().actions()
	if m.confirmQuit || m.showHelp {
		table = m.modalActions()
	}
	var hints []string
	for _, a := range table {
		if a.hint && a.apt() {
			hints = append(hints, item(a.key))
		}
	}
	footer := strings.TrimSpace(m.footerView())
	for _, shown := range strings.Split(footer, " · ") {
		if shown == "" || shown == item(m.moreHint()) {
			continue
		}
		if !slices.Contains(hints, shown) {
			t.Errorf("%s: the footer shows %q, which is no hint of the table %q", where, shown, hints)
		}
	}
	if strings.Contains(footer, "…") {
		t.Errorf("%s: the footer is cut with …: %q", where, footer)
	}

	if !m.confirmQuit && !m.showHelp {
		var want, got []string
		for _, as := range []actions{table, m.actions()} {
			for _, a := range as {
				if a.on() {
					want = append(want, item(a.key))
				}
			}
		}
		for _, col := range m.helpGroups() {
			for _, b := range col {
				got = append(got, item(b))
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: the ? overlay lists\n%q\nthe tables have\n%q", where, got, want)
		}
		// The overlay as drawn: every line of it is there.
		m.showHelp = true
		view := m.helpView()
		m.showHelp = false
		for _, w := range want {
			b := strings.Fields(w)
			if !strings.Contains(view, b[0]) || !strings.Contains(view, strings.Join(b[1:], " ")) {
				t.Errorf("%s: the drawn ? overlay lacks %q:\n%s", where, w, view)
			}
		}
	}

	// No dead key: the root's table goes first, then the page's.
	all := append(slices.Clone(m.actions()), table...)
	if m.confirmQuit || m.showHelp {
		all = table
	}
	for i, a := range all {
		if !a.on() {
			continue
		}
		for _, b := range all[:i] {
			if !b.on() {
				continue
			}
			for _, k := range a.key.Keys() {
				if slices.Contains(b.key.Keys(), k) {
					t.Errorf("%s: %q is shadowed by %q (key %q)", where, item(a.key), item(b.key), k)
				}
			}
		}
	}

	titles := map[string]bool{}
	for _, a := range append(table.offered(), m.actions().offered()...) {
		if titles[a.title] {
			t.Errorf("%s: two palette entries are titled %q", where, a.title)
		}
		titles[a.title] = true
	}

	for _, a := range append(slices.Clone(table), m.actions()...) {
		if !a.on() {
			continue
		}
		h := a.key.Help()
		found := false
		for _, l := range strings.Split(readme, "\n") {
			if strings.Contains(l, "`"+h.Key+"` ") && strings.Contains(l, h.Desc) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: the README's key list lacks %q", where, item(a.key))
		}
	}
}

// check runs checkKeys on the session's console.
func (s *session) check(where string, readme string) {
	s.t.Helper()
	s.inspect(func(m *Model) { checkKeys(s.t, where, m, readme) })
}

// TestActionTables walks every screen and dialog in representative states
// (checkKeys at each).
func TestActionTables(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	readme := keyListFor(t, f.svc)
	s := start(t, f.svc, 120, 40)
	s.waitFor("db/prod/password", "acs/ecs/db1/deploy")
	s.check("secrets, an ECS secret", readme)
	s.press("down", "down", "down")
	s.waitFor("u restore")
	s.check("secrets, a secret pending deletion", readme)
	s.press("/")
	s.waitFor("enter apply filter")
	s.check("secrets, typing the filter", readme)
	s.typeText("ecs")
	s.press("enter")
	s.waitFor("/ecs → 2", "esc clear filter")
	s.check("secrets, filtered", readme)
	s.press("esc", "home", "space")
	s.waitFor("1 selected", "esc clear selection")
	s.check("secrets, a selection", readme)
	s.press("R")
	s.waitFor("[1 secrets]", "enter rotate all")
	s.check("fleet, confirm", readme)
	s.press("esc")
	s.waitGone("[1 secrets]")

	// Details: generic (masked, revealed), ECS, pending deletion.
	s.press("esc", "end", "enter")
	s.waitFor("Secret db/prod/password", "Versions [2]")
	s.check("details, generic", readme)
	s.press("v")
	s.waitFor("Pr0d-Passw0rd-2!", "v hide")
	s.check("details, revealed", readme)
	for _, d := range []struct{ key, title, where string }{
		{"p", "Put Secret Value", "put value"},
		{"s", "Move Stage", "move stage"},
		{"e", "Edit Secret", "edit, generic"},
		{"d", "Plan Deletion Secret", "plan deletion"},
	} {
		s.press(d.key)
		s.waitFor(d.title)
		s.check(d.where, readme)
		s.press("esc")
		s.waitGone(d.title)
	}
	s.press("d")
	s.waitFor("Plan Deletion Secret")
	s.press("right")
	s.waitFor("enter delete now")
	s.check("plan deletion, immediately", readme)
	s.press("tab")
	s.typeText("db")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.check("plan deletion, asking to discard", readme)
	s.press("y")
	s.waitGone("Plan Deletion Secret")
	s.press("esc")
	s.waitFor("Secrets [5]")
	s.press("home", "enter")
	s.waitFor("Secret acs/ecs/db1/deploy", "Failure reason")
	s.check("details, ECS", readme)
	s.press("e")
	s.waitFor("Edit Secret", "Automatic rotation")
	s.check("edit, ECS", readme)
	s.press("tab")
	s.waitFor("→/space change")
	s.check("edit, on the rotation choice", readme)
	s.press("esc")
	s.waitGone("Edit Secret")
	s.press("R")
	s.waitFor("Use Custom Secret")
	s.check("rotate, prompt", readme)
	s.press("right")
	s.waitFor("Private key")
	s.check("rotate, custom key", readme)
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.press("y")
	s.waitGone("Use Custom Secret")
	s.press("esc")
	s.waitFor("Secrets [5]")
	s.press("down", "down", "down", "enter")
	s.waitFor("Secret app/staging/token", "u restore")
	s.check("details, pending deletion", readme)
	s.press("u")
	s.waitFor("Restore Secret")
	s.check("restore", readme)
	s.press("esc")
	s.waitGone("Restore Secret")
	s.press("esc")
	s.waitFor("Secrets [5]")

	// The wizard, step by step.
	s.press("c")
	s.waitFor("1 Basics")
	s.check("wizard, basics", readme)
	s.press("right")
	s.waitFor("acs/ecs/")
	s.check("wizard, basics, on a choice", readme)
	s.press("left", "tab")
	s.typeText("team/x")
	s.press("tab")
	s.typeText("value")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.check("wizard, asking to discard", readme)
	s.press("n")
	s.waitGone("Discard what you typed?")
	s.press("enter")
	s.waitFor("● 3 Review")
	s.check("wizard, review", readme)
	s.press("esc") // a generic secret has no rotation step
	s.waitFor("● 1 Basics")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.press("y")
	s.waitFor("Secrets [5]")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.waitFor("acs/ecs/")
	s.typeText("web1/x")
	s.press("tab", "tab")
	s.typeText("x")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter")
	s.waitFor("● 2 Rotation")
	s.check("wizard, rotation", readme)
	s.press("esc", "esc")
	s.waitFor("Discard what you typed?")
	s.press("y")
	s.waitFor("Secrets [5]")

	s.press(":")
	s.waitFor("Actions", "Create a secret")
	s.check("palette", readme)
	s.press("esc")
	s.waitGone("Create a secret")
	s.press("?")
	s.waitFor("esc closes this help")
	s.check("help overlay", readme)
	s.press("esc")
	s.press("g")
	s.waitFor("Switch Region")
	s.check("region", readme)
	s.press("esc")
	s.waitGone("Switch Region")

	s.press("i")
	s.waitFor("Instances [2]")
	s.check("instances", readme)
	s.press("x")
	s.waitFor("Remove Instance")
	s.check("remove instance", readme)
	s.press("esc")
	s.waitGone("Remove Instance")
	s.press("c")
	s.waitFor("Add Instance")
	s.check("add instance", readme)
	s.press("esc")
	s.waitGone("Add Instance")
	s.press("a")
	s.waitFor("Audit [")
	s.check("audit", readme)
	s.press("/")
	s.waitFor("enter apply filter")
	s.check("audit, typing the filter", readme)
	s.typeText("Delete")
	s.press("enter")
	s.waitFor("esc clear filter")
	s.check("audit, filtered", readme)

	// Access keys: the list, each dialog, the secret shown once.
	if _, err := f.svc.CreateAccessKey(context.Background(), "billing", defaultPolicy("cn-hangzhou")); err != nil {
		t.Fatal(err)
	}
	s.press("esc", "esc")
	s.waitFor("Secrets [5]")
	s.press("K")
	s.waitFor("Access Keys [1]", "billing", "d disable")
	s.check("access keys", readme)
	s.press("enter")
	s.waitFor("╭─ Policy", "esc close")
	s.check("access key policy", readme)
	s.press("esc")
	s.waitGone("╭─ Policy")
	s.press("p")
	s.waitFor("Edit Policy", "enter save")
	s.check("edit policy", readme)
	s.press("esc")
	s.waitGone("Edit Policy")
	s.press("c")
	s.waitFor("Create Access Key")
	s.check("create access key, on the name", readme)
	s.press("tab")
	s.waitFor("ctrl+j new line")
	s.check("create access key, in the policy", readme)
	s.typeText("x")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.check("create access key, asking to discard", readme)
	s.press("y")
	s.waitGone("Create Access Key")
	s.press("d")
	s.waitFor("Disable Access Key")
	s.check("disable access key", readme)
	s.press("y")
	s.waitFor("e enable")
	s.check("access keys, a disabled key", readme)
	s.press("e")
	s.waitFor("Enable Access Key")
	s.check("enable access key", readme)
	s.press("esc")
	s.waitGone("Enable Access Key")
	s.press("x")
	s.waitFor("Remove Access Key")
	s.check("remove access key", readme)
	s.press("esc")
	s.waitGone("Remove Access Key")
	s.press("R")
	s.waitFor("Rotate Access Key")
	s.check("rotate access key", readme)
	s.press("enter")
	s.waitFor("Access Key Rotated", "v reveal")
	s.check("access key secret", readme)
	s.press("v")
	s.waitFor("v hide")
	s.check("access key secret, revealed", readme)
	s.press("v", "esc")
	s.waitFor("Close without copying")
	s.check("access key secret, asking to close", readme)
	s.press("y")
	s.waitGone("Access Key Rotated")

	// The fleet, run and done.
	s.press("esc")
	s.waitFor("Secrets [5]")
	s.press("home", "space", "space", "R")
	s.waitFor("[2 secrets]", "enter rotate all")
	s.press("enter")
	s.waitFor("Fleet rotation finished")
	s.check("fleet, done", readme)

	// A readonly operator: the keys of changes are off everywhere.
	ro := start(t, newFixture(t, model.RoleReadonly).svc, 120, 40)
	ro.waitFor("db/prod/password")
	ro.check("readonly, secrets", readme)
	ro.press("end", "enter")
	ro.waitFor("the readonly role cannot read values")
	ro.check("readonly, details", readme)
	ro.inspect(func(m *Model) {
		for _, a := range m.top().actions() {
			if a.on() && slices.Contains([]string{"v", "y", "p", "s", "e", "d", "u", "R"}, a.key.Help().Key) {
				t.Errorf("readonly: %q works", item(a.key))
			}
		}
	})
	ro.press("esc")
	ro.waitFor("Secrets [5]")
	ro.press("K")
	ro.waitFor("managed by admin operators")
	ro.check("readonly, access keys", readme)
	ro.inspect(func(m *Model) {
		for _, a := range m.top().actions() {
			if a.on() && a.key.Help().Key != "esc" {
				t.Errorf("readonly, access keys: %q works", item(a.key))
			}
		}
	})
}

// TestFooterMore: a footer that does not fit keeps the hints that fit, by
// the table's order, and ends with the key that shows the rest: ? on a
// screen, f1 in a text field (where ? is text); f1 opens the overlay there.
func TestFooterMore(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 80, 24)
	s.waitFor("db/prod/password")
	v := s.waitFor("c create · enter open · R rotate now · d plan deletion · / filter · ? more")
	if strings.Contains(v, "…") {
		t.Fatalf("the footer is cut with …:\n%s", v)
	}
	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("db/?")
	s.waitFor("db/?")
	s.tm.Send(tea.KeyMsg{Type: tea.KeyF1})
	v = s.waitFor("esc closes this help", "next step")
	if !strings.Contains(v, "prev field") {
		t.Fatalf("the overlay lacks a form key:\n%s", v)
	}
	s.press("esc")
	s.waitGone("esc closes this help")
	s.inspect(func(m *Model) {
		if got := item(m.moreHint()); got != "f1 more" {
			t.Errorf("in a field the footer ends with %q, want f1 more", got)
		}
	})
	// Without room, the hints go from the end; the key of the rest stays.
	s.inspect(func(m *Model) {
		m.resize(40, 24)
		footer := m.footerView()
		if !strings.HasSuffix(strings.TrimSpace(footer), "f1 more") || !strings.Contains(footer, "enter next step") {
			t.Errorf("a narrow footer: %q", footer)
		}
	})
}

// TestDiscardAsks: esc on a form closes at once with nothing typed; with
// input it asks first: n (or esc) goes back to the input, y throws it away.
func TestDiscardAsks(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("esc")
	s.waitFor("Secrets [5]")

	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("team/keep")
	s.press("esc")
	s.waitFor("Discard what you typed?", "y discard · n/esc keep editing")
	// While asked, letters are answers, not text.
	s.press("q")
	s.press("esc")
	v := s.waitGone("Discard what you typed?")
	if !strings.Contains(v, "team/keep") || strings.Contains(v, "team/keepq") {
		t.Fatalf("keep editing lost the input or typed the answer:\n%s", v)
	}
	s.press("esc", "n")
	s.waitGone("Discard what you typed?")
	s.press("esc", "y")
	s.waitFor("Secrets [5]")

	// Dialogs too: untouched (the generated Version ID is the dialog's
	// own), one closes at once.
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press("p")
	s.waitFor("Put Secret Value")
	s.press("esc")
	s.waitGone("Put Secret Value")
	s.press("p")
	s.waitFor("Put Secret Value")
	s.typeText("x")
	s.press("esc")
	s.waitFor("Put Secret Value", "Discard what you typed?")
	s.press("y")
	s.waitGone("Put Secret Value")
}

// TestWizardDiscardPrompt: the question, in the wizard's status line and
// the footer.
func TestWizardDiscardPrompt(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("tab")
	s.typeText("team/payments/api")
	s.press("esc")
	s.waitFor("Discard what you typed?")
	s.golden()
}

// TestPalette: : lists the screen's actions that apply, then the global
// ones; typing filters; enter runs the chosen one on the screen below, as
// its key would.
func TestPalette(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press(":")
	v := s.waitFor("Actions", "Reveal the selected version's value", "Go to the audit log")
	for _, absent := range []string{"Rotate the secret now", "Restore the secret"} {
		if strings.Contains(v, absent) {
			t.Fatalf("the palette offers %q, which does not apply:\n%s", absent, v)
		}
	}
	s.golden()
}

// TestPaletteRuns: enter runs the chosen action on the page below.
func TestPaletteRuns(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("end", "enter")
	s.waitFor("Versions [2]")
	s.press(":")
	s.waitFor("Actions")
	s.typeText("reveal")
	s.waitGone("Go to the audit log")
	s.press("enter")
	s.waitFor("Pr0d-Passw0rd-2!")
	s.press(":")
	s.waitFor("Actions")
	s.typeText("put new")
	s.press("enter")
	s.waitFor("Put Secret Value")
	s.press("esc")
	s.waitGone("Put Secret Value")
	s.press(":")
	s.waitFor("Actions")
	s.typeText("audit")
	s.press("enter")
	s.waitFor("Audit [")
}

// TestAddress: a page's commands come back to it alone; the root's own
// messages pass; batches and sequences are addressed command by command.
func TestAddress(t *testing.T) {
	type mine struct{}
	reply := func(cmd tea.Cmd) tea.Msg { return cmd() }
	if got := reply(address(7, func() tea.Msg { return mine{} })); got != (replyMsg{to: 7, msg: mine{}}) {
		t.Fatalf("a page's message: %#v", got)
	}
	if got := reply(address(7, pop())); got != (popMsg{}) {
		t.Fatalf("a root message: %#v", got)
	}
	if got := reply(address(7, tea.Quit)); got != (tea.QuitMsg{}) {
		t.Fatalf("tea.Quit: %#v", got)
	}
	if address(7, nil) != nil {
		t.Fatal("a nil command is addressed")
	}
	batch, ok := reply(address(7, tea.Batch(func() tea.Msg { return mine{} }, pop()))).(tea.BatchMsg)
	if !ok || len(batch) != 2 || batch[0]() != (replyMsg{to: 7, msg: mine{}}) || batch[1]() != (popMsg{}) {
		t.Fatalf("a batch: %#v", batch)
	}
	seq := reply(address(7, tea.Sequence(func() tea.Msg { return mine{} }, pop())))
	var got []tea.Msg
	for _, c := range seqCmds(t, seq) {
		got = append(got, c())
	}
	if len(got) != 2 || got[0] != (replyMsg{to: 7, msg: mine{}}) || got[1] != (popMsg{}) {
		t.Fatalf("a sequence: %#v", got)
	}
}

// seqCmds unpacks tea.Sequence's message (unexported: a []tea.Cmd).
func seqCmds(t *testing.T, msg tea.Msg) []tea.Cmd {
	t.Helper()
	cmds, ok := cmdsOf(msg)
	if !ok {
		t.Fatalf("not a sequence: %T", msg)
	}
	return cmds
}

// recorder is a page that records what reaches it.
type recorder struct {
	pageBase
	got []tea.Msg
}

func (r *recorder) Init() tea.Cmd              { return nil }
func (r *recorder) Update(msg tea.Msg) tea.Cmd { r.got = append(r.got, msg); return nil }
func (r *recorder) View() string               { return "" }
func (r *recorder) SetSize(int, int)           {}
func (r *recorder) actions() actions           { return nil }
func (r *recorder) Capturing() bool            { return false }
func (r *recorder) dialog()                    {}
func newRecorder() *recorder                   { return &recorder{pageBase: newPageBase()} }
func (r *recorder) count(match func(tea.Msg) bool) int {
	n := 0
	for _, m := range r.got {
		if match(m) {
			n++
		}
	}
	return n
}

// TestRepliesReachTheirPage: a reply goes to its page alone and is dropped
// once that page has gone; a notification goes to every page.
func TestRepliesReachTheirPage(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	m := New(f.svc, Options{Now: fixedClock, Renderer: plainRenderer(), Width: 100, Height: 30}).(*Model)
	a, b := newRecorder(), newRecorder()
	m.stack = append(m.stack, a, b)
	type result struct{ n int }
	isResult := func(msg tea.Msg) bool { _, ok := msg.(result); return ok }
	m.Update(replyMsg{to: a.id(), msg: result{1}})
	if a.count(isResult) != 1 || b.count(isResult) != 0 {
		t.Fatalf("a reply to a reached a %d times, b %d times", a.count(isResult), b.count(isResult))
	}
	m.Update(popMsg{}) // b goes
	m.Update(replyMsg{to: b.id(), msg: result{2}})
	if a.count(isResult) != 1 || b.count(isResult) != 0 {
		t.Fatal("a reply to a page that has gone was delivered")
	}
	m.Update(secretChangedMsg{name: "x"})
	if a.count(func(msg tea.Msg) bool { return msg == (secretChangedMsg{name: "x"}) }) != 1 {
		t.Fatal("a notification did not reach every page")
	}
}

// TestRotationEndForAGonePage: the root counts a rotation until its end
// even when the page that asked has gone, and says how it ended.
func TestRotationEndForAGonePage(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	m := New(f.svc, Options{Now: fixedClock, Renderer: plainRenderer(), Width: 100, Height: 30}).(*Model)
	d := newRecorder()
	m.stack = append(m.stack, d)
	cmd := m.rotate(d.id(), "acs/ecs/web1/root", "")
	if m.rotations != 1 {
		t.Fatalf("running: %d", m.rotations)
	}
	m.Update(popMsg{}) // the dialog closes; the rotation goes on
	// Run the program's loop by hand: the rotation's events and the flash.
	msgs := []tea.Msg{cmd()}
	deadline := time.Now().Add(15 * time.Second)
	for len(msgs) > 0 && time.Now().Before(deadline) {
		msg := msgs[0]
		msgs = msgs[1:]
		switch msg := msg.(type) {
		case tea.BatchMsg:
			for _, c := range msg {
				if c != nil {
					msgs = append(msgs, c())
				}
			}
		case rotationEventMsg, flashMsg:
			if _, next := m.Update(msg); next != nil {
				msgs = append(msgs, next())
			}
		}
	}
	if m.rotations != 0 {
		t.Fatalf("running after the end: %d", m.rotations)
	}
	if len(d.got) != 0 {
		t.Fatalf("the page that had gone got %v", d.got)
	}
	if !strings.Contains(m.flash.text, "Rotation of acs/ecs/web1/root failed: ") || !strings.HasSuffix(m.flash.text, " · Rejected.RotationFailed") {
		t.Fatalf("the flash line: %q", m.flash.text)
	}
}

// keyList is the README's key list, made from the tables of every screen
// (the root's, each page's, the quit question's and the help overlay's):
// per screen its own keys, the keys of one binding with all their
// meanings; then the movement keys shared by lists and forms.
func keyList(m *Model, screens []docScreen) string {
	var b strings.Builder
	b.WriteString("| Screen | Keys |\n|---|---|\n")
	var moves []string
	line := func(name string, as actions) {
		var order []string
		descs := map[string][]string{}
		for _, a := range as {
			h := a.key.Help()
			if a.nav {
				if it := "`" + h.Key + "` " + h.Desc; !slices.Contains(moves, it) {
					moves = append(moves, it)
				}
				continue
			}
			if _, ok := descs[h.Key]; !ok {
				order = append(order, h.Key)
			}
			if !slices.Contains(descs[h.Key], h.Desc) {
				descs[h.Key] = append(descs[h.Key], h.Desc)
			}
		}
		var items []string
		for _, k := range order {
			items = append(items, "`"+k+"` "+strings.Join(descs[k], " / "))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, strings.Join(items, " · "))
	}
	line("Everywhere (outside text fields)", m.actions())
	for _, s := range screens {
		line(s.name, s.table)
	}
	fmt.Fprintf(&b, "| Moving in lists and forms | %s |\n", strings.Join(moves, " · "))
	return b.String()
}

type docScreen struct {
	name  string
	table actions
}

// docScreens are every screen and dialog of the console, made on svc.
func docScreens(t *testing.T, svc *service.Service, m *Model) []docScreen {
	t.Helper()
	c := m.c
	ctx := context.Background()
	secret := func(name string) model.Secret {
		s, err := svc.Secret(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return *s
	}
	ecs, generic := secret("acs/ecs/web1/root"), secret("db/prod/password")
	ak := service.AccessKeyInfo{AccessKeyName: "billing", Status: model.AccessKeyEnabled, Policy: defaultPolicy("cn-hangzhou")}
	m.confirmQuit = true
	quit := m.modalActions()
	m.confirmQuit, m.showHelp = false, true
	help := m.modalActions()
	m.showHelp = false
	return []docScreen{
		{"Secrets", newSecretsPage(c).actions()},
		{"Secret details", newDetailsPage(c, generic.Name).actions()},
		{"Create Secret", newWizard(c).actions()},
		{"Rotate Immediately", newRotateDialog(c, ecs).actions()},
		{"Rotate Immediately, several secrets", newFleetPage(c, []model.Secret{ecs}).actions()},
		{"Put Secret Value", newPutValueDialog(c, generic.Name).actions()},
		{"Move Stage", newStageDialog(c, generic.Name, nil, "").actions()},
		{"Edit Secret", newEditDialog(c, ecs).actions()},
		{"Plan Deletion Secret", newDeletionDialog(c, generic).actions()},
		{"Restore Secret", newRestoreDialog(c, generic).actions()},
		{"Instances", newInstancesPage(c).actions()},
		{"Add Instance", newInstanceForm(c).actions()},
		{"Remove Instance", newInstanceRemoveDialog(c, service.InstanceView{InstanceId: "i-x"}).actions()},
		{"Rotate Admin Key", newAdminKeyDialog(c, service.InstanceView{InstanceId: "i-x"}).actions()},
		{"Audit", newAuditPage(c).actions()},
		{"Access Keys (`K`)", newAccessKeysPage(c).actions()},
		{"Access Key Policy", newPolicyDialog(c, 0, ak).actions()},
		{"Create Access Key", newAccessKeyForm(c, 0, nil).actions()},
		{"Edit Policy", newAccessKeyForm(c, 0, &ak).actions()},
		{"Disable Access Key", newAccessKeyStatusDialog(c, 0, ak, false).actions()},
		{"Enable Access Key", newAccessKeyStatusDialog(c, 0, ak, true).actions()},
		{"Rotate Access Key", newAccessKeyRotateDialog(c, 0, ak).actions()},
		{"Remove Access Key", newAccessKeyRemoveDialog(c, 0, ak).actions()},
		{"Access Key Created / Rotated", newAccessKeySecretDialog(c, service.AccessKeySecretResponse{}, false).actions()},
		{"Switch Region (`g`)", newRegionsDialog(c).actions()},
		{"Actions (`:`)", newPalette(c, newSecretsPage(c), m.actions()).actions()},
		{"Help (`?`)", help},
		{"Quit while a rotation runs", quit},
	}
}

// keyListFor is the key list of the console on svc.
func keyListFor(t *testing.T, svc *service.Service) string {
	t.Helper()
	m := New(svc, Options{Now: fixedClock, Renderer: plainRenderer(), Width: 120, Height: 40}).(*Model)
	return keyList(m, docScreens(t, svc, m))
}

const (
	keysBegin = "<!-- keys:begin: made from the console's key tables by `go test ./ui -run TestREADMEKeyList -update` -->\n"
	keysEnd   = "<!-- keys:end -->\n"
)

// TestREADMEKeyList: the README's key list is the one the tables make
// (go test ./ui -run TestREADMEKeyList -update rewrites it).
func TestREADMEKeyList(t *testing.T) {
	want := keyListFor(t, newFixture(t, model.RoleAdmin).svc)
	const path = "../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i, j := strings.Index(text, keysBegin), strings.Index(text, keysEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no key list between %q and %q", keysBegin, keysEnd)
	}
	got := text[i+len(keysBegin) : j]
	if got == want {
		return
	}
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		text = text[:i+len(keysBegin)] + want + text[j:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's key list is not the tables' (go test ./ui -run TestREADMEKeyList -update):\n--- README\n%s\n--- tables\n%s", got, want)
}
