package model

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Rotation schedules (SPEC §9): a RotationSchedule in the AWS Secrets Manager
// forms rate(N hours|days) and cron(min hour day-of-month month day-of-week
// year), always in UTC, and a RotationWindow of 1h–24h. A rotation starts only
// inside a window; within a window each secret starts at a stable offset
// derived from its name (StartIn).
//
// Windows of one schedule never overlap: ParseSchedule refuses a window longer
// than the shortest gap between two starts. That keeps "the window a time is
// in" unambiguous, so "rotate once per window" and "retries stay inside the
// window" mean one thing.

// Bounds of the rate() forms. Hours go down to 1 (AWS allows 4) because the
// window, not the rate, is what protects a host from rotation storms; days go
// up to 1000 as in AWS; hours up to 8760, a year, as RotationInterval does.
const (
	MinRateHours = 1
	MaxRateHours = 8760
	MinRateDays  = 1
	MaxRateDays  = 1000
)

// Bounds of RotationWindow, and its default for cron. For rate the default is
// the whole UTC day, or the whole period when the rate is shorter than a day.
const (
	MinRotationWindow     = time.Hour
	MaxRotationWindow     = 24 * time.Hour
	DefaultCronWindow     = time.Hour
	cronMinYear           = 1970 // the year field's range, as in AWS
	cronMaxYear           = 2199
	spreadNumerator       = 3 // StartIn spreads starts over the first 3/4 of a window,
	spreadDenominator     = 4 // leaving the last quarter for retries
	paramRotationSchedule = "RotationSchedule"
	paramRotationWindow   = "RotationWindow"
)

// Schedule is a parsed RotationSchedule with its effective RotationWindow.
// The zero value is not a schedule; use ParseSchedule. A Schedule holds no
// per-secret state, so one parsed value may serve every secret that shares
// the expression and window.
type Schedule struct {
	Expr   string        // canonical expression, e.g. "rate(7 days)", "cron(0 2 ? * SUN *)"
	Window time.Duration // effective window, default applied

	rate int64 // period in seconds for rate(); 0 for cron
	cron cronSpec
}

// cronSpec holds one bit per allowed value of each field: minute bit m,
// hour bit h, day-of-month bit d (1..31), month bit m (1..12), years bit
// y-cronMinYear. In day-of-week mode, dowByFirst[w] is the day-of-month mask
// of a month whose 1st is weekday w (0 = Sunday), so matching a day is one AND
// whichever field is used.
type cronSpec struct {
	minutes    uint64
	hours      uint64
	dom        uint64
	months     uint64
	years      [4]uint64
	useDOW     bool
	dowByFirst [7]uint64
}

// ParseSchedule validates a RotationSchedule and an optional RotationWindow
// ("" for the default: 1h for cron, the whole UTC day for rate(N days), the
// whole period, at most a day, for rate(N hours)).
func ParseSchedule(expr, window string) (*Schedule, error) {
	if expr == "" {
		return nil, MissingParam(paramRotationSchedule)
	}
	var s *Schedule
	var err error
	switch {
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		s, err = parseRate(expr[len("rate(") : len(expr)-1])
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		s, err = parseCron(expr[len("cron(") : len(expr)-1])
	default:
		return nil, InvalidParam(paramRotationSchedule, "must be rate(N hours|days) or cron(minute hour day-of-month month day-of-week year), got %q", expr)
	}
	if err != nil {
		return nil, err
	}
	if window != "" {
		if s.Window, err = ParseRotationWindow(window); err != nil {
			return nil, err
		}
	}
	if gap := s.minGap(s.Window); gap < s.Window {
		if window == "" || gap < MinRotationWindow {
			return nil, InvalidParam(paramRotationSchedule, "%s starts only %s apart, less than its %s window; windows must not overlap",
				s.Expr, FormatRotationWindow(gap), FormatRotationWindow(s.Window))
		}
		return nil, InvalidParam(paramRotationWindow, "%s is longer than the %s between two starts of %s; windows must not overlap",
			FormatRotationWindow(s.Window), FormatRotationWindow(gap), s.Expr)
	}
	return s, nil
}

// ParseRotationWindow reads a window of whole hours and minutes: 3h, 90m,
// 1h30m; 1h–24h.
func ParseRotationWindow(s string) (time.Duration, error) {
	if s == "" {
		return 0, MissingParam(paramRotationWindow)
	}
	rest, minutes, seen := s, int64(0), false
	for _, u := range []struct {
		suffix byte
		mins   int64
	}{{'h', 60}, {'m', 1}} {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || rest[i] != u.suffix {
			continue
		}
		if i > 5 {
			return 0, InvalidParam(paramRotationWindow, "must be between 1h and 24h, got %q", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		minutes += n * u.mins
		rest, seen = rest[i+1:], true
	}
	if !seen || rest != "" {
		return 0, InvalidParam(paramRotationWindow, "must be whole hours and minutes such as 3h, 90m or 1h30m, got %q", s)
	}
	d := time.Duration(minutes) * time.Minute
	if d < MinRotationWindow || d > MaxRotationWindow {
		return 0, InvalidParam(paramRotationWindow, "must be between 1h and 24h, got %q", s)
	}
	return d, nil
}

// FormatRotationWindow renders a window (or any whole-minute duration) as
// ParseRotationWindow reads it: 3h, 45m, 1h30m.
func FormatRotationWindow(d time.Duration) string {
	m := int64(d / time.Minute)
	switch {
	case m <= 0:
		return "0m"
	case m%60 == 0:
		return strconv.FormatInt(m/60, 10) + "h"
	case m < 60:
		return strconv.FormatInt(m, 10) + "m"
	}
	return strconv.FormatInt(m/60, 10) + "h" + strconv.FormatInt(m%60, 10) + "m"
}

// String is the schedule and its window, for DescribeSecret, the list and
// the details: "cron(0 2 ? * SUN *), window 3h".
func (s *Schedule) String() string {
	return s.Expr + ", window " + FormatRotationWindow(s.Window)
}

// IsRate tells a rate() schedule, whose windows need an anchor, from a cron().
func (s *Schedule) IsRate() bool { return s.rate > 0 }

// NextWindow returns the window [start, end) with the earliest start whose
// end is after `after`: the window `after` is in, if any (a window that has
// begun and not ended is current), else the next one. ok is false, with zero
// times, when no window ends after `after` (a cron whose year field lies in
// the past). Times are UTC.
//
// cron: a window opens at every minute the expression matches; anchor is
// ignored.
//
// rate(N days|hours): windows open at origin + k·N for k = 0, 1, 2, …, where
// origin is the UTC midnight of anchor's day (as AWS, a rate window starts at
// midnight; for N days every window is a whole UTC day's start). No window
// opens before origin. The caller chooses the anchor: the time the policy was
// set (or the secret created) keeps the grid fixed however often the secret
// is rotated by hand, which is the point of a schedule; the last rotation
// instead reproduces AWS's AutomaticallyAfterDays, which moves with every
// rotation. The anchor's own window (k = 0) is current until it ends, so a
// caller that must not rotate twice in a window uses NextRotation.
func (s *Schedule) NextWindow(anchor, after time.Time) (start, end time.Time, ok bool) {
	w := int64(s.Window / time.Second)
	if w <= 0 {
		return time.Time{}, time.Time{}, false
	}
	// With whole-second starts, start+w > after ⟺ start+w > after.Unix()
	// (Unix rounds down and a start is a whole second), so the rest is
	// integer arithmetic.
	limit := after.Unix() - w // the window must start after this
	var st int64
	if s.rate > 0 {
		origin := floorDiv(anchor.Unix(), 86400) * 86400
		k := int64(0)
		if limit >= origin {
			k = (limit-origin)/s.rate + 1
		}
		st = origin + k*s.rate
	} else {
		var found bool
		st, found = s.cron.next(floorDiv(limit, 60)*60 + 60)
		if !found {
			return time.Time{}, time.Time{}, false
		}
	}
	start = time.Unix(st, 0).UTC()
	return start, start.Add(s.Window), true
}

// NextRotation returns the window in which the next scheduled rotation may
// start: the first window that ends after now and began after lastRotation
// (zero if never rotated), so a secret rotates at most once per window. A
// rotation that failed leaves lastRotation alone and therefore keeps its
// window until the window ends; after that the next window is returned, and a
// missed window (no process was running) is never made up late.
func (s *Schedule) NextRotation(anchor, lastRotation, now time.Time) (start, end time.Time, ok bool) {
	after := now
	if lastRotation.After(after) {
		after = lastRotation
	}
	start, end, ok = s.NextWindow(anchor, after)
	if ok && !lastRotation.Before(start) {
		// Rotated in this window already: the windows do not overlap, so
		// the next one starts at or after this one's end.
		return s.NextWindow(anchor, end)
	}
	return start, end, ok
}

// InWindow reports whether t lies inside one of the schedule's windows, and
// which: the test for "a rotation, or a retry, starts only inside a window".
func (s *Schedule) InWindow(anchor, t time.Time) (start, end time.Time, ok bool) {
	start, end, ok = s.NextWindow(anchor, t)
	if !ok || t.Before(start) {
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// StartIn returns when, inside the window [windowStart, windowEnd), the
// secret named secretName starts rotating: windowStart plus an offset of
// whole seconds taken from a hash of the name (FNV-1a, then a 64-bit
// finaliser so that names differing in one character land far apart) modulo
// the first three quarters of the window. The offset is the same in every
// window of the same length, so secrets sharing a schedule spread evenly and
// each keeps its place; the last quarter is left for retries. When the
// process comes up after a secret's start but before the window ends, the
// start has passed and the rotation is due at once. StartIn depends only on
// its arguments, not on the schedule.
func (s *Schedule) StartIn(windowStart, windowEnd time.Time, secretName string) time.Time {
	span := int64(windowEnd.Sub(windowStart)/time.Second) * spreadNumerator / spreadDenominator
	if span <= 0 {
		return windowStart
	}
	return windowStart.Add(time.Duration(nameHash(secretName)%uint64(span)) * time.Second)
}

func nameHash(name string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a 64
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	// MurmurHash3 fmix64: FNV alone leaves the low bits of short, similar
	// names correlated.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// minGap is the shortest time between two starts of the schedule, capped at
// a day (no window is longer). w lets cron skip the costly part of the check
// when the window is short enough anyway.
func (s *Schedule) minGap(w time.Duration) time.Duration {
	if s.rate > 0 {
		return min(time.Duration(s.rate)*time.Second, MaxRotationWindow)
	}
	return s.cron.minGap(int64(w / time.Minute))
}

func parseRate(body string) (*Schedule, error) {
	f := strings.Split(body, " ")
	if len(f) != 2 || !isDigits(f[0]) {
		return nil, InvalidParam(paramRotationSchedule, "rate must be rate(N hours) or rate(N days), got %q", "rate("+body+")")
	}
	n := int64(-1)
	if len(f[0]) <= 6 {
		n, _ = strconv.ParseInt(f[0], 10, 64)
	}
	s := &Schedule{}
	switch f[1] {
	case "hour", "hours":
		if n < MinRateHours || n > MaxRateHours {
			return nil, InvalidParam(paramRotationSchedule, "the rate %s hours is out of range %d-%d hours", f[0], MinRateHours, MaxRateHours)
		}
		s.rate = n * 3600
		s.Window = min(time.Duration(n)*time.Hour, MaxRotationWindow)
		s.Expr = "rate(" + strconv.FormatInt(n, 10) + plural(n, " hour", " hours") + ")"
	case "day", "days":
		if n < MinRateDays || n > MaxRateDays {
			return nil, InvalidParam(paramRotationSchedule, "the rate %s days is out of range %d-%d days", f[0], MinRateDays, MaxRateDays)
		}
		s.rate = n * 86400
		s.Window = MaxRotationWindow
		s.Expr = "rate(" + strconv.FormatInt(n, 10) + plural(n, " day", " days") + ")"
	default:
		return nil, InvalidParam(paramRotationSchedule, "the rate unit %q must be hours or days", f[1])
	}
	return s, nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// cronField describes one field of a cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
	cyclic   bool     // a range may wrap around: FRI-MON, 22-2
	example  string   // how to write it, for messages
	question bool     // may be ?
}

var cronFields = [6]cronField{
	{name: "minute", min: 0, max: 59, cyclic: true, example: "0-59"},
	{name: "hour", min: 0, max: 23, cyclic: true, example: "0-23"},
	{name: "day-of-month", min: 1, max: 31, cyclic: true, example: "1-31", question: true},
	{name: "month", min: 1, max: 12, cyclic: true, example: "1-12 or JAN-DEC",
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 1, max: 7, cyclic: true, example: "1-7 (1 = SUN) or SUN-SAT", question: true,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
	{name: "year", min: cronMinYear, max: cronMaxYear, example: "1970-2199"},
}

// bitset holds the values of one field, bit v-min.
type bitset [4]uint64

func (b *bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b *bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b *bitset) empty() bool    { return b[0]|b[1]|b[2]|b[3] == 0 }

func parseCron(body string) (*Schedule, error) {
	var raw []string
	for _, f := range strings.Split(body, " ") {
		if f != "" {
			raw = append(raw, f)
		}
	}
	if len(raw) != 6 {
		return nil, InvalidParam(paramRotationSchedule, "cron needs 6 fields (minute hour day-of-month month day-of-week year), got %d in %q", len(raw), "cron("+body+")")
	}
	var sets [6]bitset
	var question [6]bool
	for i, f := range cronFields {
		if raw[i] == "?" {
			if !f.question {
				return nil, InvalidParam(paramRotationSchedule, "the %s field cannot be ?; only day-of-month or day-of-week can", f.name)
			}
			question[i] = true
			continue
		}
		set, err := f.parse(raw[i])
		if err != nil {
			return nil, err
		}
		sets[i] = set
	}
	const dom, dow = 2, 4
	if question[dom] == question[dow] {
		if question[dom] {
			return nil, InvalidParam(paramRotationSchedule, "exactly one of the day-of-month and day-of-week fields must be ?; both are")
		}
		return nil, InvalidParam(paramRotationSchedule, "exactly one of the day-of-month (%s) and day-of-week (%s) fields must be ?", raw[dom], raw[dow])
	}
	var c cronSpec
	c.minutes, c.hours = sets[0][0], sets[1][0]
	c.dom = sets[dom][0] << 1 // bit d for day d
	c.months = sets[3][0] << 1
	c.years = sets[5]
	if question[dom] {
		c.useDOW = true
		for first := 0; first < 7; first++ {
			for d := 1; d <= 31; d++ {
				if sets[dow].has((first + d - 1) % 7) {
					c.dowByFirst[first] |= 1 << d
				}
			}
		}
	} else {
		// A day-of-month no selected month has (30 FEB) would never match.
		longest := 0
		for m := 1; m <= 12; m++ {
			if c.months&(1<<m) != 0 {
				longest = max(longest, daysIn(2000, m)) // 2000: a leap year
			}
		}
		if c.dom&(1<<(longest+1)-1) == 0 {
			return nil, InvalidParam(paramRotationSchedule, "the day-of-month field %s never occurs in the months %s", raw[dom], raw[3])
		}
	}
	if _, ok := c.next(daysFromCivil(cronMinYear, 1, 1) * 86400); !ok {
		return nil, InvalidParam(paramRotationSchedule, "the year field %s has no date that matches the day and month fields (%s %s %s)", raw[5], raw[dom], raw[3], raw[dow])
	}
	return &Schedule{Expr: "cron(" + strings.Join(raw, " ") + ")", Window: DefaultCronWindow, cron: c}, nil
}

// parse reads one field: a list of *, a value, or a range a-b, each
// optionally with a step /n (a/n runs from a to the field's end).
func (f cronField) parse(s string) (bitset, error) {
	var set bitset
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return set, f.errorf("%s has an empty list item", s)
		}
		rng, step, hasStep := strings.Cut(item, "/")
		n := 1
		if hasStep {
			if !isDigits(step) || len(step) > 4 {
				return set, f.errorf("step %q in %s must be a whole number", step, item)
			}
			n, _ = strconv.Atoi(step)
			if n < 1 || n > f.max-f.min+1 {
				return set, f.errorf("step %d in %s is out of range 1-%d", n, item, f.max-f.min+1)
			}
		}
		var lo, hi int
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*":
			lo, hi = f.min, f.max
		case rng == "?":
			return set, f.errorf("? must stand alone, got %s", s)
		case isRange:
			var err error
			if lo, err = f.value(a); err != nil {
				return set, err
			}
			if hi, err = f.value(b); err != nil {
				return set, err
			}
			if lo > hi && !f.cyclic {
				return set, f.errorf("range %s runs backwards", rng)
			}
		default:
			var err error
			if lo, err = f.value(rng); err != nil {
				return set, err
			}
			hi = lo
			if hasStep {
				hi = f.max
			}
		}
		// Walk from lo to hi, wrapping past max for a range like FRI-MON.
		size := f.max - f.min + 1
		count := (hi-lo+size)%size + 1
		for i := 0; i < count; i += n {
			set.set((lo - f.min + i) % size)
		}
	}
	return set, nil
}

func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	if !isDigits(s) {
		// AWS's L, W and # are refused by name rather than as typos.
		switch {
		case strings.Contains(s, "#"):
			return 0, f.errorf("%s (the nth weekday of the month) is not supported", s)
		case strings.HasSuffix(s, "W") && isDigits(strings.TrimSuffix(s, "W")), s == "LW":
			return 0, f.errorf("%s (the nearest weekday) is not supported", s)
		case s == "L" || strings.HasSuffix(s, "L") && isDigits(strings.TrimSuffix(s, "L")) || strings.HasPrefix(s, "L"):
			return 0, f.errorf("%s (the last day) is not supported", s)
		}
		return 0, f.errorf("%q is not a value (%s)", s, f.example)
	}
	v := -1
	if len(s) <= 4 {
		v, _ = strconv.Atoi(s)
	}
	if v < f.min || v > f.max {
		return 0, f.errorf("%s is out of range %s", s, f.example)
	}
	return v, nil
}

func (f cronField) errorf(format string, args ...any) error {
	return InvalidParam(paramRotationSchedule, "the %s field %s", f.name, fmt.Sprintf(format, args...))
}

// dayMask returns the days of month m of year y the expression allows, bit d
// for day d.
func (c *cronSpec) dayMask(y, m int) uint64 {
	n := daysIn(y, m)
	all := uint64(1)<<(n+1) - 2
	if !c.useDOW {
		return c.dom & all
	}
	return c.dowByFirst[weekday(daysFromCivil(y, m, 1))] & all
}

func (c *cronSpec) year(y int) bool {
	i := y - cronMinYear
	return i >= 0 && i < 256 && c.years[i/64]&(1<<(i%64)) != 0
}

// next returns the first matching minute at or after t (Unix seconds, a whole
// minute). It moves a field at a time, each step a bit scan: whole years,
// months, days and hours that cannot match are skipped at once, so the cost is
// a few dozen operations however far away the match is.
func (c *cronSpec) next(t int64) (int64, bool) {
	days := floorDiv(t, 86400)
	y, m, d := civilFromDays(days)
	rem := int(t - days*86400)
	h, mi := rem/3600, rem%3600/60
	if y < cronMinYear {
		y, m, d, h, mi = cronMinYear, 1, 1, 0, 0
	}
	for y <= cronMaxYear {
		if !c.year(y) {
			y, m, d, h, mi = y+1, 1, 1, 0, 0
			continue
		}
		months := c.months &^ (1<<m - 1)
		if months == 0 {
			y, m, d, h, mi = y+1, 1, 1, 0, 0
			continue
		}
		if nm := bits.TrailingZeros64(months); nm != m {
			m, d, h, mi = nm, 1, 0, 0
		}
		dm := c.dayMask(y, m) &^ (1<<d - 1)
		if dm == 0 {
			m, d, h, mi = m+1, 1, 0, 0
			if m > 12 {
				y, m = y+1, 1
			}
			continue
		}
		if nd := bits.TrailingZeros64(dm); nd != d {
			d, h, mi = nd, 0, 0
		}
		hm := c.hours &^ (1<<h - 1)
		if hm == 0 {
			d, h, mi = d+1, 0, 0
			continue
		}
		if nh := bits.TrailingZeros64(hm); nh != h {
			h, mi = nh, 0
		}
		mm := c.minutes &^ (1<<mi - 1)
		if mm == 0 {
			h, mi = h+1, 0
			continue
		}
		mi = bits.TrailingZeros64(mm)
		return (daysFromCivil(y, m, d))*86400 + int64(h*3600+mi*60), true
	}
	return 0, false
}

// minGap is the shortest time between two consecutive matches (capped at a
// day). Within a day it follows from the minute and hour sets; across
// midnight it is the gap from the day's last start to the next day's first,
// which only counts if two consecutive days both match, and that takes a scan
// of the calendar, done only when a window of w minutes would need it.
func (c *cronSpec) minGap(w int64) time.Duration {
	gap := int64(24 * 60)
	first := int64(bits.TrailingZeros64(c.hours)*60 + bits.TrailingZeros64(c.minutes))
	last := int64((63-bits.LeadingZeros64(c.hours))*60 + 63 - bits.LeadingZeros64(c.minutes))
	gap = min(gap, smallestStep(c.minutes))
	if hs := smallestStep(c.hours); hs < 24*60 {
		lastMin := int64(63 - bits.LeadingZeros64(c.minutes))
		firstMin := int64(bits.TrailingZeros64(c.minutes))
		gap = min(gap, hs*60-lastMin+firstMin)
	}
	if wrap := 24*60 - last + first; wrap < gap && wrap < w && c.consecutiveDays() {
		gap = wrap
	}
	return time.Duration(gap) * time.Minute
}

// smallestStep is the least distance between two set bits, or a day in
// minutes when fewer than two are set.
func smallestStep(b uint64) int64 {
	best, prev := int64(24*60), -1
	for b != 0 {
		i := bits.TrailingZeros64(b)
		b &= b - 1
		if prev >= 0 {
			best = min(best, int64(i-prev))
		}
		prev = i
	}
	return best
}

// consecutiveDays reports whether two consecutive calendar days both match.
func (c *cronSpec) consecutiveDays() bool {
	prevLast := false // the day before the current month's 1st matched
	for y := cronMinYear; y <= cronMaxYear; y++ {
		for m := 1; m <= 12; m++ {
			if !c.year(y) || c.months&(1<<m) == 0 {
				prevLast = false
				continue
			}
			mask := c.dayMask(y, m)
			if mask&(mask>>1) != 0 || prevLast && mask&2 != 0 {
				return true
			}
			prevLast = mask&(1<<daysIn(y, m)) != 0
		}
	}
	return false
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekday of a day counted from 1970-01-01, a Thursday; 0 is Sunday.
func weekday(days int64) int { return int((days%7 + 11) % 7) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daysFromCivil and civilFromDays convert between proleptic Gregorian dates
// and days since 1970-01-01 (H. Hinnant's algorithms), cheaper than building
// a time.Time per step.
func daysFromCivil(y, m, d int) int64 {
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := floorDiv(yy, 400)
	yoe := yy - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}
