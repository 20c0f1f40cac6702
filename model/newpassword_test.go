package model

import (
	"strings"
	"testing"
)

func TestValidateNewPassword(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"one character", "x", false},
		{"seven", "Abc-123", false},
		{"eight", "Abc-1234", true},
		{"128", strings.Repeat("a", 128), true},
		{"129", strings.Repeat("a", 129), false},
		{"128 multibyte characters", strings.Repeat("é", 128), true},
		{"starts with a brace", "{not-json-Abc1", true},
		{"ESC", "Abcdefg\x1b[2J", false},
		{"newline", "Abcdefgh\n", false},
		{"C1 control", "Abcdefgh\u009b", false},
		{"DEL", "Abcdefgh\x7f", false},
		{"invalid UTF-8", "Abcdefgh\xff", false},
	} {
		err := ValidateNewPassword(tc.pw)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("%s: the error quotes the value", tc.name)
		}
	}
}

func TestLooksLikeECSData(t *testing.T) {
	for s, want := range map[string]bool{
		`{"UserName":"root","Password":"Abcdefgh1"}`: true,
		`{"Password":"x"}`:                           true,
		`{not json`:                                  false,
		`{"other":1}`:                                false,
		`["UserName"]`:                               false,
		`plain-Password-1`:                           false,
	} {
		if got := LooksLikeECSData(s); got != want {
			t.Errorf("LooksLikeECSData(%q) = %v, want %v", s, got, want)
		}
	}
}
