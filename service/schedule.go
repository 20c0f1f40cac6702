package service

import (
	"time"

	"kmsconsole/db"
	"kmsconsole/model"
)

// rotationPolicy is the automatic rotation CreateSecret or
// UpdateSecretRotationPolicy was asked for: an interval (as before), or a
// schedule with its window (SPEC §9).
type rotationPolicy struct {
	interval int64  // seconds
	schedule string // canonical rate() or cron()
	window   int64  // seconds; 0 = the schedule's default
}

// given reports whether any of the policy's parameters was given.
func (p rotationPolicy) given() bool { return p.interval != 0 || p.schedule != "" }

// parseRotationPolicy checks RotationInterval, RotationSchedule and
// RotationWindow together: one of interval and schedule, a window only
// with a schedule.
func parseRotationPolicy(interval, schedule, window string) (p rotationPolicy, err error) {
	switch {
	case interval != "" && schedule != "":
		return p, model.InvalidParam("RotationSchedule", "give either RotationInterval or RotationSchedule, not both")
	case window != "" && schedule == "":
		return p, model.InvalidParam("RotationWindow", "a RotationWindow goes with a RotationSchedule")
	case interval != "":
		p.interval, err = model.ParseRotationInterval(interval)
		return p, err
	case schedule != "":
		sched, err := model.ParseSchedule(schedule, window)
		if err != nil {
			return p, err
		}
		p.schedule = sched.Expr
		if window != "" {
			p.window = int64(sched.Window / time.Second)
		}
	}
	return p, nil
}

// apply sets the policy on sec. A schedule's rate() windows are anchored
// at now, when the policy is set, so that they do not drift with manual
// rotations.
func (p rotationPolicy) apply(sec *model.Secret, now time.Time) {
	switch {
	case p.interval != 0:
		sec.RotationInterval = p.interval
		sec.RotationSchedule, sec.RotationWindow, sec.RotationAnchor = "", 0, time.Time{}
	case p.schedule != "":
		sec.RotationInterval = 0
		sec.RotationSchedule, sec.RotationWindow, sec.RotationAnchor = p.schedule, p.window, now
	}
}

// scheduleView is how a secret's schedule shows in DescribeSecret and
// CreateSecret's answer: the expression, the window, and the next window
// (with NextRotationDate the secret's own start in it).
type scheduleView struct {
	schedule, window, windowStart, windowEnd, next string
}

func viewSchedule(sec *model.Secret, now time.Time) (v scheduleView) {
	sched, err := sec.ParsedSchedule()
	if err != nil || sched == nil {
		return v
	}
	v.schedule, v.window = sched.Expr, model.FormatRotationWindow(sched.Window)
	if plan, ok := sec.NextScheduled(now); ok && sec.AutomaticRotation != model.RotationDisabled {
		v.windowStart, v.windowEnd = model.FormatTime(plan.WindowStart), model.FormatTime(plan.WindowEnd)
		v.next = model.FormatTime(plan.Start)
	}
	return v
}

// dueScheduled reports whether a scheduled secret should rotate now: inside
// a window it has not rotated in, at or after its own start there; after a
// failure, at its retry time if that comes before the window closes. A
// window missed while no process ran is never made up late: the next one
// is waited for.
func dueScheduled(r *db.SecretRow, now time.Time) bool {
	plan, ok := r.NextScheduled(now)
	if !ok || now.Before(plan.Start) || !now.Before(plan.WindowEnd) {
		return false
	}
	return r.AutomaticRotation != model.RotationInvalid || !now.Before(r.NextRetry)
}
