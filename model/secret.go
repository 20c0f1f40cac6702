package model

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// SecretType tells a generic secret from a managed ECS one.
type SecretType string

const (
	Generic SecretType = "Generic"
	ECS     SecretType = "ECS"
)

// ParseSecretType accepts the cloud spellings, case-insensitively.
func ParseSecretType(s string) (SecretType, error) {
	switch strings.ToLower(s) {
	case "", "generic":
		return Generic, nil
	case "ecs":
		return ECS, nil
	}
	return "", InvalidParam("SecretType", "must be Generic or ECS, got %q", s)
}

// Label is how the console names the type.
func (t SecretType) Label() string {
	if t == ECS {
		return "Managed ECS secret"
	}
	return "Generic secret"
}

// Rotation states of a secret's automatic rotation.
const (
	RotationEnabled  = "Enabled"
	RotationDisabled = "Disabled"
	RotationInvalid  = "Invalid"
)

// Data types of a secret value.
const (
	DataText   = "text"
	DataBinary = "binary"
)

// Limits from the spec.
const (
	MaxSecretNameLen = 192
	MaxVersionIdLen  = 64
	MaxStageLen      = 64
	MaxSecretData    = 30720
	MaxDescription   = 1024
	MaxVersions      = 10
	MaxStages        = 8
	ECSNamePrefix    = "acs/ecs/"
)

// TimeFormat is ISO-8601 UTC with second precision, as the cloud returns.
const TimeFormat = "2006-01-02T15:04:05Z"

// FormatTime renders t in TimeFormat; the zero time renders as "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ParseTime is the inverse of FormatTime.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(TimeFormat, s)
}

// Secret is a named, versioned value's metadata (never its value).
type Secret struct {
	Name              string
	Type              SecretType
	Description       string
	RegionId          string
	DataType          string
	ExtendedConfig    string // JSON text; "" when none
	CreateTime        time.Time
	UpdateTime        time.Time
	AutomaticRotation string // Enabled, Disabled, Invalid
	RotationInterval  int64  // seconds; 0 when none
	// RotationSchedule is a rate() or cron() expression (SPEC §9), used
	// instead of RotationInterval when set; RotationWindow is its window in
	// seconds (0 = the schedule's default) and RotationAnchor the origin of
	// rate() windows (when the policy was set).
	RotationSchedule  string
	RotationWindow    int64
	RotationAnchor    time.Time
	LastRotationDate  time.Time
	NextRotationDate  time.Time
	RotationError     string // why the last rotation failed; "" when it did not
	RotationFailures  int    // consecutive failed rotations
	PlannedDeleteTime time.Time
	// AutoWanted is the operator's choice of automatic rotation. It
	// survives failures, during which AutomaticRotation shows Invalid, so
	// that a successful rotation (or a saved policy) re-arms it as it was.
	AutoWanted bool
}

// PendingDeletion reports whether deletion is planned.
func (s *Secret) PendingDeletion() bool { return !s.PlannedDeleteTime.IsZero() }

// Status is the console's status column.
func (s *Secret) Status(now time.Time) string {
	switch {
	case s.PendingDeletion():
		days := int(math.Ceil(s.PlannedDeleteTime.Sub(now).Hours() / 24))
		switch {
		case days <= 0:
			return "Pending deletion (today)"
		case days == 1:
			return "Pending deletion (in 1 day)"
		}
		return "Pending deletion (in " + strconv.Itoa(days) + " days)"
	case s.AutomaticRotation == RotationInvalid || s.RotationError != "":
		return "Rotation failed"
	}
	return "Enabled"
}

// ParsedSchedule is the secret's schedule, parsed (nil when it rotates by
// interval or not at all). Parsed schedules are shared between secrets: a
// scheduler tick over thousands of secrets parses each expression once.
func (s *Secret) ParsedSchedule() (*Schedule, error) {
	if s.RotationSchedule == "" {
		return nil, nil
	}
	key := s.RotationSchedule + "|" + strconv.FormatInt(s.RotationWindow, 10)
	if v, ok := parsedSchedules.Load(key); ok {
		return v.(*Schedule), nil
	}
	window := ""
	if s.RotationWindow > 0 {
		window = FormatRotationWindow(time.Duration(s.RotationWindow) * time.Second)
	}
	sched, err := ParseSchedule(s.RotationSchedule, window)
	if err != nil {
		return nil, err
	}
	parsedSchedules.Store(key, sched)
	return sched, nil
}

var parsedSchedules sync.Map

// RotationPlan is when a scheduled secret rotates next: the window, and the
// secret's own start in it (Schedule.StartIn).
type RotationPlan struct {
	WindowStart, WindowEnd, Start time.Time
}

// NextScheduled is the next window a scheduled secret may rotate in, as of
// now (ok false: not scheduled, or the schedule has no window left).
func (s *Secret) NextScheduled(now time.Time) (plan RotationPlan, ok bool) {
	sched, err := s.ParsedSchedule()
	if err != nil || sched == nil {
		return plan, false
	}
	start, end, ok := sched.NextRotation(s.RotationAnchor, s.LastRotationDate, now)
	if !ok {
		return plan, false
	}
	return RotationPlan{WindowStart: start, WindowEnd: end, Start: sched.StartIn(start, end, s.Name)}, true
}

// DueFrom is the earliest time a scheduled secret may be due, from its row
// alone: its start in the first window after its last rotation (or after
// the policy was set), and after a failure not before its retry time. The
// store keeps it so that a scheduler tick reads only the secrets whose
// time has come; a window missed meanwhile is moved on by DueFromNow.
// Zero for a secret that is not scheduled.
// nextRetry is when a failed rotation may be tried again.
func (s *Secret) DueFrom(nextRetry time.Time) time.Time {
	from := s.LastRotationDate
	if s.RotationAnchor.After(from) {
		from = s.RotationAnchor
	}
	return s.dueAfter(from, nextRetry)
}

// DueFromNow is DueFrom as of now: a window that has closed is passed over.
func (s *Secret) DueFromNow(now, nextRetry time.Time) time.Time { return s.dueAfter(now, nextRetry) }

func (s *Secret) dueAfter(now, nextRetry time.Time) time.Time {
	sched, err := s.ParsedSchedule()
	if err != nil || sched == nil {
		return time.Time{}
	}
	start, end, ok := sched.NextRotation(s.RotationAnchor, s.LastRotationDate, now)
	if !ok {
		return neverDue
	}
	at := sched.StartIn(start, end, s.Name)
	if s.AutomaticRotation == RotationInvalid && nextRetry.After(at) && nextRetry.Before(end) {
		at = nextRetry
	}
	return at
}

// neverDue stands for a schedule with no window left.
var neverDue = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Rotates reports whether the secret has a rotation policy: an interval or
// a schedule.
func (s *Secret) Rotates() bool { return s.RotationInterval > 0 || s.RotationSchedule != "" }

// NextRotation is the last rotation (or creation) plus the interval (for a
// scheduled secret, see NextScheduled).
func (s *Secret) NextRotation() time.Time {
	if s.AutomaticRotation == RotationDisabled || s.RotationInterval <= 0 || s.RotationSchedule != "" {
		return time.Time{}
	}
	base := s.LastRotationDate
	if base.IsZero() {
		base = s.CreateTime
	}
	return base.Add(time.Duration(s.RotationInterval) * time.Second)
}

// Version is one value of a secret, without the value.
type Version struct {
	VersionId  string
	CreateTime time.Time
	Stages     []string
}

func isNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("_/+=.@-", r)
}

// ValidateSecretName checks the name's charset and length, and the prefix
// rule for its type.
func ValidateSecretName(name string, typ SecretType) error {
	if name == "" {
		return MissingParam("SecretName")
	}
	if err := checkName("SecretName", name, MaxSecretNameLen); err != nil {
		return err
	}
	switch {
	case typ == ECS && !strings.HasPrefix(name, ECSNamePrefix):
		return InvalidParam("SecretName", "the name of an ECS secret must start with %q", ECSNamePrefix)
	case typ == Generic && strings.HasPrefix(name, "acs/"):
		return InvalidParam("SecretName", "the name of a generic secret must not start with \"acs/\"")
	}
	return nil
}

// ValidateSecretNameRef checks a name used to look a secret up.
func ValidateSecretNameRef(name string) error {
	if name == "" {
		return MissingParam("SecretName")
	}
	return checkName("SecretName", name, MaxSecretNameLen)
}

func checkName(param, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return InvalidParam(param, "at most %d characters, got %d", max, n)
	}
	for _, r := range s {
		if !isNameChar(r) {
			return InvalidParam(param, "only letters, digits and _ / + = . @ - are allowed, found %q", r)
		}
	}
	return nil
}

// ValidateVersionId checks a caller-chosen VersionId.
func ValidateVersionId(id string) error {
	if id == "" {
		return MissingParam("VersionId")
	}
	return checkName("VersionId", id, MaxVersionIdLen)
}

// ValidateStageName checks a stage label given by a caller.
func ValidateStageName(param, stage string) error {
	if stage == "" {
		return MissingParam(param)
	}
	if err := checkName(param, stage, MaxStageLen); err != nil {
		return err
	}
	if strings.HasPrefix(stage, "ACS") && stage != StageCurrent && stage != StagePrevious {
		return InvalidParam(param, "%q is reserved: stage labels starting with ACS are managed by the service", stage)
	}
	return nil
}

// ValidateDataType accepts text (default) or binary.
func ValidateDataType(t string) (string, error) {
	switch t {
	case "", DataText:
		return DataText, nil
	case DataBinary:
		return DataBinary, nil
	}
	return "", InvalidParam("SecretDataType", "must be text or binary, got %q", t)
}

// ValidateSecretData checks size and, for binary data, base64.
func ValidateSecretData(data, dataType string) error {
	if data == "" {
		return MissingParam("SecretData")
	}
	if len(data) > MaxSecretData {
		return InvalidParam("SecretData", "at most %d bytes, got %d", MaxSecretData, len(data))
	}
	if dataType == DataBinary {
		if _, err := base64.StdEncoding.DecodeString(data); err != nil {
			return InvalidParam("SecretData", "binary data must be base64")
		}
	} else if !utf8.ValidString(data) {
		return InvalidParam("SecretData", "text data must be UTF-8")
	}
	return nil
}

// ValidateDescription bounds the description.
func ValidateDescription(d string) error {
	if !utf8.ValidString(d) {
		return InvalidParam("Description", "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return InvalidParam("Description", "at most %d characters, got %d", MaxDescription, n)
	}
	for _, r := range d {
		if isControl(r) || isBidiControl(r) {
			return InvalidParam("Description", "control characters are not allowed, found %U", r)
		}
	}
	return nil
}

// isBidiControl reports the Unicode bidirectional overrides and isolates,
// which reorder what a terminal shows.
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// ValidateRegionId accepts region ids such as cn-hangzhou.
func ValidateRegionId(param, r string) error {
	if r == "" {
		return MissingParam(param)
	}
	if len(r) > 64 {
		return InvalidParam(param, "at most 64 characters")
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return InvalidParam(param, "only lowercase letters, digits and - are allowed, found %q", c)
		}
	}
	return nil
}

// ParseBool reads a CLI boolean.
func ParseBool(param, s string) (bool, error) {
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE", "":
		return false, nil
	}
	return false, InvalidParam(param, "must be true or false, got %q", s)
}
