package ui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"kmsconsole/model"
	"kmsconsole/service"
	"kmsconsole/ui/components"
)

// rotationFields are the automatic rotation fields, a widget shared by the
// Create Secret wizard's rotation step and Edit Secret: the same choice,
// validation, wording and layout in both. A policy is Off, a period
// (RotationInterval) or a schedule (RotationSchedule, rate() or cron(),
// with an optional RotationWindow). The fields are validated as typed by
// the model's parsers, the very ones the service runs, so an error under a
// field is the service's own, and it stands under the field it names.
type rotationFields struct {
	c        *common
	mode     *components.Choice
	period   *components.TextField
	schedule *components.TextField
	window   *components.TextField
	// planned is the secret as it would be with the schedule expr and
	// window (seconds, 0 for the default) set: the wizard's new secret, or
	// Edit Secret's with its new policy. The schedule's note shows the
	// next window it would rotate in.
	planned func(expr string, window int64) model.Secret
}

// The choices of the Automatic rotation field.
const (
	rotOff      = "Off"
	rotPeriod   = "Every period"
	rotSchedule = "On a schedule"
)

const (
	defaultPeriod      = "7d"
	rotationLabelWidth = 19
)

// newRotationFields makes the fields, Off. periodNote is the text of when
// a valid period next rotates (after "every 7d; ").
func newRotationFields(c *common, periodNote func(secs int64) string, planned func(expr string, window int64) model.Secret) *rotationFields {
	r := &rotationFields{c: c, planned: planned}
	r.mode = &components.Choice{Name: "Automatic rotation", Options: []string{rotOff, rotPeriod, rotSchedule}}
	c.choiceKeys(r.mode)

	r.period = components.NewTextField("Rotation period", c.st.input("e.g. 7d, 12h (6h–8760h)"), func(v string) error {
		_, err := model.ParseRotationInterval(v)
		return err
	})
	r.period.SetValue(defaultPeriod)
	r.period.Note = func(v string) string {
		secs, err := model.ParseRotationInterval(v)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("every %s; %s", model.HumanInterval(secs), periodNote(secs))
	}

	r.schedule = components.NewTextField("Schedule", c.st.input("e.g. cron(0 2 ? * SUN *), rate(7 days)"), func(string) error {
		err, _ := r.errs()
		return err
	})
	r.schedule.Hint = "rate(N days|hours), or cron(minute hour day-of-month month day-of-week year); always UTC."
	r.schedule.Note = func(string) string { return r.scheduleNote() }

	r.window = components.NewTextField("Window", c.st.input("optional: 1h–24h, e.g. 3h"), func(string) error {
		_, err := r.errs()
		return err
	})
	r.window.Hint = "Rotations start only inside it; empty: 1h for cron, the whole day for rate."
	r.window.Note = func(v string) string {
		sched, err := r.parsed()
		if err != nil || strings.TrimSpace(v) != "" {
			return ""
		}
		return "the default: " + model.FormatRotationWindow(sched.Window)
	}
	r.sync(false)
	return r
}

// set shows s's policy: its schedule or its period, chosen when its
// rotation is on (on), else kept in the fields for when it is turned on.
func (r *rotationFields) set(s *model.Secret, on bool) {
	if s.RotationInterval > 0 {
		r.period.SetValue(model.HumanInterval(s.RotationInterval))
	}
	if s.RotationSchedule != "" {
		r.schedule.SetValue(s.RotationSchedule)
		if s.RotationWindow > 0 {
			r.window.SetValue(model.FormatRotationWindow(time.Duration(s.RotationWindow) * time.Second))
		}
	}
	switch {
	case !on:
		r.mode.Selected = 0
	case s.RotationSchedule != "":
		r.mode.Selected = 2
	default:
		r.mode.Selected = 1
	}
	r.sync(false)
}

func (r *rotationFields) items() []components.Item {
	return []components.Item{r.mode, r.period, r.schedule, r.window}
}

func (r *rotationFields) on() bool        { return r.mode.Value() != rotOff }
func (r *rotationFields) scheduled() bool { return r.mode.Value() == rotSchedule }

// sync shows the fields of the chosen policy (none when hidden: a generic
// secret has no rotation), and checks the schedule and its window again:
// each one's error depends on the other.
func (r *rotationFields) sync(hidden bool) {
	r.mode.Hide = hidden
	r.period.Hide = hidden || r.mode.Value() != rotPeriod
	r.schedule.Hide = hidden || !r.scheduled()
	r.window.Hide = r.schedule.Hide
	for _, f := range []*components.TextField{r.schedule, r.window} {
		touched := f.Touched
		f.Check()
		f.Touched = touched
	}
}

// expr and windowText are the schedule and the window as they are sent.
func (r *rotationFields) expr() string       { return strings.TrimSpace(r.schedule.Value()) }
func (r *rotationFields) windowText() string { return strings.TrimSpace(r.window.Value()) }

// parsed is the schedule with its window, or the service's error.
func (r *rotationFields) parsed() (*model.Schedule, error) {
	return model.ParseSchedule(r.expr(), r.windowText())
}

// windowSecs is the window as the store keeps it: 0 for the default.
func (r *rotationFields) windowSecs(sched *model.Schedule) int64 {
	if r.windowText() == "" {
		return 0
	}
	return int64(sched.Window / time.Second)
}

// errs checks the schedule and the window as the service does, and puts
// each error under the field it names: a window that is wrong alone, or
// too long for the schedule, is the window's; the rest the schedule's.
func (r *rotationFields) errs() (scheduleErr, windowErr error) {
	_, err := r.parsed()
	switch {
	case err == nil:
		return nil, nil
	case errParam(err) == paramRotationWindow:
		// The schedule may still be wrong on its own.
		_, scheduleErr = model.ParseSchedule(r.expr(), "")
		return scheduleErr, err
	}
	if w := r.windowText(); w != "" {
		_, windowErr = model.ParseRotationWindow(w)
	}
	return err, windowErr
}

// API parameters the fields stand for.
const (
	paramRotationInterval = "RotationInterval"
	paramRotationSchedule = "RotationSchedule"
	paramRotationWindow   = "RotationWindow"
)

// errParam is the API parameter an InvalidParameter or MissingParameter
// error names ("" when it names none).
func errParam(err error) string {
	var ae *model.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	for _, sep := range []string{" is invalid: ", " is required"} {
		if p, _, ok := cutParam(ae.Message, sep); ok {
			return p
		}
	}
	return ""
}

// scheduleNote is the schedule's note while it is valid: the next window,
// and when in it this secret starts (secrets that share a schedule are
// spread over the window).
func (r *rotationFields) scheduleNote() string {
	sched, err := r.parsed()
	if err != nil {
		return ""
	}
	s := r.planned(sched.Expr, r.windowSecs(sched))
	plan, ok := s.NextScheduled(r.c.now())
	if !ok {
		return "this schedule has no window left"
	}
	start := plan.Start.UTC().Format("15:04")
	if plan.Start.UTC().Day() != plan.WindowStart.UTC().Day() {
		start = fmtTime(plan.Start)
	}
	return "next window " + fmtWindow(plan.WindowStart, plan.WindowEnd) + " UTC; this secret starts at " + start
}

// check validates the visible fields and returns the first that is wrong
// (nil when none is).
func (r *rotationFields) check() components.Item {
	for _, f := range []*components.TextField{r.period, r.schedule, r.window} {
		if !f.Hide && f.Check() != nil {
			return f
		}
	}
	return nil
}

// showError puts an error of the service under the field it names and
// returns that field; nil when it names none of them.
func (r *rotationFields) showError(err error) components.Item {
	var f *components.TextField
	switch errParam(err) {
	case paramRotationInterval:
		f = r.period
	case paramRotationSchedule:
		f = r.schedule
	case paramRotationWindow:
		f = r.window
	default:
		return nil
	}
	f.Err, f.Touched = err, true
	return f
}

// request fills the policy's parameters (the fields must be valid).
func (r *rotationFields) request() (interval, schedule, window string) {
	switch r.mode.Value() {
	case rotPeriod:
		return r.period.Value(), "", ""
	case rotSchedule:
		return "", r.expr(), r.windowText()
	}
	return "", "", ""
}

// summary is the policy in words, for the review: "Disabled", "Enabled ·
// every 7d", "Enabled · cron(0 2 ? * SUN *), window 3h".
func (r *rotationFields) summary() string {
	switch r.mode.Value() {
	case rotPeriod:
		secs, _ := model.ParseRotationInterval(r.period.Value())
		return "Enabled · every " + model.HumanInterval(secs)
	case rotSchedule:
		if sched, err := r.parsed(); err == nil {
			return "Enabled · " + sched.String()
		}
	}
	return "Disabled"
}

// nextWindow is the next window of the schedule chosen (ok false when
// none is chosen, or it has none).
func (r *rotationFields) nextWindow() (plan model.RotationPlan, ok bool) {
	if !r.scheduled() {
		return plan, false
	}
	sched, err := r.parsed()
	if err != nil {
		return plan, false
	}
	s := r.planned(sched.Expr, r.windowSecs(sched))
	return s.NextScheduled(r.c.now())
}

// explain is the note under the fields, for the choice made.
func (r *rotationFields) explain() string {
	switch r.mode.Value() {
	case rotPeriod:
		return "Every period: the secret is rotated that long after its last rotation; a new password or key pair is " +
			"set on the instance and tested before it becomes ACSCurrent."
	case rotSchedule:
		return "On a schedule: a rotation starts only inside a window, at most once per window, at a time of its own " +
			"(secrets on one schedule spread over the window); a missed window is not made up later."
	}
	return "Off: the secret is rotated only when you rotate it (R). Every period or on a schedule, each rotation sets " +
		"a new password or key pair on the instance and tests it before it becomes ACSCurrent."
}

// policyRequest is the UpdateSecretRotationPolicy request of the fields
// for the secret name.
func (r *rotationFields) policyRequest(name string) *service.UpdateSecretRotationPolicyRequest {
	on := r.on()
	req := &service.UpdateSecretRotationPolicyRequest{SecretName: name, EnableAutomaticRotation: &on}
	req.RotationInterval, req.RotationSchedule, req.RotationWindow = r.request()
	return req
}
