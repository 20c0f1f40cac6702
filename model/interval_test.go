package model

import (
	"strings"
	"testing"
)

func TestParseRotationInterval(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		code string
	}{
		{"7d", 604800, ok},
		{"1d", 86400, ok},
		{"6h", 21600, ok},
		{"12h", 43200, ok},
		{"360m", 21600, ok},
		{"21600s", 21600, ok},
		{"8760h", 31536000, ok},
		{"365d", 31536000, ok},
		{"525600m", 31536000, ok},
		{"31536000s", 31536000, ok},
		{"30d", 2592000, ok},

		// below 6h
		{"5h", 0, invalid},
		{"359m", 0, invalid},
		{"21599s", 0, invalid},
		{"0d", 0, invalid},
		{"0s", 0, invalid},
		// above 8760h
		{"8761h", 0, invalid},
		{"366d", 0, invalid},
		{"525601m", 0, invalid},
		{"31536001s", 0, invalid},
		// malformed
		{"", 0, missing},
		{"7", 0, invalid},
		{"d", 0, invalid},
		{"h", 0, invalid},
		{"7w", 0, invalid},
		{"7D", 0, invalid},
		{"7H", 0, invalid},
		{"-7d", 0, invalid},
		{"+7d", 0, invalid},
		{"1e3h", 0, invalid},
		{"7.5d", 0, invalid},
		{"0x10d", 0, invalid},
		{"5h59m", 0, invalid},
		{"6h0m", 0, invalid},
		{"1d6h", 0, invalid},
		{" 7d", 0, invalid},
		{"7d ", 0, invalid},
		{"7 d", 0, invalid},
		{"7dd", 0, invalid},
		{"d7", 0, invalid},
		{"٧d", 0, invalid}, // Arabic-Indic digit
		{"７d", 0, invalid}, // full-width digit
		{"7ｄ", 0, invalid}, // full-width unit, ends in a continuation byte
		{"604800", 0, invalid},
		{"604800ms", 0, invalid},
		{"7days", 0, invalid},
		// huge: must not overflow into the accepted range
		{"106752d", 0, invalid}, // time.Duration overflows at ~106751d
		{"2562048h", 0, invalid},
		{"153722868m", 0, invalid},
		{"9223372037s", 0, invalid},
		{"9223372036854775807s", 0, invalid},
		{"9223372036854775808d", 0, invalid},
		{"99999999999999999999999999d", 0, invalid},
		{"18446744073709551616h", 0, invalid},
		// n*unit wraps around int64 nanoseconds into 6h–8760h: only the
		// overflow guard refuses these.
		{"213505d", 0, invalid},
		{"5124102h", 0, invalid},
		{"307446095m", 0, invalid},
		{"18446765674s", 0, invalid},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRotationInterval(tc.in)
			check(t, err, tc.code, "RotationInterval")
			if got != tc.want {
				t.Errorf("ParseRotationInterval(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatInterval(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{604800, "604800s"},
		{21600, "21600s"},
		{31536000, "31536000s"},
		{1, "1s"},
		{0, ""},
		{-5, ""},
	}
	for _, tc := range tests {
		if got := FormatInterval(tc.in); got != tc.want {
			t.Errorf("FormatInterval(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHumanInterval(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{604800, "7d"},
		{86400, "1d"},
		{31536000, "365d"},
		{43200, "12h"},
		{21600, "6h"},
		{90000, "25h"},
		{5400, "90m"},
		{21660, "361m"},
		{21601, "21601s"},
		{59, "59s"},
		{0, ""},
		{-86400, ""},
	}
	for _, tc := range tests {
		if got := HumanInterval(tc.in); got != tc.want {
			t.Errorf("HumanInterval(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Both renderings of an accepted interval parse back to the same seconds.
func TestIntervalRoundTrip(t *testing.T) {
	for _, s := range []string{"6h", "7d", "360m", "21601s", "8760h", "100h", "1000m"} {
		secs, err := ParseRotationInterval(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for _, r := range []string{FormatInterval(secs), HumanInterval(secs)} {
			back, err := ParseRotationInterval(r)
			if err != nil || back != secs {
				t.Errorf("%s -> %d -> %q -> %d, %v", s, secs, r, back, err)
			}
		}
	}
}

func FuzzParseRotationInterval(f *testing.F) {
	for _, s := range []string{
		"7d", "6h", "360m", "21600s", "8760h", "365d", "366d", "359m", "", "7", "d",
		"-7d", "1e3h", "5h59m", "9223372036854775807s", "213505d", "18446765674s", "٧d", "7ｄ",
	} {
		f.Add(s)
	}
	const lo, hi = 6 * 3600, 8760 * 3600
	f.Fuzz(func(t *testing.T, s string) {
		secs, err := ParseRotationInterval(s)
		if err != nil {
			if secs != 0 {
				t.Fatalf("%q: error %v with value %d", s, err, secs)
			}
			ae := AsAPIError(err)
			if ae.Code != CodeInvalidParameter && ae.Code != CodeMissingParameter {
				t.Fatalf("%q: code %s", s, ae.Code)
			}
			if ae.HttpStatus != 400 || !strings.Contains(ae.Message, "RotationInterval") {
				t.Fatalf("%q: %+v", s, ae)
			}
			return
		}
		if secs < lo || secs > hi {
			t.Fatalf("%q accepted as %d s, outside 6h–8760h", s, secs)
		}
		if strings.Trim(s[:len(s)-1], "0123456789") != "" || !strings.Contains("dhms", s[len(s)-1:]) {
			t.Fatalf("%q accepted but is not N followed by d/h/m/s", s)
		}
		if back, err := ParseRotationInterval(FormatInterval(secs)); err != nil || back != secs {
			t.Fatalf("%q: FormatInterval(%d) does not parse back: %d, %v", s, secs, back, err)
		}
		if back, err := ParseRotationInterval(HumanInterval(secs)); err != nil || back != secs {
			t.Fatalf("%q: HumanInterval(%d) does not parse back: %d, %v", s, secs, back, err)
		}
	})
}
