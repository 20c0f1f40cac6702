package model

import (
	"strings"
	"testing"
)

func TestSafeTextLeavesNoControlCharacter(t *testing.T) {
	hostile := []string{
		"\x1b]0;pwned\x07",                  // window title
		"\x1b[2J\x1b[H",                     // clear screen
		"\x1b]52;c;ZWNobyBwd25lZA==\x07",    // OSC 52 clipboard write
		"row\r\n2026-11-30 admin Delete ok", // a fake audit row
		"\u009b31m C1 CSI",                  // 8-bit CSI
		"\u202eevil",                        // right-to-left override
		"bad \xff\xfe bytes",
		"\x00\x7f",
	}
	for _, h := range hostile {
		got := SafeText(h)
		for _, r := range got {
			if isControl(r) || isBidiControl(r) {
				t.Errorf("SafeText(%q) = %q still holds %U", h, got, r)
			}
		}
		if strings.ContainsRune(got, '\x1b') || strings.ContainsRune(got, '\n') {
			t.Errorf("SafeText(%q) = %q", h, got)
		}
	}
	if got := SafeText("\x1b[2J"); got != "␛[2J" {
		t.Errorf("ESC shown as %q, want ␛[2J", got)
	}
	for _, plain := range []string{"acs/ecs/web1/root", "Déjà vu – 日本語", ""} {
		if got := SafeText(plain); got != plain {
			t.Errorf("SafeText changed plain text %q to %q", plain, got)
		}
	}
	if got := SafeLines("one\r\ntwo\x1b[1m"); got != "one\ntwo␛[1m" {
		t.Errorf("SafeLines = %q", got)
	}
}

func TestDescriptionRefusesControlCharacters(t *testing.T) {
	for _, d := range []string{"a\x1b]0;x\x07", "line\nbreak", "tab\there", "\u202eevil", "C1\u0085", "bad\xff"} {
		if err := ValidateDescription(d); !IsCode(err, CodeInvalidParameter) {
			t.Errorf("ValidateDescription(%q) = %v, want InvalidParameter", d, err)
		}
	}
	if err := ValidateDescription("Production DB – owner: ops@example.com"); err != nil {
		t.Errorf("a plain description was refused: %v", err)
	}
}
