package model

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SafeText returns s with every character that could drive a terminal made
// visible: C0 controls as their Unicode control pictures (ESC as ␛, BEL as
// ␇), DEL as ␡, C1 controls and bidirectional overrides as <U+XXXX>, and
// invalid UTF-8 bytes as <XX>. Everything that came from outside (names,
// descriptions, stage labels, host output, audit messages) is drawn through
// it, so no stored text can set a window title, clear the screen, fake rows
// or write the clipboard (OSC 52).
func SafeText(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "<%02X>", s[i])
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('␡')
		case isControl(r) || isBidiControl(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPlain is SafeText's fast path: printable ASCII only.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// SafeLines is SafeText for text whose line breaks are wanted (host output,
// multi-line messages): newlines stay, everything else is made visible.
func SafeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = SafeText(strings.TrimSuffix(l, "\r"))
	}
	return strings.Join(lines, "\n")
}
