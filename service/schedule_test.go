package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
)

// scheduledRow is an ECS secret row on a schedule, enabled, never rotated.
func scheduledRow(t testing.TB, name, expr, window string, anchor time.Time) *db.SecretRow {
	t.Helper()
	p, err := parseRotationPolicy("", expr, window)
	if err != nil {
		t.Fatal(err)
	}
	r := &db.SecretRow{Secret: model.Secret{Name: name, Type: model.ECS, RegionId: DefaultRegion, DataType: model.DataText,
		CreateTime: anchor, UpdateTime: anchor, AutomaticRotation: model.RotationEnabled, AutoWanted: true}}
	p.apply(&r.Secret, anchor)
	return r
}

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// A scheduled secret rotates inside its window, at its own start there,
// once per window; a missed window is not made up late, and retries after
// a failure stay inside the window they failed in.
func TestScheduledRotationIsDueOnlyInItsWindow(t *testing.T) {
	// Sundays 02:00-05:00 UTC; 2026-12-06 is a Sunday.
	r := scheduledRow(t, "acs/ecs/web1/app", "cron(0 2 ? * SUN *)", "3h", at("2026-12-01 10:00"))
	plan, ok := r.NextScheduled(at("2026-12-01 10:00"))
	if !ok || plan.WindowStart != at("2026-12-06 02:00") || plan.WindowEnd != at("2026-12-06 05:00") ||
		plan.Start.Before(plan.WindowStart) || !plan.Start.Before(plan.WindowEnd) {
		t.Fatalf("plan %+v", plan)
	}
	start := plan.Start
	for _, c := range []struct {
		now  time.Time
		want bool
	}{
		{at("2026-12-05 23:00"), false}, // before the window
		{at("2026-12-06 02:00"), start.Equal(at("2026-12-06 02:00"))},
		{start.Add(-time.Second), false},      // in the window, before its own start
		{start, true},                         // its start
		{at("2026-12-06 04:59"), true},        // still in the window
		{at("2026-12-06 05:00"), false},       // the window has closed
		{at("2026-12-06 09:00"), false},       // missed: not made up late
		{at("2026-12-13 01:59"), false},       // the next window has not opened
		{start.Add(7 * 24 * time.Hour), true}, // the next window, same offset
	} {
		if got := dueForRotation(r, c.now); got != c.want {
			t.Errorf("due at %v (start %v): %v, want %v", c.now, start, got, c.want)
		}
	}
	// Rotated in this window: not again until the next.
	rotated := *r
	rotated.LastRotationDate = start.Add(time.Minute)
	if dueForRotation(&rotated, start.Add(2*time.Minute)) || !dueForRotation(&rotated, start.Add(7*24*time.Hour)) {
		t.Error("a secret rotated in this window is due again in it, or not in the next")
	}
	// A failure: the retry waits for its time, inside the window.
	failed := *r
	failed.AutomaticRotation, failed.RotationFailures = model.RotationInvalid, 1
	failed.NextRetry = start.Add(10 * time.Minute)
	if dueForRotation(&failed, start.Add(5*time.Minute)) || !dueForRotation(&failed, start.Add(10*time.Minute)) {
		t.Error("a retry did not wait for its time")
	}
	// A retry time after the window's end does not fire late; the next
	// window tries again from its start.
	failed.NextRetry = at("2026-12-06 06:00")
	if dueForRotation(&failed, at("2026-12-06 04:59")) || dueForRotation(&failed, at("2026-12-06 06:00")) {
		t.Error("a retry fired outside the window")
	}
	if !dueForRotation(&failed, start.Add(7*24*time.Hour)) {
		t.Error("a failed secret is not tried again in the next window")
	}
	// rate(): windows anchored at the day the policy was set.
	daily := scheduledRow(t, "acs/ecs/web1/db", "rate(1 day)", "", at("2026-12-01 10:00"))
	p, ok := daily.NextScheduled(at("2026-12-01 10:00"))
	if !ok || p.WindowStart != at("2026-12-01 00:00") || p.WindowEnd != at("2026-12-02 00:00") {
		t.Fatalf("rate(1 day) plan %+v", p)
	}
}

// 1,000 secrets on one schedule spread their starts over the window.
func TestScheduledStartsSpreadOverTheWindow(t *testing.T) {
	perMinute := map[time.Time]int{}
	for i := 0; i < 1000; i++ {
		r := scheduledRow(t, fmt.Sprintf("acs/ecs/host%03d/app", i), "cron(0 2 ? * SUN *)", "3h", at("2026-12-01 10:00"))
		plan, ok := r.NextScheduled(at("2026-12-01 10:00"))
		if !ok || plan.Start.Before(plan.WindowStart) || !plan.Start.Before(plan.WindowEnd) {
			t.Fatalf("plan %+v", plan)
		}
		perMinute[plan.Start.Truncate(time.Minute)]++
	}
	for m, n := range perMinute {
		if n > 30 {
			t.Fatalf("%d of 1,000 secrets start in the minute %v (more than 3 %%)", n, m)
		}
	}
	if len(perMinute) < 100 {
		t.Fatalf("the starts fall in only %d distinct minutes", len(perMinute))
	}
}

func TestRotationPolicyParameters(t *testing.T) {
	for _, c := range []struct{ interval, schedule, window, param, words string }{
		{"7d", "rate(7 days)", "", "RotationSchedule", "not both"},
		{"", "", "3h", "RotationWindow", "goes with a RotationSchedule"},
		{"", "cron(0 25 ? * SUN *)", "", "RotationSchedule", "hour"},
		{"", "cron(0 2 ? * FUNDAY *)", "", "RotationSchedule", "day-of-week"},
		{"", "cron(0 2 ? * SUN *)", "30m", "RotationWindow", ""},
		{"", "cron(0 2 ? * SUN *)", "25h", "RotationWindow", ""},
	} {
		_, err := parseRotationPolicy(c.interval, c.schedule, c.window)
		if !model.IsCode(err, model.CodeInvalidParameter) || !strings.Contains(err.Error(), c.param) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// BenchmarkSchedulerTick is one scheduler pass over 10,000 scheduled
// secrets, none due (issue 14: under 50 ms).
func BenchmarkSchedulerTick(b *testing.B) {
	store, err := db.Open(dbtest.Locator(b), "")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	anchor := at("2026-12-01 10:00")
	ctx := context.Background()
	const n = 10000
	err = store.Write(ctx, func(tx *db.Tx) error {
		for i := 0; i < n; i++ {
			expr := []string{"cron(0 2 ? * SUN *)", "rate(7 days)", "cron(30 3 1 * ? *)"}[i%3]
			if _, err := tx.InsertSecret(scheduledRow(b, fmt.Sprintf("acs/ecs/host%05d/app", i), expr, "", anchor)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	svc := New(store, Options{Actor: Actor{Name: "scheduler", Role: model.RoleAdmin}, Now: func() time.Time { return at("2026-12-02 12:00") }})
	// The first tick finds the rate() secrets' first window passed unused
	// and moves them on to the next (one write); the ticks after it read
	// only what is due. The first is reported apart.
	first := time.Now()
	if res := svc.RotateDue(ctx); len(res) != 0 {
		b.Fatalf("%d secrets were due", len(res))
	}
	firstTick := time.Since(first)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := svc.RotateDue(ctx); len(res) != 0 {
			b.Fatalf("%d secrets were due", len(res))
		}
	}
	b.ReportMetric(float64(firstTick.Microseconds())/1000, "first-tick-ms")
}

// Through the store: a schedule set with UpdateSecretRotationPolicy shows
// in DescribeSecret with its next window, and the scheduler rotates the
// secret once in that window, at its start, and not before.
func TestScheduledRotationThroughTheScheduler(t *testing.T) {
	f := newECSFixture(t, model.SubTypePassword)
	ctx := context.Background()
	clock := at("2026-12-01 10:00")
	svc := New(f.store, Options{Actor: Actor{Name: "tester", Role: model.RoleAdmin}, Now: func() time.Time { return clock }})
	t.Cleanup(svc.Close)
	yes := true
	if _, err := svc.UpdateSecretRotationPolicy(ctx, UpdateSecretRotationPolicyRequest{SecretName: f.secret, EnableAutomaticRotation: &yes,
		RotationSchedule: "cron(0 2 ? * SUN *)", RotationWindow: "3h"}); err != nil {
		t.Fatal(err)
	}
	d, err := svc.DescribeSecret(ctx, SecretNameRequest{SecretName: f.secret})
	if err != nil {
		t.Fatal(err)
	}
	if d.RotationSchedule != "cron(0 2 ? * SUN *)" || d.RotationWindow != "3h" || d.RotationInterval != "" ||
		d.NextRotationWindowStart != "2026-12-06T02:00:00Z" || d.NextRotationWindowEnd != "2026-12-06T05:00:00Z" || d.NextRotationDate == "" {
		t.Fatalf("described %+v", d)
	}
	start, err := time.Parse(time.RFC3339, d.NextRotationDate)
	if err != nil {
		t.Fatal(err)
	}
	sched := svc.As(Actor{Name: "scheduler", Role: model.RoleAdmin})
	clock = start.Add(-time.Second)
	if res := sched.RotateDue(ctx); len(res) != 0 {
		t.Fatalf("rotated before its start: %+v", res)
	}
	clock = start
	res := sched.RotateDue(ctx)
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("at its start: %+v", res)
	}
	clock = start.Add(30 * time.Minute)
	if res := sched.RotateDue(ctx); len(res) != 0 {
		t.Fatalf("rotated twice in one window: %+v", res)
	}
	if id, cur := f.at(model.StageCurrent); id != res[0].VersionId {
		t.Fatalf("ACSCurrent %s, rotated to %s", id, res[0].VersionId)
	} else {
		f.mustLogin("the scheduled rotation's password", cur)
	}
	// A week without any process running: the missed window is not made
	// up afterwards; the one after it is kept.
	clock = start.Add(7*24*time.Hour + 4*time.Hour)
	if res := sched.RotateDue(ctx); len(res) != 0 {
		t.Fatalf("a missed window was made up late: %+v", res)
	}
	clock = start.Add(14 * 24 * time.Hour)
	if res := sched.RotateDue(ctx); len(res) != 1 || res[0].Err != nil {
		t.Fatalf("the window after the missed one: %+v", res)
	}
}
