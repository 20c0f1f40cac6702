package model

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustSchedule(t testing.TB, expr, window string) *Schedule {
	t.Helper()
	s, err := ParseSchedule(expr, window)
	if err != nil {
		t.Fatalf("ParseSchedule(%q, %q): %v", expr, window, err)
	}
	return s
}

func TestParseScheduleValid(t *testing.T) {
	tests := []struct {
		expr, window string
		wantExpr     string
		wantWindow   time.Duration
	}{
		{"rate(7 days)", "", "rate(7 days)", 24 * time.Hour},
		{"rate(1 day)", "", "rate(1 day)", 24 * time.Hour},
		{"rate(1 days)", "", "rate(1 day)", 24 * time.Hour},
		{"rate(007 days)", "", "rate(7 days)", 24 * time.Hour},
		{"rate(1000 days)", "3h", "rate(1000 days)", 3 * time.Hour},
		{"rate(1 hour)", "", "rate(1 hour)", time.Hour},
		{"rate(1 hours)", "", "rate(1 hour)", time.Hour},
		{"rate(6 hours)", "", "rate(6 hours)", 6 * time.Hour},
		{"rate(12 hours)", "90m", "rate(12 hours)", 90 * time.Minute},
		{"rate(36 hours)", "", "rate(36 hours)", 24 * time.Hour},
		{"rate(8760 hours)", "24h", "rate(8760 hours)", 24 * time.Hour},
		{"rate(4 hours)", "4h", "rate(4 hours)", 4 * time.Hour},
		{"cron(0 2 ? * SUN *)", "", "cron(0 2 ? * SUN *)", time.Hour},
		{"cron(0 2 ? * SUN *)", "3h", "cron(0 2 ? * SUN *)", 3 * time.Hour},
		{"cron(0  2 ?  * sun *)", "", "cron(0 2 ? * sun *)", time.Hour},
		{"cron(0 0 29 2 ? *)", "24h", "cron(0 0 29 2 ? *)", 24 * time.Hour},
		{"cron(0 */6 * * ? *)", "6h", "cron(0 */6 * * ? *)", 6 * time.Hour},
		{"cron(0 1,23 1 * ? *)", "3h", "cron(0 1,23 1 * ? *)", 3 * time.Hour},             // the 1st only: 23:00 and next 01:00 are a month apart
		{"cron(0 1,23 ? * SUN,TUE *)", "3h", "cron(0 1,23 ? * SUN,TUE *)", 3 * time.Hour}, // no two days in a row
		{"cron(0 1,23 1,31 JAN ? *)", "3h", "cron(0 1,23 1,31 JAN ? *)", 3 * time.Hour},
		{"cron(0 1,23 1,31 JAN,DEC ? 2026)", "3h", "cron(0 1,23 1,31 JAN,DEC ? 2026)", 3 * time.Hour}, // 2027 not allowed
		{"cron(0 0 1 1 ? 1970)", "", "cron(0 0 1 1 ? 1970)", time.Hour},
		{"cron(59 23 31 12 ? 2199)", "", "cron(59 23 31 12 ? 2199)", time.Hour},
		{"cron(0 0 * * ? *)", "24h", "cron(0 0 * * ? *)", 24 * time.Hour},
	}
	for _, tc := range tests {
		s, err := ParseSchedule(tc.expr, tc.window)
		if err != nil {
			t.Errorf("ParseSchedule(%q, %q): %v", tc.expr, tc.window, err)
			continue
		}
		if s.Expr != tc.wantExpr || s.Window != tc.wantWindow {
			t.Errorf("ParseSchedule(%q, %q) = %q %v, want %q %v", tc.expr, tc.window, s.Expr, s.Window, tc.wantExpr, tc.wantWindow)
		}
		// The canonical form parses to the same schedule.
		again := mustSchedule(t, s.Expr, FormatRotationWindow(s.Window))
		if *again != *s {
			t.Errorf("%q: canonical form %q parses differently", tc.expr, s.Expr)
		}
	}
}

// Every refusal is InvalidParameter (or MissingParameter) and its message
// names the parameter and says which field is wrong and why.
func TestParseScheduleInvalid(t *testing.T) {
	const sched, win = "RotationSchedule", "RotationWindow"
	tests := []struct {
		expr, window string
		code, param  string
		want         string // in the message
	}{
		{"", "", missing, sched, ""},
		{"every sunday", "", invalid, sched, "must be rate(N hours|days) or cron("},
		{"RATE(7 days)", "", invalid, sched, "must be rate"},
		{" rate(7 days)", "", invalid, sched, "must be rate"},
		{"rate(7 days) ", "", invalid, sched, "must be rate"},
		{"rate(7 days", "", invalid, sched, "must be rate"},

		// rate
		{"rate(0 days)", "", invalid, sched, "the rate 0 days is out of range 1-1000 days"},
		{"rate(1001 days)", "", invalid, sched, "out of range 1-1000 days"},
		{"rate(0 hours)", "", invalid, sched, "the rate 0 hours is out of range 1-8760 hours"},
		{"rate(8761 hours)", "", invalid, sched, "out of range 1-8760 hours"},
		{"rate(99999999999999999999 hours)", "", invalid, sched, "out of range"},
		{"rate(30 minutes)", "", invalid, sched, `the rate unit "minutes" must be hours or days`},
		{"rate(2 weeks)", "", invalid, sched, "must be hours or days"},
		{"rate(7 Days)", "", invalid, sched, "must be hours or days"},
		{"rate(-7 days)", "", invalid, sched, "rate must be rate(N hours) or rate(N days)"},
		{"rate(7.5 days)", "", invalid, sched, "rate must be"},
		{"rate(7days)", "", invalid, sched, "rate must be"},
		{"rate(7  days)", "", invalid, sched, "rate must be"},
		{"rate()", "", invalid, sched, "rate must be"},
		{"rate(６ days)", "", invalid, sched, "rate must be"},

		// cron shape
		{"cron(0 2 ? * SUN)", "", invalid, sched, "cron needs 6 fields (minute hour day-of-month month day-of-week year), got 5"},
		{"cron(0 2 ? * SUN * *)", "", invalid, sched, "got 7"},
		{"cron()", "", invalid, sched, "got 0"},
		{"cron(0\t2 ? * SUN *)", "", invalid, sched, "got 5"},

		// ranges, per field
		{"cron(60 2 ? * SUN *)", "", invalid, sched, "the minute field 60 is out of range 0-59"},
		{"cron(0 25 ? * SUN *)", "", invalid, sched, "the hour field 25 is out of range 0-23"},
		{"cron(0 24 ? * SUN *)", "", invalid, sched, "the hour field 24 is out of range 0-23"},
		{"cron(0 2 0 * ? *)", "", invalid, sched, "the day-of-month field 0 is out of range 1-31"},
		{"cron(0 2 32 * ? *)", "", invalid, sched, "the day-of-month field 32 is out of range 1-31"},
		{"cron(0 2 1 13 ? *)", "", invalid, sched, "the month field 13 is out of range 1-12 or JAN-DEC"},
		{"cron(0 2 1 0 ? *)", "", invalid, sched, "the month field 0 is out of range"},
		{"cron(0 2 ? * 0 *)", "", invalid, sched, "the day-of-week field 0 is out of range 1-7 (1 = SUN) or SUN-SAT"},
		{"cron(0 2 ? * 8 *)", "", invalid, sched, "the day-of-week field 8 is out of range"},
		{"cron(0 2 ? * SUN 1969)", "", invalid, sched, "the year field 1969 is out of range 1970-2199"},
		{"cron(0 2 ? * SUN 2200)", "", invalid, sched, "the year field 2200 is out of range 1970-2199"},
		{"cron(0 2 ? * SUN 2030-2026)", "", invalid, sched, "the year field range 2030-2026 runs backwards"},
		{"cron(0 2 ? * SUN 99999999999)", "", invalid, sched, "the year field 99999999999 is out of range"},

		// names and syntax
		{"cron(0 2 ? FOO SUN *)", "", invalid, sched, `the month field "FOO" is not a value (1-12 or JAN-DEC)`},
		{"cron(0 2 ? * SUNDAY *)", "", invalid, sched, `the day-of-week field "SUNDAY" is not a value`},
		{"cron(0 2 ? SUN * *)", "", invalid, sched, `the month field "SUN" is not a value`},
		{"cron(0 2 ? * JAN *)", "", invalid, sched, `the day-of-week field "JAN" is not a value`},
		{"cron(MON 2 ? * SUN *)", "", invalid, sched, `the minute field "MON" is not a value (0-59)`},
		{"cron(0 2 ? * SUN,,MON *)", "", invalid, sched, "the day-of-week field SUN,,MON has an empty list item"},
		{"cron(0 2 ? * SUN, *)", "", invalid, sched, "has an empty list item"},
		{"cron(-1 2 ? * SUN *)", "", invalid, sched, `the minute field "" is not a value`},
		{"cron(0 2- ? * SUN *)", "", invalid, sched, `the hour field "" is not a value`},
		{"cron(0 +2 ? * SUN *)", "", invalid, sched, `the hour field "+2" is not a value`},

		// steps
		{"cron(*/0 2 ? * SUN *)", "", invalid, sched, "the minute field step 0 in */0 is out of range 1-60"},
		{"cron(*/61 2 ? * SUN *)", "", invalid, sched, "the minute field step 61 in */61 is out of range 1-60"},
		{"cron(0 */x ? * SUN *)", "", invalid, sched, `the hour field step "x" in */x must be a whole number`},
		{"cron(0 */ ? * SUN *)", "", invalid, sched, `the hour field step "" in */ must be a whole number`},
		{"cron(0 2 ? * SUN */-1)", "", invalid, sched, `the year field step "-1"`},

		// ? and the day fields
		{"cron(0 2 * * SUN *)", "", invalid, sched, "exactly one of the day-of-month (*) and day-of-week (SUN) fields must be ?"},
		{"cron(0 2 * * * *)", "", invalid, sched, "exactly one of the day-of-month (*) and day-of-week (*) fields must be ?"},
		{"cron(0 2 1 * 2 *)", "", invalid, sched, "exactly one of the day-of-month (1) and day-of-week (2) fields must be ?"},
		{"cron(0 2 ? * ? *)", "", invalid, sched, "exactly one of the day-of-month and day-of-week fields must be ?; both are"},
		{"cron(? 2 ? * SUN *)", "", invalid, sched, "the minute field cannot be ?; only day-of-month or day-of-week can"},
		{"cron(0 2 ? ? SUN *)", "", invalid, sched, "the month field cannot be ?"},
		{"cron(0 2 ? * SUN ?)", "", invalid, sched, "the year field cannot be ?"},
		{"cron(0 2 ?,1 * ? *)", "", invalid, sched, "the day-of-month field ? must stand alone"},

		// AWS extensions we do not support
		{"cron(0 2 L * ? *)", "", invalid, sched, "the day-of-month field L (the last day) is not supported"},
		{"cron(0 2 L-2 * ? *)", "", invalid, sched, "the day-of-month field L (the last day) is not supported"},
		{"cron(0 2 15W * ? *)", "", invalid, sched, "the day-of-month field 15W (the nearest weekday) is not supported"},
		{"cron(0 2 LW * ? *)", "", invalid, sched, "the day-of-month field LW (the nearest weekday) is not supported"},
		{"cron(0 2 ? * 6L *)", "", invalid, sched, "the day-of-week field 6L (the last day) is not supported"},
		{"cron(0 2 ? * 2#1 *)", "", invalid, sched, "the day-of-week field 2#1 (the nth weekday of the month) is not supported"},
		{"cron(0 2 ? * MON#1 *)", "", invalid, sched, "MON#1 (the nth weekday of the month) is not supported"},

		// never matches
		{"cron(0 0 30 2 ? *)", "", invalid, sched, "the day-of-month field 30 never occurs in the months 2"},
		{"cron(0 0 31 APR,JUN,SEP,NOV ? *)", "", invalid, sched, "the day-of-month field 31 never occurs in the months APR,JUN,SEP,NOV"},
		{"cron(0 0 29 FEB ? 2027)", "", invalid, sched, "the year field 2027 has no date that matches the day and month fields (29 FEB ?)"},
		{"cron(0 0 29 FEB ? 2100)", "", invalid, sched, "the year field 2100 has no date"}, // not a leap year

		// windows
		{"rate(7 days)", "0h", invalid, win, "must be between 1h and 24h"},
		{"rate(7 days)", "59m", invalid, win, "must be between 1h and 24h"},
		{"rate(7 days)", "25h", invalid, win, "must be between 1h and 24h"},
		{"rate(7 days)", "24h1m", invalid, win, "must be between 1h and 24h"},
		{"rate(7 days)", "1d", invalid, win, "must be whole hours and minutes such as 3h, 90m or 1h30m"},
		{"rate(7 days)", "3600s", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "1.5h", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "3", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "h", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "30m1h", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", " 3h", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "-3h", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "3H", invalid, win, "must be whole hours and minutes"},
		{"rate(7 days)", "99999999h", invalid, win, "must be between 1h and 24h"},
		{"cron(0 2 ? * SUN *)", "1h30", invalid, win, "must be whole hours and minutes"},

		// windows must not overlap
		{"rate(6 hours)", "7h", invalid, win, "7h is longer than the 6h between two starts of rate(6 hours); windows must not overlap"},
		{"rate(1 hour)", "2h", invalid, win, "2h is longer than the 1h between two starts of rate(1 hour)"},
		{"cron(0 */2 * * ? *)", "3h", invalid, win, "3h is longer than the 2h between two starts of cron(0 */2 * * ? *)"},
		{"cron(0,30 2 * * ? *)", "", invalid, sched, "cron(0,30 2 * * ? *) starts only 30m apart, less than its 1h window"},
		{"cron(* * * * ? *)", "", invalid, sched, "starts only 1m apart"},
		{"cron(*/15 * * * ? *)", "3h", invalid, sched, "starts only 15m apart, less than its 3h window"},
		{"cron(50 1 * * ? *)", "", ok, "", ""},
		{"cron(50 1,2 * * ? *)", "", ok, "", ""}, // 1h apart, exactly the window
		{"cron(50 1 * * ? *)", "24h", ok, "", ""},
		{"cron(0 1,23 * * ? *)", "3h", invalid, win, "3h is longer than the 2h between two starts"},       // 23:00 then 01:00 the next day
		{"cron(0 1,23 ? * SUN,MON *)", "3h", invalid, win, "3h is longer than the 2h between two starts"}, // Sunday 23:00, Monday 01:00
		{"cron(0 1,23 ? * SAT,SUN *)", "3h", invalid, win, "the 2h between two starts"},                   // Saturday 23:00, Sunday 01:00
		{"cron(0 1,23 1,31 * ? *)", "3h", invalid, win, "the 2h between two starts"},                      // Jan 31 23:00, Feb 1 01:00
		{"cron(0 1,23 1,31 JAN,DEC ? *)", "3h", invalid, win, "the 2h between two starts"},                // Dec 31 23:00, Jan 1 01:00
		{"cron(0 1,23 1,31 JAN,DEC ? 2026-2027)", "3h", invalid, win, "the 2h between two starts"},
		{"cron(0 1,23 28,1 FEB,MAR ? 2027)", "3h", invalid, win, "the 2h between two starts"}, // Feb 28 then Mar 1 in a common year
		{"cron(0 1,23 28,1 FEB,MAR ? 2028)", "3h", ok, "", ""},                                // 2028 has a Feb 29 between them
	}
	for _, tc := range tests {
		_, err := ParseSchedule(tc.expr, tc.window)
		if tc.code == ok {
			if err != nil {
				t.Errorf("ParseSchedule(%q, %q): %v", tc.expr, tc.window, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseSchedule(%q, %q) accepted", tc.expr, tc.window)
			continue
		}
		t.Run(tc.expr+"/"+tc.window, func(t *testing.T) {
			ae := wantAPIError(t, err, tc.code, tc.param)
			if !strings.Contains(ae.Message, tc.want) {
				t.Errorf("message %q does not contain %q", ae.Message, tc.want)
			}
		})
	}
}

// Each syntax of a field selects the same values as the plain list.
func TestCronFieldSyntax(t *testing.T) {
	tests := []struct{ a, b string }{
		{"cron(*/15 * * * ? *)", "cron(0,15,30,45 * * * ? *)"},
		{"cron(5/20 * * * ? *)", "cron(5,25,45 * * * ? *)"},
		{"cron(10-30/10 * * * ? *)", "cron(10,20,30 * * * ? *)"},
		{"cron(50-10/5 * * * ? *)", "cron(50,55,0,5,10 * * * ? *)"}, // a range across the hour
		{"cron(0 22-2 * * ? *)", "cron(0 22,23,0,1,2 * * ? *)"},
		{"cron(0 */6 * * ? *)", "cron(0 0,6,12,18 * * ? *)"},
		{"cron(0 1/6 * * ? *)", "cron(0 1,7,13,19 * * ? *)"},
		{"cron(0 0 */10 * ? *)", "cron(0 0 1,11,21,31 * ? *)"},
		{"cron(0 0 28-3 * ? *)", "cron(0 0 28,29,30,31,1,2,3 * ? *)"},
		{"cron(0 0 1 JAN-MAR ? *)", "cron(0 0 1 1,2,3 ? *)"},
		{"cron(0 0 1 jan,Jul ? *)", "cron(0 0 1 1,7 ? *)"},
		{"cron(0 0 1 NOV-FEB ? *)", "cron(0 0 1 11,12,1,2 ? *)"},
		{"cron(0 0 1 */3 ? *)", "cron(0 0 1 1,4,7,10 ? *)"},
		{"cron(0 0 1 * ? *)", "cron(0 0 1 1-12 ? *)"},
		{"cron(0 0 ? * MON-FRI *)", "cron(0 0 ? * 2,3,4,5,6 *)"},
		{"cron(0 0 ? * MON-SUN *)", "cron(0 0 ? * 1-7 *)"},
		{"cron(0 0 ? * MON-SUN *)", "cron(0 0 ? * * *)"},
		{"cron(0 0 ? * FRI-MON *)", "cron(0 0 ? * 6,7,1,2 *)"},
		{"cron(0 0 ? * SAT-SUN *)", "cron(0 0 ? * 7,1 *)"},
		{"cron(0 0 ? * SUN *)", "cron(0 0 ? * 1 *)"},
		{"cron(0 0 ? * sat *)", "cron(0 0 ? * 7 *)"},
		{"cron(0 0 ? * MON-5 *)", "cron(0 0 ? * 2-5 *)"},
		{"cron(0 0 ? * */2 *)", "cron(0 0 ? * 1,3,5,7 *)"},
		{"cron(0 0 ? * 2/2 *)", "cron(0 0 ? * 2,4,6 *)"},
		{"cron(0 0 ? * 2-2 *)", "cron(0 0 ? * 2 *)"},
		{"cron(0 0 ? * 5-3/2 *)", "cron(0 0 ? * 5,7,2 *)"},
		{"cron(0 0 1 * ? 2026-2030)", "cron(0 0 1 * ? 2026,2027,2028,2029,2030)"},
		{"cron(0 0 1 * ? 2026/2)", "cron(0 0 1 * ? " + yearList(2026, 2199, 2) + ")"},
		{"cron(0 0 1 * ? *)", "cron(0 0 1 * ? 1970-2199)"},
		{"cron(0 0 1 * ? 2026,2026)", "cron(0 0 1 * ? 2026)"},
		{"cron(0 0 1 * ? */100)", "cron(0 0 1 * ? 1970,2070,2170)"},
		{"cron(0 0-23 * * ? *)", "cron(0 */1 * * ? *)"},
	}
	for _, tc := range tests {
		a, errA := parseCron(strings.TrimSuffix(strings.TrimPrefix(tc.a, "cron("), ")"))
		b, errB := parseCron(strings.TrimSuffix(strings.TrimPrefix(tc.b, "cron("), ")"))
		if errA != nil || errB != nil {
			t.Errorf("%s / %s: %v / %v", tc.a, tc.b, errA, errB)
			continue
		}
		if a.cron != b.cron {
			t.Errorf("%s selects %+v, %s selects %+v", tc.a, a.cron, tc.b, b.cron)
		}
	}
}

func yearList(from, to, step int) string {
	var ys []string
	for y := from; y <= to; y += step {
		ys = append(ys, strconv.Itoa(y))
	}
	return strings.Join(ys, ",")
}

func TestCronNextWindow(t *testing.T) {
	tests := []struct {
		name, expr, after, want string
	}{
		{"weekly, before", "cron(0 2 ? * SUN *)", "2026-03-04 12:00:00", "2026-03-08 02:00:00"}, // a Wednesday
		{"weekly, on a Sunday after the window", "cron(0 2 ? * SUN *)", "2026-03-08 03:00:00", "2026-03-15 02:00:00"},
		{"weekly, on a Sunday before", "cron(0 2 ? * SUN *)", "2026-03-08 01:59:59", "2026-03-08 02:00:00"},
		{"weekly, in the window", "cron(0 2 ? * SUN *)", "2026-03-08 02:30:00", "2026-03-08 02:00:00"},
		{"weekly, at the start", "cron(0 2 ? * SUN *)", "2026-03-08 02:00:00", "2026-03-08 02:00:00"},
		{"weekly, the last instant", "cron(0 2 ? * SUN *)", "2026-03-08 02:59:59", "2026-03-08 02:00:00"},
		{"weekly, at the end", "cron(0 2 ? * SUN *)", "2026-03-08 03:00:00", "2026-03-15 02:00:00"},
		{"weekdays", "cron(30 6 ? * MON-FRI *)", "2026-03-06 07:30:00", "2026-03-09 06:30:00"}, // Friday → Monday
		{"weekend across", "cron(0 3 ? * SAT-SUN *)", "2026-03-02 00:00:00", "2026-03-07 03:00:00"},
		{"week numbering 1=SUN", "cron(0 0 ? * 1 *)", "2026-03-02 00:00:00", "2026-03-08 00:00:00"},
		{"week numbering 7=SAT", "cron(0 0 ? * 7 *)", "2026-03-02 00:00:00", "2026-03-07 00:00:00"},
		{"day-of-month with ? weekday", "cron(0 0 13 * ? *)", "2026-03-02 00:00:00", "2026-03-13 00:00:00"}, // a Friday, nothing to do with it
		{"weekday with ? day", "cron(0 0 ? * FRI *)", "2026-03-02 00:00:00", "2026-03-06 00:00:00"},

		// month ends
		{"31st skips April", "cron(0 0 31 * ? *)", "2026-03-31 01:00:00", "2026-05-31 00:00:00"},
		{"31st skips Feb, Apr", "cron(0 0 31 * ? *)", "2026-01-31 01:00:00", "2026-03-31 00:00:00"},
		{"31st across the year", "cron(0 0 31 * ? *)", "2026-12-31 01:00:00", "2027-01-31 00:00:00"},
		{"30th skips Feb", "cron(0 0 30 * ? *)", "2026-01-30 01:00:00", "2026-03-30 00:00:00"},
		{"29th in a common year", "cron(0 0 29 * ? *)", "2027-01-29 01:00:00", "2027-03-29 00:00:00"},
		{"29th in a leap year", "cron(0 0 29 * ? *)", "2028-01-29 01:00:00", "2028-02-29 00:00:00"},
		{"31st of 30-day months never", "cron(0 0 31 4-12 ? *)", "2026-04-01 00:00:00", "2026-05-31 00:00:00"},
		{"last minute of the year", "cron(59 23 31 DEC ? *)", "2026-06-01 00:00:00", "2026-12-31 23:59:00"},
		{"first minute of the year", "cron(0 0 1 JAN ? *)", "2026-12-31 23:59:00", "2027-01-01 00:00:00"},

		// Feb 29
		{"Feb 29 next leap year", "cron(0 0 29 2 ? *)", "2026-03-01 00:00:00", "2028-02-29 00:00:00"},
		{"Feb 29 from Feb 28", "cron(0 0 29 2 ? *)", "2028-02-28 12:00:00", "2028-02-29 00:00:00"},
		{"Feb 29 skips 2100", "cron(0 0 29 2 ? *)", "2096-03-01 00:00:00", "2104-02-29 00:00:00"},
		{"Feb 29 in 2000", "cron(0 0 29 2 ? *)", "1999-01-01 00:00:00", "2000-02-29 00:00:00"},
		{"Feb 29 with years", "cron(0 0 29 FEB ? 2026-2031)", "2026-01-01 00:00:00", "2028-02-29 00:00:00"},
		{"Feb 28 or 29", "cron(0 12 28,29 2 ? *)", "2027-02-28 13:00:00", "2028-02-28 12:00:00"},

		// day-of-week across months and years
		{"Sunday across a month", "cron(0 2 ? * SUN *)", "2026-05-31 03:00:00", "2026-06-07 02:00:00"},
		{"Sunday across a year", "cron(0 2 ? * SUN *)", "2026-12-28 00:00:00", "2027-01-03 02:00:00"},
		{"Monday in February only", "cron(0 9 ? FEB MON *)", "2026-02-24 00:00:00", "2027-02-01 09:00:00"},
		{"no Friday left in the last year", "cron(0 0 ? * FRI 2026)", "2026-12-26 00:00:00", ""},

		// the year field
		{"one year, before it", "cron(0 0 1 JAN ? 2030)", "2026-03-01 00:00:00", "2030-01-01 00:00:00"},
		{"one year, in it", "cron(0 0 1 * ? 2030)", "2030-05-15 00:00:00", "2030-06-01 00:00:00"},
		{"a year range", "cron(0 0 1 1 ? 2026-2030)", "2026-01-01 01:00:00", "2027-01-01 00:00:00"},
		{"a year list with a gap", "cron(0 0 1 1 ? 2026,2029)", "2026-01-01 01:00:00", "2029-01-01 00:00:00"},
		{"a year step", "cron(0 0 1 1 ? 2026/5)", "2026-06-01 00:00:00", "2031-01-01 00:00:00"},
		{"past the last year", "cron(0 0 1 1 ? 2026-2030)", "2030-01-01 01:00:00", ""},
		{"a past year", "cron(0 2 ? * SUN 2024)", "2026-03-01 00:00:00", ""},
		{"the last year AWS allows", "cron(0 0 1 1 ? *)", "2199-01-01 01:00:00", ""},
		{"before 1970", "cron(0 0 1 1 ? *)", "1900-06-01 00:00:00", "1970-01-01 00:00:00"},

		// steps
		{"every 6 hours", "cron(0 */6 * * ? *)", "2026-03-01 07:00:00", "2026-03-01 12:00:00"},
		{"every 6 hours across midnight", "cron(0 */6 * * ? *)", "2026-03-01 19:00:00", "2026-03-02 00:00:00"},
		{"hour step from an offset", "cron(15 1/8 * * ? *)", "2026-03-01 18:15:00", "2026-03-02 01:15:00"},
		{"day step", "cron(0 0 */10 * ? *)", "2026-02-21 01:00:00", "2026-03-01 00:00:00"}, // 1, 11, 21, 31: Feb has no 31st
		{"month step", "cron(0 0 1 */4 ? *)", "2026-05-02 00:00:00", "2026-09-01 00:00:00"},
		{"hours across midnight", "cron(0 22-2/2 * * ? *)", "2026-03-01 23:00:00", "2026-03-02 00:00:00"},
		{"hour range step", "cron(0 10-14/2 * * ? *)", "2026-03-01 11:00:00", "2026-03-01 12:00:00"},
		{"hour list", "cron(10 3,9 * * ? *)", "2026-03-01 04:12:00", "2026-03-01 09:10:00"},
		{"hour list, in the first window", "cron(10 3,9 * * ? *)", "2026-03-01 04:09:00", "2026-03-01 03:10:00"},
	}
	for _, tc := range tests {
		s := mustSchedule(t, tc.expr, "")
		start, end, ok := s.NextWindow(time.Time{}, utc(tc.after))
		if tc.want == "" {
			if ok || !start.IsZero() || !end.IsZero() {
				t.Errorf("%s: %s after %s = %v–%v, want none", tc.name, tc.expr, tc.after, start, end)
			}
			continue
		}
		want := utc(tc.want)
		if !ok || !start.Equal(want) || !end.Equal(want.Add(s.Window)) || start.Location() != time.UTC {
			t.Errorf("%s: %s after %s = %v–%v %v, want %v", tc.name, tc.expr, tc.after, start, end, ok, want)
		}
	}
}

// Times in other zones mean the same instants; schedules are UTC.
func TestNextWindowIgnoresZone(t *testing.T) {
	s := mustSchedule(t, "cron(0 2 ? * SUN *)", "3h")
	tokyo := time.FixedZone("JST", 9*3600)
	after := time.Date(2026, 3, 8, 9, 30, 0, 0, tokyo) // 00:30 UTC on Sunday
	start, _, _ := s.NextWindow(time.Time{}, after)
	if !start.Equal(utc("2026-03-08 02:00:00")) || start.Location() != time.UTC {
		t.Errorf("start = %v", start)
	}
}

// The calendar arithmetic agrees with the time package for every day of
// five centuries.
func TestCivilDays(t *testing.T) {
	day := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 366*500; i++ {
		days := floorDiv(day.Unix(), 86400)
		if got := daysFromCivil(day.Year(), int(day.Month()), day.Day()); got != days {
			t.Fatalf("daysFromCivil(%v) = %d, want %d", day, got, days)
		}
		if y, m, d := civilFromDays(days); y != day.Year() || m != int(day.Month()) || d != day.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", days, y, m, d, day)
		}
		if w := weekday(days); w != int(day.Weekday()) {
			t.Fatalf("weekday(%v) = %d", day, w)
		}
		if n := daysIn(day.Year(), int(day.Month())); day.AddDate(0, 0, n-day.Day()+1).Day() != 1 {
			t.Fatalf("daysIn(%v) = %d", day, n)
		}
		day = day.AddDate(0, 0, 1)
	}
}

// Random expressions against a day-by-day, minute-by-minute search built on
// the time package.
func TestCronMatchesNaiveSearch(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	pick := func(lo, hi int, names []string) ([]int, string) {
		if rng.Intn(3) == 0 {
			return nil, "*"
		}
		n := 1 + rng.Intn(3)
		var vs []int
		var parts []string
		for i := 0; i < n; i++ {
			v := lo + rng.Intn(hi-lo+1)
			vs = append(vs, v)
			if names != nil && rng.Intn(2) == 0 {
				parts = append(parts, names[v-lo])
			} else {
				parts = append(parts, strconv.Itoa(v))
			}
		}
		return vs, strings.Join(parts, ",")
	}
	has := func(vs []int, v int) bool {
		if vs == nil {
			return true
		}
		for _, x := range vs {
			if x == v {
				return true
			}
		}
		return false
	}
	checked, none := 0, 0
	for checked < 3000 {
		mins, minS := pick(0, 59, nil)
		if mins == nil {
			mins = []int{rng.Intn(60)} // every minute would overlap any window
			minS = strconv.Itoa(mins[0])
		}
		hours, hourS := pick(0, 23, nil)
		months, monthS := pick(1, 12, cronFields[3].names)
		years, yearS := pick(2025, 2032, nil)
		var doms, dows []int
		domS, dowS := "?", "?"
		useDOW := rng.Intn(2) == 0
		if useDOW {
			dows, dowS = pick(1, 7, cronFields[4].names)
		} else {
			doms, domS = pick(1, 31, nil)
		}
		expr := fmt.Sprintf("cron(%s %s %s %s %s %s)", minS, hourS, domS, monthS, dowS, yearS)
		window := "1h"
		if len(mins) > 1 || hours == nil || len(hours) > 1 {
			window = "" // may be refused for overlapping; then skip
		}
		s, err := ParseSchedule(expr, window)
		if err != nil {
			continue // a random Feb 30 or overlapping starts
		}
		matches := func(tm time.Time) bool {
			return has(years, tm.Year()) && has(months, int(tm.Month())) &&
				(useDOW && has(dows, int(tm.Weekday())+1) || !useDOW && has(doms, tm.Day())) &&
				has(hours, tm.Hour()) && has(mins, tm.Minute())
		}
		after := time.Date(2024+rng.Intn(9), time.Month(1+rng.Intn(12)), 1+rng.Intn(31), rng.Intn(24), rng.Intn(60), rng.Intn(60), rng.Intn(1e9), time.UTC)
		// The window to find is the first match after after-Window (ends after after).
		from := after.Add(-s.Window).Truncate(time.Minute).Add(time.Minute)
		var want time.Time
		dayMatches := func(day time.Time) bool {
			return has(years, day.Year()) && has(months, int(day.Month())) &&
				(useDOW && has(dows, int(day.Weekday())+1) || !useDOW && has(doms, day.Day()))
		}
		for day := from.Truncate(24 * time.Hour); day.Year() <= 2040 && want.IsZero(); day = day.AddDate(0, 0, 1) {
			if !dayMatches(day) {
				continue
			}
			for m := day; m.Before(day.Add(24 * time.Hour)); m = m.Add(time.Minute) {
				if !m.Before(from) && matches(m) {
					want = m
					break
				}
			}
		}
		start, end, ok := s.NextWindow(time.Time{}, after)
		if ok != !want.IsZero() || ok && (!start.Equal(want) || !end.Equal(want.Add(s.Window))) {
			t.Fatalf("%s window %v after %v: got %v %v, want %v", expr, s.Window, after, start, ok, want)
		}
		if !ok {
			none++
		}
		checked++
	}
	if none == 0 || none == checked {
		t.Errorf("%d of %d cases had no next window: the generator does not cover both", none, checked)
	}
}

// A window that has begun counts until its end; one that was missed (the
// process was down through it) is not made up late: the next one follows.
func TestWindowsCurrentAndMissed(t *testing.T) {
	s := mustSchedule(t, "cron(0 2 ? * SUN *)", "3h")
	var anchor time.Time
	cases := []struct{ now, start string }{
		{"2026-03-08 01:00:00", "2026-03-08 02:00:00"}, // upcoming
		{"2026-03-08 02:00:00", "2026-03-08 02:00:00"}, // opening
		{"2026-03-08 04:59:59", "2026-03-08 02:00:00"}, // about to close
		{"2026-03-08 05:00:00", "2026-03-15 02:00:00"}, // closed: the next
		{"2026-03-10 00:00:00", "2026-03-15 02:00:00"}, // missed, days later
	}
	for _, c := range cases {
		start, end, ok := s.NextWindow(anchor, utc(c.now))
		if !ok || !start.Equal(utc(c.start)) || end.Sub(start) != 3*time.Hour {
			t.Errorf("NextWindow(%s) = %v–%v, want %s", c.now, start, end, c.start)
		}
	}
	// Sub-second instants around the end.
	end := utc("2026-03-08 05:00:00")
	if st, _, _ := s.NextWindow(anchor, end.Add(-time.Nanosecond)); !st.Equal(utc("2026-03-08 02:00:00")) {
		t.Errorf("a nanosecond before the end: %v", st)
	}
	if st, _, _ := s.NextWindow(anchor, end.Add(time.Nanosecond)); !st.Equal(utc("2026-03-15 02:00:00")) {
		t.Errorf("a nanosecond after the end: %v", st)
	}

	// Never late outside a window: every instant is either inside the window
	// NextWindow reports or before it.
	for now := utc("2026-03-01 00:00:00"); now.Before(utc("2026-03-30 00:00:00")); now = now.Add(7 * time.Minute) {
		st, en, ok := s.NextWindow(anchor, now)
		inside := !now.Before(st) && now.Before(en)
		wst, wen, in := s.InWindow(anchor, now)
		wantIn := now.Weekday() == time.Sunday && now.Hour() >= 2 && now.Hour() < 5
		if !ok || in != wantIn || inside != wantIn || in && (!wst.Equal(st) || !wen.Equal(en)) {
			t.Fatalf("%v: NextWindow %v–%v, InWindow %v %v", now, st, en, in, wst)
		}
	}
}

func TestRateWindows(t *testing.T) {
	tests := []struct {
		name, expr, window, anchor, after, start string
	}{
		// rate(N days): windows are whole UTC days (by default) starting at the
		// anchor's midnight and every N days after.
		{"anchor's own day is current", "rate(7 days)", "", "2026-03-04 14:37:00", "2026-03-04 15:00:00", "2026-03-04 00:00:00"},
		{"next after the anchor's day", "rate(7 days)", "", "2026-03-04 14:37:00", "2026-03-05 00:00:00", "2026-03-11 00:00:00"},
		{"inside a later window", "rate(7 days)", "", "2026-03-04 14:37:00", "2026-03-18 23:59:59", "2026-03-18 00:00:00"},
		{"the end of a window", "rate(7 days)", "", "2026-03-04 14:37:00", "2026-03-19 00:00:00", "2026-03-25 00:00:00"},
		{"far later", "rate(7 days)", "", "2026-03-04 00:00:00", "2027-03-04 12:00:00", "2027-03-10 00:00:00"},
		{"before the anchor", "rate(7 days)", "", "2026-03-04 14:37:00", "2025-01-01 00:00:00", "2026-03-04 00:00:00"},
		{"a short window at midnight", "rate(2 days)", "3h", "2026-03-04 14:37:00", "2026-03-06 03:00:00", "2026-03-08 00:00:00"},
		{"a short window, inside", "rate(2 days)", "3h", "2026-03-04 14:37:00", "2026-03-06 02:59:00", "2026-03-06 00:00:00"},
		{"1 day", "rate(1 day)", "", "2026-03-04 14:37:00", "2026-03-09 08:00:00", "2026-03-09 00:00:00"},
		{"1000 days", "rate(1000 days)", "", "2026-03-04 14:37:00", "2026-03-05 00:00:00", "2028-11-28 00:00:00"},
		{"before 1970", "rate(7 days)", "", "1969-12-31 12:00:00", "1970-01-06 12:00:00", "1970-01-07 00:00:00"},

		// rate(N hours): from the anchor's midnight every N hours; the window is
		// the whole period (at most a day) by default.
		{"12 hours", "rate(12 hours)", "", "2026-03-04 14:37:00", "2026-03-05 11:00:00", "2026-03-05 00:00:00"},
		{"12 hours, 1h window", "rate(12 hours)", "1h", "2026-03-04 14:37:00", "2026-03-05 11:00:00", "2026-03-05 12:00:00"},
		{"5 hours runs across days", "rate(5 hours)", "", "2026-03-04 14:37:00", "2026-03-05 01:00:00", "2026-03-05 01:00:00"},
		{"5 hours", "rate(5 hours)", "", "2026-03-04 14:37:00", "2026-03-05 00:59:59", "2026-03-04 20:00:00"},
		{"36 hours", "rate(36 hours)", "", "2026-03-04 14:37:00", "2026-03-05 00:00:00", "2026-03-05 12:00:00"},
	}
	for _, tc := range tests {
		s := mustSchedule(t, tc.expr, tc.window)
		start, end, ok := s.NextWindow(utc(tc.anchor), utc(tc.after))
		want := utc(tc.start)
		if !ok || !start.Equal(want) || !end.Equal(want.Add(s.Window)) || start.Location() != time.UTC {
			t.Errorf("%s: %s anchored %s after %s = %v–%v, want %v", tc.name, tc.expr, tc.anchor, tc.after, start, end, want)
		}
	}

	// A fixed anchor keeps the grid fixed: windows are the same whichever
	// instant is asked about, and a day apart exactly N days.
	s := mustSchedule(t, "rate(3 days)", "")
	anchor := utc("2026-01-10 09:00:00")
	prev, _, _ := s.NextWindow(anchor, anchor)
	for i := 0; i < 200; i++ {
		_, end, _ := s.NextWindow(anchor, prev)
		next, _, _ := s.NextWindow(anchor, end)
		if next.Sub(prev) != 72*time.Hour || next.Hour() != 0 {
			t.Fatalf("window after %v is %v", prev, next)
		}
		prev = next
	}
}

func TestNextRotation(t *testing.T) {
	cron := mustSchedule(t, "cron(0 2 ? * SUN *)", "3h")
	rate := mustSchedule(t, "rate(7 days)", "")
	anchor := utc("2026-03-04 14:37:00") // policy set on a Wednesday
	tests := []struct {
		name       string
		s          *Schedule
		last, now  string
		start, end string
	}{
		{"never rotated, before", cron, "", "2026-03-08 01:00:00", "2026-03-08 02:00:00", "2026-03-08 05:00:00"},
		{"never rotated, inside", cron, "", "2026-03-08 03:00:00", "2026-03-08 02:00:00", "2026-03-08 05:00:00"},
		{"rotated in this window", cron, "2026-03-08 02:10:00", "2026-03-08 03:00:00", "2026-03-15 02:00:00", "2026-03-15 05:00:00"},
		{"rotated at its very start", cron, "2026-03-08 02:00:00", "2026-03-08 02:00:00", "2026-03-15 02:00:00", "2026-03-15 05:00:00"},
		{"rotated by hand before it", cron, "2026-03-08 01:59:00", "2026-03-08 02:30:00", "2026-03-08 02:00:00", "2026-03-08 05:00:00"},
		{"failed: last success long ago, retry inside", cron, "2026-02-01 02:10:00", "2026-03-08 04:59:00", "2026-03-08 02:00:00", "2026-03-08 05:00:00"},
		{"failed: the window closed", cron, "2026-02-01 02:10:00", "2026-03-08 05:00:00", "2026-03-15 02:00:00", "2026-03-15 05:00:00"},
		{"missed while down", cron, "2026-03-01 02:10:00", "2026-03-10 09:00:00", "2026-03-15 02:00:00", "2026-03-15 05:00:00"},
		{"rate: the policy's own day is skipped if rotated since", rate, "2026-03-04 14:37:00", "2026-03-04 15:00:00", "2026-03-11 00:00:00", "2026-03-12 00:00:00"},
		{"rate: an old secret rotates on the policy's day", rate, "2025-01-01 00:00:00", "2026-03-04 15:00:00", "2026-03-04 00:00:00", "2026-03-05 00:00:00"},
		{"rate: a manual rotation does not move the grid", rate, "2026-03-09 10:00:00", "2026-03-09 10:00:00", "2026-03-11 00:00:00", "2026-03-12 00:00:00"},
		{"rate: rotated in the window", rate, "2026-03-11 08:00:00", "2026-03-11 09:00:00", "2026-03-18 00:00:00", "2026-03-19 00:00:00"},
	}
	for _, tc := range tests {
		var last time.Time
		if tc.last != "" {
			last = utc(tc.last)
		}
		start, end, ok := tc.s.NextRotation(anchor, last, utc(tc.now))
		if !ok || !start.Equal(utc(tc.start)) || !end.Equal(utc(tc.end)) {
			t.Errorf("%s: NextRotation = %v–%v %v, want %s–%s", tc.name, start, end, ok, tc.start, tc.end)
		}
	}
	past := mustSchedule(t, "cron(0 0 1 1 ? 2024)", "")
	if _, _, ok := past.NextRotation(anchor, time.Time{}, anchor); ok {
		t.Error("a schedule in the past has a next rotation")
	}
}

func TestInWindow(t *testing.T) {
	s := mustSchedule(t, "rate(1 day)", "2h")
	anchor := utc("2026-03-04 14:37:00")
	for _, c := range []struct {
		t  string
		in bool
	}{
		{"2026-03-04 00:00:00", true},
		{"2026-03-04 01:59:59", true},
		{"2026-03-04 02:00:00", false},
		{"2026-03-04 14:37:00", false},
		{"2026-03-05 00:30:00", true},
		{"2026-03-03 01:00:00", false}, // before the anchor's day: no window
	} {
		start, end, in := s.InWindow(anchor, utc(c.t))
		if in != c.in || in && (start.After(utc(c.t)) || !end.After(utc(c.t))) || !in && !start.IsZero() {
			t.Errorf("InWindow(%s) = %v %v–%v, want %v", c.t, in, start, end, c.in)
		}
	}
	past := mustSchedule(t, "cron(0 0 1 1 ? 2024)", "")
	if _, _, in := past.InWindow(time.Time{}, utc("2026-01-01 00:30:00")); in {
		t.Error("a schedule in the past has a window now")
	}
}

// 1,000 secrets on one Sunday 02:00 schedule with a 3h window start spread
// over the first 135 minutes, no minute holding more than 3% of them.
func TestStartInSpread(t *testing.T) {
	s := mustSchedule(t, "cron(0 2 ? * SUN *)", "3h")
	start, end, _ := s.NextWindow(time.Time{}, utc("2026-03-04 00:00:00"))
	for _, pattern := range []string{"db/prod/%d", "secret-%04d", "app%d-password", "%d"} {
		perMinute := map[int]int{}
		quarters := [4]int{}
		for i := 0; i < 1000; i++ {
			name := fmt.Sprintf(pattern, i)
			at := s.StartIn(start, end, name)
			if at.Before(start) || !at.Before(start.Add(135*time.Minute)) {
				t.Fatalf("%s starts at %v, outside the first 3/4 of %v–%v", name, at, start, end)
			}
			if at.Sub(start)%time.Second != 0 {
				t.Fatalf("%s starts at %v, not a whole second", name, at)
			}
			m := int(at.Sub(start) / time.Minute)
			perMinute[m]++
			quarters[m*4/135]++
		}
		most := 0
		for _, n := range perMinute {
			most = max(most, n)
		}
		if most > 30 {
			t.Errorf("%s: a minute holds %d of 1000 starts (> 3%%)", pattern, most)
		}
		if len(perMinute) < 120 {
			t.Errorf("%s: starts fall in only %d of 135 minutes", pattern, len(perMinute))
		}
		for q, n := range quarters {
			if n < 180 || n > 320 {
				t.Errorf("%s: quarter %d of the spread holds %d of 1000", pattern, q, n)
			}
		}
		t.Logf("%s: busiest minute %d of 1000, %d minutes used, quarters %v", pattern, most, len(perMinute), quarters)
	}
}

// A secret keeps its offset from window to window and run to run.
func TestStartInStable(t *testing.T) {
	s := mustSchedule(t, "cron(0 2 ? * SUN *)", "3h")
	w1, e1, _ := s.NextWindow(time.Time{}, utc("2026-03-04 00:00:00"))
	w2, e2, _ := s.NextWindow(time.Time{}, e1)
	for _, name := range []string{"a", "b", "db/prod/1", "ssh-key-web-42"} {
		if o1, o2 := s.StartIn(w1, e1, name).Sub(w1), s.StartIn(w2, e2, name).Sub(w2); o1 != o2 {
			t.Errorf("%s: offset %v then %v", name, o1, o2)
		}
	}
	// Pinned, so a change of hash (which would move every secret's start)
	// is a deliberate decision.
	if got := s.StartIn(w1, e1, "db/prod/1").Sub(w1); got != 6570*time.Second {
		t.Errorf("offset of db/prod/1 = %v (%ds)", got, int(got/time.Second))
	}
	if got := s.StartIn(w1, w1, "x"); !got.Equal(w1) {
		t.Errorf("empty window: %v", got)
	}
	if got := s.StartIn(w1, w1.Add(time.Second), "x"); !got.Equal(w1) {
		t.Errorf("one-second window: %v", got)
	}
}

func TestParseRotationWindow(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		code string
	}{
		{"1h", time.Hour, ok},
		{"3h", 3 * time.Hour, ok},
		{"24h", 24 * time.Hour, ok},
		{"60m", time.Hour, ok},
		{"90m", 90 * time.Minute, ok},
		{"1440m", 24 * time.Hour, ok},
		{"1h30m", 90 * time.Minute, ok},
		{"23h59m", 24*time.Hour - time.Minute, ok},
		{"0h60m", time.Hour, ok},
		{"03h", 3 * time.Hour, ok},
		{"", 0, missing},
		{"59m", 0, invalid},
		{"0h", 0, invalid},
		{"24h1m", 0, invalid},
		{"1441m", 0, invalid},
		{"25h", 0, invalid},
		{"1d", 0, invalid},
		{"3600s", 0, invalid},
		{"1h0m0s", 0, invalid},
		{"1.5h", 0, invalid},
		{"3h ", 0, invalid},
		{"3hm", 0, invalid},
		{"m", 0, invalid},
		{"30m1h", 0, invalid},
		{"1h1h", 0, invalid},
		{"３h", 0, invalid},
		{"100000h", 0, invalid},
	}
	for _, tc := range tests {
		got, err := ParseRotationWindow(tc.in)
		t.Run(tc.in, func(t *testing.T) { check(t, err, tc.code, "RotationWindow") })
		if tc.code == ok && got != tc.want {
			t.Errorf("ParseRotationWindow(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFormatRotationWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                       "1h",
		3 * time.Hour:                   "3h",
		24 * time.Hour:                  "24h",
		90 * time.Minute:                "1h30m",
		30 * time.Minute:                "30m",
		24*time.Hour - time.Minute:      "23h59m",
		0:                               "0m",
		time.Hour + 30*time.Second:      "1h",
		2*time.Hour + 5*time.Minute + 1: "2h5m",
	} {
		if got := FormatRotationWindow(d); got != want {
			t.Errorf("FormatRotationWindow(%v) = %q, want %q", d, got, want)
		}
		if d >= time.Hour && d%time.Minute == 0 {
			if back, err := ParseRotationWindow(want); err != nil || back != d {
				t.Errorf("%q parses back to %v, %v", want, back, err)
			}
		}
	}
}

func TestScheduleString(t *testing.T) {
	for _, c := range []struct{ expr, window, want string }{
		{"cron(0 2 ? * SUN *)", "3h", "cron(0 2 ? * SUN *), window 3h"},
		{"cron(0 2 ? * SUN *)", "", "cron(0 2 ? * SUN *), window 1h"},
		{"rate(7 days)", "", "rate(7 days), window 24h"},
		{"rate(1 days)", "90m", "rate(1 day), window 1h30m"},
		{"rate(6 hours)", "", "rate(6 hours), window 6h"},
	} {
		s := mustSchedule(t, c.expr, c.window)
		if got := s.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
		if s.IsRate() != strings.HasPrefix(c.expr, "rate") {
			t.Errorf("%s: IsRate() = %v", c.expr, s.IsRate())
		}
	}
}

// Whatever the input, ParseSchedule answers with a schedule or an API error
// naming the parameter; an accepted schedule's canonical form parses to the
// same schedule, and its windows are ordered, of the right length, and never
// overlap.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{
		"rate(7 days)", "rate(1 hour)", "rate(8760 hours)", "cron(0 2 ? * SUN *)", "cron(0 0 29 2 ? *)",
		"cron(0 22-2/2 * * ? *)", "cron(0 0 ? * FRI-MON 2026-2030)", "cron(0 1,23 1,31 JAN,DEC ? *)",
		"cron(*/5 * * * ? *)", "cron(0 0 L * ? *)", "cron(0 0 ? * 2#1 *)", "cron(0 0 30 2 ? *)",
	} {
		f.Add(s, "")
		f.Add(s, "3h")
	}
	f.Fuzz(func(t *testing.T, expr, window string) {
		s, err := ParseSchedule(expr, window)
		if err != nil {
			ae := AsAPIError(err)
			if ae.Code != CodeInvalidParameter && ae.Code != CodeMissingParameter || ae.HttpStatus != 400 ||
				!strings.Contains(ae.Message, "RotationSchedule") && !strings.Contains(ae.Message, "RotationWindow") {
				t.Fatalf("%q %q: %+v", expr, window, ae)
			}
			return
		}
		if s.Window < MinRotationWindow || s.Window > MaxRotationWindow {
			t.Fatalf("%q %q: window %v", expr, window, s.Window)
		}
		again, err := ParseSchedule(s.Expr, FormatRotationWindow(s.Window))
		if err != nil || *again != *s {
			t.Fatalf("%q %q: canonical %q does not parse back: %v", expr, window, s.Expr, err)
		}
		anchor, now := utc("2026-03-04 14:37:00"), utc("2026-03-04 15:00:00")
		start, end, ok := s.NextWindow(anchor, now)
		for i := 0; ok && i < 20; i++ {
			if end.Sub(start) != s.Window || !end.After(now) {
				t.Fatalf("%s: window %v–%v after %v", s, start, end, now)
			}
			next, nextEnd, nextOK := s.NextWindow(anchor, end)
			if nextOK && next.Before(end) {
				t.Fatalf("%s: window %v–%v overlaps %v–%v", s, start, end, next, nextEnd)
			}
			start, end, ok, now = next, nextEnd, nextOK, end
		}
	})
}

// BenchmarkNextWindow is the scheduler's per-secret cost: the next rotation
// window and the secret's start in it. A tick over 10,000 secrets costs
// 10,000 times this (see the ns/tick(10k) metric); the budget is 50 ms.
func BenchmarkNextWindow(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("db/prod/secret-%05d", i)
	}
	for _, c := range []struct{ expr, window string }{
		{"cron(0 2 ? * SUN *)", "3h"},
		{"cron(30 3 29 2 ? *)", ""},      // Feb 29: years apart
		{"cron(0 4 ? JAN MON 2030)", ""}, // years ahead
		{"cron(0 */6 ? * MON-FRI *)", "2h"},
		{"rate(7 days)", ""},
		{"rate(12 hours)", "1h"},
	} {
		s := mustSchedule(b, c.expr, c.window)
		anchor := utc("2026-01-01 10:00:00")
		now := utc("2026-03-04 12:34:56")
		b.Run(c.expr, func(b *testing.B) {
			var sink time.Time
			for i := 0; b.Loop(); i++ {
				start, end, _ := s.NextRotation(anchor, time.Time{}, now.Add(time.Duration(i%10000)*time.Second))
				sink = s.StartIn(start, end, names[i%len(names)])
			}
			_ = sink
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*10000/1e6, "ms/tick(10k)")
		})
	}
}

// BenchmarkParseSchedule: parsing per secret per tick is affordable too, even
// for the expression whose overlap check scans the calendar.
func BenchmarkParseSchedule(b *testing.B) {
	for _, c := range []struct{ expr, window string }{
		{"cron(0 2 ? * SUN *)", "3h"},
		{"rate(7 days)", ""},
		{"cron(0 1,23 1 * ? *)", "3h"}, // no two days in a row: a scan of 1970–2199
	} {
		b.Run(c.expr, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseSchedule(c.expr, c.window); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
