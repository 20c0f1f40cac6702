package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// Stored text that tries to drive the operator's terminal (SPEC §6), and
// how the console must show it instead.
const (
	payTitle = "\x1b]0;PWNED\x07"           // sets the window title
	payClear = "\x1b[2J\x1b[H"              // clears the screen, cursor home
	payClip  = "\x1b]52;c;cHduZWQ=\x07"     // writes "pwned" to the clipboard
	payHide  = "\x1b[8m"                    // conceals what follows
	payC1    = "\u009b2J"                   // CSI as one C1 character
	payBidi  = "\u202e"                     // right-to-left override
	payRow   = "\r\n2026-05-20 09:59  Fake" // a line break that fakes a row

	seeTitle = "␛]0;PWNED␇"
	seeClear = "␛[2J␛[H"
	seeClip  = "␛]52;c;cHduZWQ=␇"
	seeHide  = "␛[8m"
	seeC1    = "<U+009B>2J"
	seeBidi  = "<U+202E>"
	seeRow   = "␍␊2026-05-20 09:59  Fake"
)

// The hostile data, written as an old store may hold it: validation
// refuses control characters in new descriptions, names, VersionIds and
// labels, and new audit records are stored sanitised, so these are written
// straight into the store.
const (
	evilName    = "evil/app"
	evilValue   = "top" + payClip + "secret" + payTitle
	evilDesc    = "Old note" + payTitle + " end" + payClear + payHide + "hidden"
	evilVersion = "v2" + payTitle
	evilStage   = "Stage" + payC1 + payBidi
	evilOldName = "old" + payClear + "/name"
	evilReason  = "set: sudo said: " + payTitle + "host output" + payClear + " done"
	evilAuditTo = "evil" + payTitle + "name" + payRow
	evilAuditEr = "readonly " + payClip + "refused"
	evilInst    = "web" + payTitle + "3"
	evilAdmin   = "adm" + payClear
)

// newHostileFixture is newFixture plus the hostile data above: a generic
// secret evil/app whose value, description, second VersionId and a stage
// label carry escape sequences; a secret whose name does; the key-pair
// secret's rotation failure quoting host output with ESC; a raw audit
// event (a refused request's SecretName, as an old store kept it); and an
// instance with a hostile name and admin user.
func newHostileFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, model.RoleAdmin)
	ctx := context.Background()
	// Values are free text: the service takes this one as it is.
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: evilName, SecretData: evilValue, VersionId: "v1", Description: "plain"}); err != nil {
		t.Fatal(err)
	}
	_, adminKey := fixedPrivateKey(t, 2)
	err := f.store.Write(ctx, func(tx *db.Tx) error {
		r, err := tx.SecretByName(evilName)
		if err != nil {
			return err
		}
		r.Description = evilDesc
		if err := tx.UpdateSecret(r); err != nil {
			return err
		}
		if err := tx.InsertVersion(r, evilVersion, "second", model.DataText, fixedNow.Add(-time.Hour)); err != nil {
			return err
		}
		old, err := tx.Labels(r.ID)
		if err != nil {
			return err
		}
		labels := model.Labels{evilStage: evilVersion}
		for k, v := range old {
			labels[k] = v
		}
		if err := tx.SetLabels(r.ID, old, labels); err != nil {
			return err
		}
		if _, err := tx.InsertSecret(&db.SecretRow{Secret: model.Secret{Name: evilOldName, Type: model.Generic, RegionId: "cn-hangzhou",
			DataType: model.DataText, CreateTime: fixedNow, UpdateTime: fixedNow, AutomaticRotation: model.RotationDisabled}}); err != nil {
			return err
		}
		deploy, err := tx.SecretByName("acs/ecs/db1/deploy")
		if err != nil {
			return err
		}
		deploy.RotationError = evilReason
		if err := tx.UpdateSecret(deploy); err != nil {
			return err
		}
		if err := tx.InsertInstance(&db.InstanceRow{Instance: model.Instance{InstanceId: "i-evil", InstanceName: evilInst, RegionId: "cn-hangzhou",
			Host: "127.0.0.1", Port: 1, AdminUser: evilAdmin, HostKey: fixedHostKey(5), CreateTime: fixedNow.Add(-time.Hour)}, AdminKey: adminKey}); err != nil {
			return err
		}
		return tx.Audit(model.AuditEvent{Time: fixedNow.Add(-time.Minute), Operator: "bob", Action: "GetSecretValue", Target: evilAuditTo,
			Result: "Failure", ErrorCode: "Forbidden", Error: evilAuditEr, RequestId: "req-evil"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// requireInert fails when view holds a character that can drive a
// terminal. With the plain renderer the console's own drawing has none:
// any there came from stored text.
func requireInert(t *testing.T, what, view string) {
	t.Helper()
	if safe := model.SafeLines(view); safe != view {
		i := 0
		for i < len(view) && i < len(safe) && view[i] == safe[i] {
			i++
		}
		from := max(0, i-30)
		t.Fatalf("%s: a control character reaches the terminal at byte %d: %q", what, i, view[from:min(len(view), i+30)])
	}
}

// requireInertModel checks every page of the stack on its own (the
// screens' own sanitising, before the frame guard) and the whole frame,
// then that the frame shows the visible forms.
func requireInertModel(t *testing.T, m *Model, visible ...string) string {
	t.Helper()
	for i, p := range m.stack {
		requireInert(t, fmt.Sprintf("page %d (%T)", i, p), p.View())
	}
	view := m.View()
	requireInert(t, "frame", view)
	for _, v := range visible {
		if !strings.Contains(view, v) {
			t.Fatalf("the frame does not show %q:\n%s", v, view)
		}
	}
	return view
}

// hostileGolden quits, checks the final model and compares its golden.
func (s *session) hostileGolden(visible ...string) {
	s.t.Helper()
	requireGolden(s.t, requireInertModel(s.t, s.final(), visible...))
}

func (s *session) openEvil() {
	s.t.Helper()
	s.waitFor(evilName)
	s.press("/")
	s.typeText(evilName)
	s.waitFor("/" + evilName + " → 1")
	s.press("enter", "enter")
	s.waitFor("Secret "+evilName, "Versions [2]")
}

func TestHostileSecretsList(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.waitFor(evilName, "old␛[2J")
	s.hostileGolden("old" + seeClear + "/name")
}

// TestHostileDetails: the description, a VersionId and a stage label of an
// old store show their escape sequences as ␛…, in the fields, the version
// table and the value heading.
func TestHostileDetails(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.openEvil()
	s.press("up") // the hostile version (ACSCurrent stays on v1)
	s.waitFor("Value of version v2" + seeTitle)
	s.hostileGolden("Old note"+seeTitle+" end"+seeClear+seeHide+"hidden", "v2"+seeTitle, "Stage"+seeC1+seeBidi)
}

// TestHostileReveal: a revealed value with OSC 52 and a title sequence is
// shown inert; y still copies the exact value through OSC 52, the one
// escape sequence the console means to send.
func TestHostileReveal(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.openEvil()
	s.press("v")
	s.waitFor("top" + seeClip + "secret" + seeTitle)
	s.press("y")
	s.waitFor("Copied the value of " + evilName)
	want := osc52.New(evilValue).String()
	if out := s.out.String(); out != want {
		t.Fatalf("the clipboard output is %q, want exactly %q", out, want)
	}
	s.hostileGolden("top" + seeClip + "secret" + seeTitle)
}

// TestHostileMoveStage: the version picker of Move Stage lists the
// hostile VersionId and label inert.
func TestHostileMoveStage(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.openEvil()
	s.press("up", "s")
	s.waitFor("Move Stage", "v2"+seeTitle+"  (Stage")
	s.hostileGolden("v2" + seeTitle + "  (" + "Stage" + seeC1 + seeBidi + ")")
}

// TestHostileEdit: Edit Secret shows the stored description inert, and
// saving it untouched sends nothing.
func TestHostileEdit(t *testing.T) {
	f := newHostileFixture(t)
	s := start(t, f.svc, 100, 30)
	s.openEvil()
	s.press("e")
	s.waitFor("Edit Secret", "Old note"+seeTitle)
	s.press("enter")
	s.waitFor("No changes to save")
	requireInertModel(t, s.final())
	d, err := f.svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: evilName})
	if err != nil || d.Description != evilDesc {
		t.Fatalf("the description changed: %v %q", err, d.Description)
	}
}

// TestHostileRotationFailure: a failed rotation's reason quotes the
// host's output, ESC and all; the details show it inert.
func TestHostileRotationFailure(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.waitFor("acs/ecs/db1/deploy")
	s.press("enter")
	s.waitFor("Failure reason", "host output")
	s.hostileGolden("sudo said: " + seeTitle + "host output" + seeClear)
}

// TestHostileAudit: an audit event an old store kept raw (the SecretName
// of a refused request) shows inert in its row and in the detail lines,
// and its line break does not fake a row.
func TestHostileAudit(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 100, 30)
	s.waitFor("db/prod/password")
	s.press("a")
	s.waitFor("Audit [", "Forbidden: readonly")
	s.hostileGolden("evil"+seeTitle+"name"+seeRow, "Forbidden: readonly "+seeClip+"refused")
}

// TestHostileInstances: an instance's name and admin user show inert in
// the table, the detail lines and the Remove Instance dialog.
func TestHostileInstances(t *testing.T) {
	s := start(t, newHostileFixture(t).svc, 120, 30)
	s.waitFor("db/prod/password")
	s.press("i")
	s.waitFor("Instances [3]", "Reason")
	s.waitGone("checking…")
	s.press("down") // i-db1, i-evil, i-web1
	s.waitFor("Host key  SHA256:", "Reason")
	s.press("x")
	s.waitFor("Remove instance i-evil")
	s.hostileGolden("web"+seeTitle+"3", "adm"+seeClear)
}

// TestHostileErrors: error messages from the service quote host output;
// the rotate dialog, a fleet row with its detail lines and an instance's
// check reason show it inert.
func TestHostileErrors(t *testing.T) {
	f := newHostileFixture(t)
	c := &common{svc: f.svc, st: newStyles(plainRenderer()), keys: newKeyMap(), now: fixedClock, ctx: context.Background(), out: io.Discard}
	hostErr := model.Errorf("RotationFailed", "set: instance i-db1: sudo said (exit 1): %s", payTitle+"host output"+payClear+payClip)
	const see = seeTitle + "host output" + seeClear + seeClip

	secret, err := f.svc.Secret(context.Background(), "acs/ecs/db1/deploy")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("rotate", func(t *testing.T) {
		d := newRotateDialog(c, *secret)
		d.SetSize(100, 27)
		d.state, d.err, d.failedAt = rotateFailed, hostErr, 1
		view := d.View()
		requireInert(t, "rotate dialog", view)
		if !strings.Contains(view, "sudo said (exit 1): "+seeTitle) {
			t.Fatalf("no reason:\n%s", view)
		}
		requireGolden(t, view)
	})
	t.Run("fleet", func(t *testing.T) {
		fl := newFleetPage(c, []model.Secret{*secret})
		fl.SetSize(100, 27)
		fl.state, fl.done = fleetDone, 1
		fl.items[0].ended, fl.items[0].step, fl.items[0].err = true, "set", hostErr
		fl.items[0].result = service.FleetResult{SecretName: secret.Name, Result: service.FleetFailure, Code: "RotationFailed", Reason: hostErr.Message}
		view := fl.View()
		requireInert(t, "fleet", view)
		if !strings.Contains(view, "set: instance i-db1: sudo said") || !strings.Contains(view, "RotationFailed") {
			t.Fatalf("no result:\n%s", view)
		}
		requireGolden(t, view)
	})
	t.Run("instance", func(t *testing.T) {
		p := newInstancesPage(c)
		p.SetSize(120, 27)
		p.Update(instancesLoadedMsg{list: []service.InstanceView{{InstanceId: "i-x", InstanceName: "x", Host: "127.0.0.1", Port: 22, AdminUser: "root"}}})
		p.Update(instanceCheckedMsg{id: "i-x", gen: 1, err: errors.New("ecs: sudo on 127.0.0.1:22 as \"root\" (exit 1): " + payTitle + "host output" + payClear + payClip)})
		view := p.View()
		requireInert(t, "instances", view)
		if !strings.Contains(view, see) {
			t.Fatalf("no reason:\n%s", view)
		}
		requireGolden(t, view)
	})
}

var ownSGR = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// TestHostileColour: with colours on, the frame's only escape sequences
// are the console's own SGR styling; stored sequences are visible, and the
// console's own styling is never shown as text (a styled string drawn
// through the sanitiser, like a spinner in a table cell, would show
// "␛[38;2;…m").
func TestHostileColour(t *testing.T) {
	hang := hangingListener(t)
	f := newFixturePort(t, model.RoleAdmin, hang.port)
	ctx := context.Background()
	if _, err := f.svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: evilName, SecretData: evilValue, VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Write(ctx, func(tx *db.Tx) error {
		r, err := tx.SecretByName(evilName)
		if err != nil {
			return err
		}
		r.Description = evilDesc
		return tx.UpdateSecret(r)
	}); err != nil {
		t.Fatal(err)
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	s := startWith(t, f.svc, 100, 30, r)
	check := func(what, view string, visible ...string) {
		t.Helper()
		if !strings.Contains(view, "\x1b[") {
			t.Fatalf("%s: no colour at all: the test renders nothing", what)
		}
		rest := ownSGR.ReplaceAllString(view, "")
		requireInert(t, what, rest)
		if loc := regexp.MustCompile(`␛\[[0-9;:]*m`).FindStringIndex(rest); loc != nil && rest[loc[0]:loc[1]] != seeHide {
			t.Fatalf("%s: the console's own styling is shown as text: %q", what, rest[max(0, loc[0]-20):loc[1]])
		}
		for _, v := range visible {
			if !strings.Contains(rest, v) {
				t.Fatalf("%s: does not show %q", what, v)
			}
		}
	}
	s.waitFor(evilName)
	plain := func(texts ...string) string {
		t.Helper()
		return s.waitUntil(fmt.Sprint(texts), func(v string) bool {
			v = ownSGR.ReplaceAllString(v, "")
			for _, x := range texts {
				if !strings.Contains(v, x) {
					return false
				}
			}
			return true
		})
	}
	s.press("end", "enter")
	plain("Versions [1]")
	s.press("v")
	v := plain("top" + seeClip)
	check("details", v, "Old note"+seeTitle, "top"+seeClip+"secret"+seeTitle)
	s.press("i")
	// i-web1 is on the hanging port: its row keeps its spinner.
	v = plain("Instances [2]", "checking…")
	check("instances", v)
}

// TestSafeFrame: the frame guard keeps SGR styling and line breaks and
// shows everything else.
func TestSafeFrame(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain │ box ✓\nline", "plain │ box ✓\nline"},
		{"\x1b[1;38;2;1;2;3mstyled\x1b[0m", "\x1b[1;38;2;1;2;3mstyled\x1b[0m"},
		{"a" + payTitle + "b\n" + payClear, "a" + seeTitle + "b\n" + seeClear},
		{"x" + payC1 + payBidi + "\x00\x7f", "x" + seeC1 + seeBidi + "␀␡"},
		{"\x1b[31m" + payClip + "\x1b[0m", "\x1b[31m" + seeClip + "\x1b[0m"},
		{"cut\x1b[", "cut␛["},
		{"bad\xff", "bad<FF>"},
	} {
		if got := components.SafeFrame(c.in); got != c.want {
			t.Errorf("SafeFrame(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if !utf8.ValidString(components.SafeFrame("bad\xff")) {
		t.Error("not UTF-8")
	}
}
