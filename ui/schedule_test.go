package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/events"
	"kmsconsole/model"
	"kmsconsole/service"
)

// Rotation schedules (SPEC §9) in the console: the list, the details, the
// wizard's rotation step and Edit Secret; and the header's count of events
// stuck in the outbox.

const sundayCron = "cron(0 2 ? * SUN *)"

// scheduleWeb1 puts the fixture's acs/ecs/web1/root on a schedule through
// the service, as an operator's UpdateSecretRotationPolicy would.
func scheduleWeb1(t *testing.T, f *fixture, expr, window string) *service.DescribeSecretResponse {
	t.Helper()
	on := true
	if _, err := f.svc.UpdateSecretRotationPolicy(context.Background(), service.UpdateSecretRotationPolicyRequest{
		SecretName: "acs/ecs/web1/root", EnableAutomaticRotation: &on, RotationSchedule: expr, RotationWindow: window}); err != nil {
		t.Fatal(err)
	}
	return describe(t, f.svc, "acs/ecs/web1/root")
}

// apiTime reads a time of an API answer.
func apiTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := model.ParseTime(s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return at
}

// The list shows a scheduled secret's schedule where a period shows, and
// its next rotation as DescribeSecret gives it (its own start in the next
// window); the other rows keep their periods.
func TestSecretsListSchedule(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	d := scheduleWeb1(t, f, sundayCron, "3h")
	s := start(t, f.svc, 120, 30)
	v := s.waitFor("acs/ecs/web1/root", "db/prod/password")
	row := lineWith(v, "acs/ecs/web1/root")
	next := fmtDate(apiTime(t, d.NextRotationDate))
	if !strings.Contains(row, "Enabled · "+sundayCron) || !strings.Contains(row, next) {
		t.Fatalf("the row does not show the schedule and the next rotation %s:\n%s", next, row)
	}
	if next != "2026-05-24" {
		t.Fatalf("next rotation %s, want the Sunday after the fixed clock's Wednesday", d.NextRotationDate)
	}
	if row := lineWith(v, "acs/ecs/db1/deploy"); !strings.Contains(row, "Invalid · 30d") {
		t.Fatalf("the period of another secret is gone:\n%s", row)
	}
	s.golden()

	// At 80 columns the schedule is cut, the column kept.
	s = start(t, f.svc, 80, 24)
	v = s.waitFor("acs/ecs/web1/root")
	if row := lineWith(v, "acs/ecs/web1/root"); !strings.Contains(row, "Enabled · cron(0 …") {
		t.Fatalf("the rotation column is gone at 80 columns:\n%s", v)
	}
}

// The details show the schedule, the window and the next window with the
// secret's start in it: the same times DescribeSecret answers.
func TestDetailsSchedule(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	d := scheduleWeb1(t, f, sundayCron, "3h")
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "enter")
	window := fmtWindow(apiTime(t, d.NextRotationWindowStart), apiTime(t, d.NextRotationWindowEnd))
	if window != "2026-05-24 02:00 – 05:00" {
		t.Fatalf("DescribeSecret's next window: %s – %s", d.NextRotationWindowStart, d.NextRotationWindowEnd)
	}
	s.waitFor("Secret acs/ecs/web1/root", "Auto rotation  Enabled ", "Schedule       "+sundayCron, "Window         3h",
		"Next window    "+window, "Next rotation  "+fmtTime(apiTime(t, d.NextRotationDate)))
	s.golden()
}

// A rate() schedule without a window has the default window, said as
// such; the whole-day window ends at 24:00.
func TestDetailsScheduleDefaultWindow(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	d := scheduleWeb1(t, f, "rate(7 days)", "")
	if d.RotationWindow != "24h" {
		t.Fatalf("DescribeSecret's window: %q", d.RotationWindow)
	}
	s := start(t, f.svc, 100, 30)
	s.waitFor("acs/ecs/web1/root")
	s.press("down", "enter")
	window := fmtWindow(apiTime(t, d.NextRotationWindowStart), apiTime(t, d.NextRotationWindowEnd))
	v := s.waitFor("Schedule       rate(7 days)", "Window         24h (the default)", "Next window    "+window)
	if !strings.HasSuffix(window, "00:00 – 24:00") {
		t.Fatalf("a whole-day window reads %q", window)
	}
	// Turned off, the schedule stays and no next window shows.
	off := false
	if _, err := f.svc.UpdateSecretRotationPolicy(context.Background(), service.UpdateSecretRotationPolicyRequest{
		SecretName: "acs/ecs/web1/root", EnableAutomaticRotation: &off}); err != nil {
		t.Fatal(err)
	}
	s.press("ctrl+r")
	v = s.waitFor("Auto rotation  Disabled", "Schedule       rate(7 days)")
	if strings.Contains(v, "Next window") || strings.Contains(v, "Next rotation") {
		t.Fatalf("a disabled schedule shows a next window:\n%s", v)
	}
}

// toRotationStep fills the wizard's first step for an ECS secret on the
// fixture and goes on to the rotation step.
func toRotationStep(s *session, name string) {
	s.t.Helper()
	s.waitFor("db/prod/password")
	s.press("c")
	s.waitFor("1 Basics")
	s.press("right", "tab")
	s.typeText(name)
	s.press("tab", "tab")
	s.typeText("app")
	s.press("tab", "tab")
	s.typeText("Initial-Passw0rd")
	s.press("enter")
	s.waitFor("● 2 Rotation", "Automatic rotation")
}

// The rotation step takes a schedule and a window; its note is the next
// window and the secret's start in it, and the review says it all.
func TestWizardECSSchedule(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	toRotationStep(s, "web1/app")
	s.press("right", "right", "tab")
	s.waitFor("› Schedule", "rate(N days|hours), or cron(")
	s.typeText(sundayCron)
	s.press("tab")
	s.waitFor("› Window", "the default: 1h")
	s.typeText("3h")
	v := s.waitFor("next window 2026-05-24 02:00 – 05:00 UTC; this secret starts at 0")
	if strings.Contains(v, "Rotation period") {
		t.Fatalf("the period shows beside the schedule:\n%s", v)
	}
	s.golden()
}

func TestWizardECSScheduleReview(t *testing.T) {
	s := start(t, newFixture(t, model.RoleAdmin).svc, 100, 30)
	toRotationStep(s, "web1/app")
	s.press("right", "right", "tab")
	s.typeText(sundayCron)
	s.press("tab")
	s.typeText("3h")
	s.press("enter")
	s.waitFor("● 3 Review", "Automatic rotation  Enabled · "+sundayCron+", window 3h", "Next window         2026-05-24 02:00 – 05:00")
}

// A wrong schedule or window shows the service's error under the field it
// names, and the step does not go on; nothing is created.
func TestWizardECSBadSchedule(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	toRotationStep(s, "web1/app")
	s.press("right", "right", "tab")
	s.press("enter") // an empty schedule
	s.waitFor("● 2 Rotation", "› Schedule", "✗ Required")
	s.typeText("cron(0 2 ? * FUN *)")
	s.press("enter")
	v := s.waitFor("● 2 Rotation", "› Schedule", `✗ The day-of-week field "FUN" is not a value`)
	if strings.Contains(v, "✗ Must be") {
		t.Fatalf("the window shows an error of the schedule:\n%s", v)
	}
	// A window too long for a schedule is the window's error.
	for range len("cron(0 2 ? * FUN *)") {
		s.press("backspace")
	}
	s.typeText("cron(0 */2 * * ? *)")
	s.press("tab")
	s.typeText("3h")
	s.press("enter")
	s.waitFor("● 2 Rotation", "› Window", "✗ 3h is longer than the 2h between two starts of cron(0 */2 * * ? *)")
	s.press("backspace", "backspace")
	s.typeText("25h")
	s.press("shift+tab", "enter")
	v = s.waitFor("● 2 Rotation", "› Window", `✗ Must be between 1h and 24h, got "25h"`)
	if strings.Contains(lineWith(v, "Schedule"), "✗") {
		t.Fatalf("the schedule shows the window's error:\n%s", v)
	}
	if _, err := f.svc.DescribeSecret(context.Background(), service.SecretNameRequest{SecretName: "acs/ecs/web1/app"}); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("a secret was created: %v", err)
	}
	if n := auditCount(t, f.svc, "CreateSecret"); n != 3 { // the fixture's three
		t.Fatalf("%d CreateSecret, want the fixture's 3", n)
	}
	s.golden()
}

// The wizard puts a refusal of the service that names a rotation
// parameter under that field, on the rotation step.
func TestRotationFieldsShowServiceError(t *testing.T) {
	c := &common{st: newStyles(plainRenderer()), keys: newKeyMap(), now: fixedClock}
	r := newRotationFields(c, func(int64) string { return "" }, func(string, int64) model.Secret { return model.Secret{} })
	for param, want := range map[string]any{"RotationInterval": r.period, "RotationSchedule": r.schedule, "RotationWindow": r.window} {
		err := model.InvalidParam(param, "no")
		if got := r.showError(err); got != want {
			t.Fatalf("%s went to %v", param, got)
		}
	}
	if r.window.Err == nil || !r.window.Touched {
		t.Fatal("the window does not show the error")
	}
	if r.showError(model.InvalidParam("SecretName", "no")) != nil || r.showError(nil) != nil {
		t.Fatal("an error of another parameter went to a rotation field")
	}
}

// Edit Secret moves a secret from a period to a schedule and back; the
// details show it, the service reads it back, and a schedule left as it
// is sends nothing.
func TestEditSecretSchedule(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/web1/root", "down")
	s.press("tab", "right") // Every period → On a schedule
	s.waitFor("(•) On a schedule", "Schedule", "Window")
	s.press("tab")
	s.typeText(sundayCron)
	s.press("tab")
	s.typeText("3h")
	s.waitFor("next window 2026-05-24 02:00 – 05:00 UTC")
	s.press("enter")
	s.waitUntil("the details with the schedule", func(v string) bool {
		return strings.Contains(v, "Updated acs/ecs/web1/root: automatic rotation (Enabled · "+sundayCron+")") &&
			!strings.Contains(v, "Edit Secret") && strings.Contains(v, "Schedule       "+sundayCron) &&
			strings.Contains(v, "Next window    2026-05-24 02:00 – 05:00")
	})
	d := describe(t, f.svc, "acs/ecs/web1/root")
	if d.RotationSchedule != sundayCron || d.RotationWindow != "3h" || d.RotationInterval != "" || d.AutomaticRotation != model.RotationEnabled {
		t.Fatalf("read back: %+v", d)
	}

	// Opened again, the dialog shows the schedule; saved as it is, nothing
	// is sent.
	s.press("e")
	s.waitFor("Edit Secret", "(•) On a schedule", sundayCron, "3h")
	s.press("enter")
	s.waitFor("No changes to save")
	s.waitGone("Edit Secret")
	if n := auditCount(t, f.svc, "UpdateSecretRotationPolicy"); n != 1 {
		t.Fatalf("%d UpdateSecretRotationPolicy, want 1", n)
	}

	// Back to a period.
	s.press("e")
	s.waitFor("Edit Secret", "(•) On a schedule")
	s.press("tab", "left")
	s.waitFor("(•) Every period", "Rotation period")
	s.press("enter")
	s.waitFor("Updated acs/ecs/web1/root: automatic rotation (Enabled · 7d)")
	d = describe(t, f.svc, "acs/ecs/web1/root")
	if d.RotationSchedule != "" || d.RotationWindow != "" || d.RotationInterval != "604800s" {
		t.Fatalf("read back after going back to a period: %+v", d)
	}
}

// A bad schedule or window in Edit Secret shows the service's error under
// its field and saves nothing, not even the valid description.
func TestEditSecretBadSchedule(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	s := start(t, f.svc, 100, 30)
	openEdit(s, "acs/ecs/web1/root", "down")
	s.press("end")
	s.typeText(" (weekly)")
	s.press("tab", "right", "tab")
	s.typeText("cron(0 2 * * SUN *)")
	s.press("tab")
	s.typeText("2h")
	s.press("shift+tab", "shift+tab", "shift+tab") // back on the description
	s.press("enter")
	s.waitFor("› Schedule", "✗ Exactly one of the day-of-month (*) and day-of-week", "(SUN) fields must be ?")
	for range len("cron(0 2 * * SUN *)") {
		s.press("backspace")
	}
	s.typeText(sundayCron)
	s.waitGone("✗ Exactly one")
	s.press("tab", "backspace", "backspace")
	s.typeText("1d")
	s.press("enter")
	v := s.waitFor("› Window", "✗ Must be whole hours and minutes such as 3h, 90m or", `1h30m, got "1d"`)
	if !strings.Contains(v, "Edit Secret") {
		t.Fatalf("the dialog closed on a bad window:\n%s", v)
	}
	d := describe(t, f.svc, "acs/ecs/web1/root")
	if d.Description != "root on web1" || d.RotationSchedule != "" || d.RotationInterval != "604800s" {
		t.Fatalf("a bad window saved something: %+v", d)
	}
	if a, b := auditCount(t, f.svc, "UpdateSecret"), auditCount(t, f.svc, "UpdateSecretRotationPolicy"); a+b != 0 {
		t.Fatalf("a bad window sent %d UpdateSecret, %d UpdateSecretRotationPolicy", a, b)
	}
	s.golden()
}

// failEvents has every event now in the outbox refused by a delivery
// command that fails: they are stuck, as behind a receiver that is down.
func failEvents(t *testing.T, store *db.Store) {
	t.Helper()
	w, err := events.New(store, events.Config{Command: "exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.DeliverDue(context.Background())
	if err != nil || r.Failed == 0 {
		t.Fatalf("the failing delivery: %+v, %v", r, err)
	}
}

// deliverEvents delivers every event of the outbox, as a receiver that
// came back would take them.
func deliverEvents(t *testing.T, store *db.Store) {
	t.Helper()
	// Past every backoff of the failed attempts.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	w, err := events.New(store, events.Config{Command: "cat >/dev/null", Now: later})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r, err := w.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed > 0 {
			t.Fatalf("a delivery failed: %+v", r)
		}
		if r.Next.IsZero() {
			return
		}
	}
	t.Fatal("events are still undelivered")
}

// The header counts the events a receiver keeps refusing, with the age of
// the oldest; once they are delivered, the next reading (on the list's
// cadence) drops the count.
func TestHeaderStuckEvents(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	// An event two hours old: a secret created then.
	earlier := service.New(f.store, service.Options{Region: "cn-hangzhou", Actor: service.Actor{Name: "alice", Role: model.RoleAdmin},
		Now: func() time.Time { return fixedNow.Add(-2 * time.Hour) }})
	t.Cleanup(earlier.Close)
	if _, err := earlier.CreateSecret(context.Background(), service.CreateSecretRequest{SecretName: "ops/pager/token", SecretData: "pager-t0ken", VersionId: "v1"}); err != nil {
		t.Fatal(err)
	}
	failEvents(t, f.store)
	n, _, err := f.svc.StuckEvents(context.Background())
	if err != nil || n != 4 { // the head event of each of the four secrets
		t.Fatalf("StuckEvents: %d, %v", n, err)
	}
	s := start(t, f.svc, 100, 30)
	v := s.waitFor("4 events undelivered (oldest 2h)", "ops/pager/token")
	if head := strings.Split(v, "\n")[0]; !strings.Contains(head, "operator alice (admin)  4 events undelivered (oldest 2h)") {
		t.Fatalf("the count is not in the header:\n%s", head)
	}
	s.golden()

	s = start(t, f.svc, 80, 24)
	v = s.waitFor("4 events undelivered")
	if strings.Contains(v, "oldest") {
		t.Fatalf("the age does not fit at 80 columns, yet shows:\n%s", v)
	}

	deliverEvents(t, f.store)
	s.tm.Send(stuckTickMsg{})
	s.waitGone("undelivered")
}

// An outbox that cannot be read shows a short marker in the header, and
// the console goes on working.
func TestHeaderEventsUnreadable(t *testing.T) {
	f := newFixture(t, model.RoleAdmin)
	failEvents(t, f.store)
	s := start(t, f.svc, 100, 30)
	s.waitFor("3 events undelivered", "db/prod/password")
	f.store.Close()
	s.tm.Send(stuckTickMsg{})
	v := s.waitFor("events n/a")
	if strings.Contains(v, "undelivered") {
		t.Fatalf("a count from before the error stays:\n%s", v)
	}
	s.press("?")
	s.waitFor("Help", "filter")
	s.press("esc")
	s.waitGone("Help")
	s.press("down")
	s.waitFor("events n/a", "acs/ecs/web1/root")
}
