package ui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmsconsole/model"
	"kmsconsole/service"
)

// TestE2EScheduleWizard: in the real binary, the wizard creates a Managed
// ECS secret on a real sshd with a cron schedule and a 3h window;
// DescribeSecret has them, and the created step, the details and the list
// show them with the next window DescribeSecret gives. Edit Secret changes
// the window. A second wizard with a wrong cron shows the service's error
// under the schedule, cannot go on, and creates nothing.
func TestE2EScheduleWizard(t *testing.T) {
	requireTmux(t)
	const initial = "Initial-Passw0rd1"
	h := newManagedHost(t, "sch", "uis", initial)
	ctx := context.Background()
	bin := buildBinary(t)
	tm := startTmux(t, 120, 40, consoleCommand(bin, h.dbPath))
	tm.waitFor("Secrets [0]")

	name := "acs/ecs/sch/" + h.user
	tm.key("c")
	tm.waitFor("1 Basics")
	tm.key("Right", "Tab")
	tm.waitFor("acs/ecs/")
	tm.text("sch/" + h.user)
	tm.key("Tab")
	tm.waitFor("i-sch · sch · 127.0.0.1")
	tm.key("Tab")
	tm.text(h.user)
	tm.key("Tab", "Tab")
	tm.text(initial)
	tm.key("Enter")
	tm.waitFor("● 2 Rotation", "Automatic rotation")
	tm.key("Right", "Right", "Tab")
	tm.waitFor("› Schedule")
	tm.text(sundayCron)
	tm.key("Tab")
	tm.text("3h")
	tm.waitFor("next window ", "this secret starts at")
	tm.key("Enter")
	tm.waitFor("● 3 Review", "Enabled · "+sundayCron+", window 3h", "Next window")
	tm.key("Enter")
	v := tm.waitFor("Secret created", "Schedule            "+sundayCron+", window 3h")
	if strings.Contains(v, "Warning") || strings.Contains(v, initial) {
		t.Fatalf("the created step shows a warning or the password:\n%s", v)
	}

	d, err := h.svc.DescribeSecret(ctx, service.SecretNameRequest{SecretName: name})
	if err != nil {
		t.Fatal(err)
	}
	if d.RotationSchedule != sundayCron || d.RotationWindow != "3h" || d.AutomaticRotation != model.RotationEnabled || d.RotationInterval != "" {
		t.Fatalf("DescribeSecret: %+v", d)
	}
	start, end := apiTime(t, d.NextRotationWindowStart), apiTime(t, d.NextRotationWindowEnd)
	if start.Weekday() != time.Sunday || start.Hour() != 2 || end.Sub(start) != 3*time.Hour {
		t.Fatalf("next window %s – %s: not Sunday 02:00–05:00 UTC", d.NextRotationWindowStart, d.NextRotationWindowEnd)
	}
	window := fmtWindow(start, end)
	tm.waitFor("Next window         " + window)

	tm.key("Enter")
	tm.waitFor("Secret "+name, "Schedule       "+sundayCron, "Window         3h",
		"Next window    "+window, "Next rotation  "+fmtTime(apiTime(t, d.NextRotationDate)))

	// Edit Secret: the schedule is there; a 2h window is saved.
	tm.key("e")
	tm.waitFor("Edit Secret", "(•) On a schedule", sundayCron)
	tm.key("Tab", "Tab", "Tab")
	tm.waitFor("› Window")
	tm.key("BSpace", "BSpace")
	tm.text("2h")
	tm.key("Enter")
	tm.waitFor("Updated "+name+": automatic rotation (Enabled · "+sundayCron+")", "Window         2h")
	if d := describe(t, h.svc, name); d.RotationWindow != "2h" || d.RotationSchedule != sundayCron {
		t.Fatalf("after the edit: %+v", d)
	}

	tm.key("Escape")
	tm.waitFor("Secrets [1]")
	if row := lineWith(tm.capture(), name); !strings.Contains(row, "Enabled · "+sundayCron) || !strings.Contains(row, fmtDate(start)) {
		t.Fatalf("the list row does not show the schedule and %s:\n%s", fmtDate(start), row)
	}

	// A wrong cron: the service's words under the schedule, and no step on.
	tm.key("c")
	tm.waitFor("1 Basics")
	tm.key("Right", "Tab")
	tm.waitFor("acs/ecs/")
	tm.text("sch/other")
	tm.key("Tab", "Tab")
	tm.text("nobody")
	tm.key("Tab", "Tab")
	tm.text(initial)
	tm.key("Enter")
	tm.waitFor("● 2 Rotation")
	tm.key("Right", "Right", "Tab")
	tm.text("cron(0 2 ? * FUN *)")
	tm.key("Enter")
	tm.waitFor("● 2 Rotation", "› Schedule", `✗ The day-of-week field "FUN" is not a value`)
	tm.key("Escape")
	tm.waitFor("● 1 Basics")
	tm.key("Escape")
	tm.waitFor("Discard what you typed?")
	tm.key("y")
	tm.waitFor("Secrets [1]")
	tm.key("q")
	tm.waitGone("Secrets [1]")

	if _, err := h.svc.DescribeSecret(ctx, service.SecretNameRequest{SecretName: "acs/ecs/sch/other"}); !model.IsCode(err, model.CodeNotFound) {
		t.Fatalf("the wizard with a wrong cron created a secret: %v", err)
	}
	if n := auditCount(t, h.svc, "CreateSecret"); n != 1 {
		t.Fatalf("%d CreateSecret, want 1", n)
	}
}

// TestE2EStuckEventsHeader: the real binary's header counts the events a
// delivery channel keeps refusing (here, an --on-event command that
// fails); the list under it works as ever.
func TestE2EStuckEventsHeader(t *testing.T) {
	requireTmux(t)
	dbPath := filepath.Join(t.TempDir(), "kms.db")
	ctx := context.Background()
	svc := openService(t, dbPath)
	for _, name := range []string{"e2e/app/one", "e2e/app/two"} {
		if _, err := svc.CreateSecret(ctx, service.CreateSecretRequest{SecretName: name, SecretData: "t0ken-value", VersionId: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	failEvents(t, openStore(t, dbPath))
	bin := buildBinary(t)
	tm := startTmux(t, 120, 40, consoleCommand(bin, dbPath))
	v := tm.waitFor("Secrets [2]", "2 events undelivered (oldest ")
	if head := strings.Split(v, "\n")[0]; !strings.Contains(head, "2 events undelivered") {
		t.Fatalf("the count is not in the header:\n%s", head)
	}
	if strings.Contains(v, "t0ken-value") {
		t.Fatal("a value shows on the screen")
	}
	tm.key("Enter")
	tm.waitFor("Secret e2e/app/one", "Versions [1]", "2 events undelivered")
	tm.key("q")
	tm.waitGone("undelivered")
}
