package components

import (
	"strings"

	"kmsconsole/model"
)

// SafeFrame is the last guard on a whole frame, applied by the root model
// to what it hands Bubble Tea. The console's own styling is SGR only
// (lipgloss: ESC [ digits ; : m), and its lines end in "\n": SafeFrame keeps
// exactly those and draws everything else through model.SafeText, so an
// ESC, BEL or C1 control that reached the frame (a string from outside that
// a screen forgot to sanitise) shows as ␛, ␇, <U+009B> instead of setting
// the title, clearing the screen, moving the cursor or writing the
// clipboard. It does not replace sanitising where strings are drawn (fit,
// Wrap, and the explicit calls in the screens): only that keeps the layout
// right, since a raw sequence is measured as zero cells wide.
func SafeFrame(frame string) string {
	if !needsGuard(frame) {
		return frame
	}
	var b strings.Builder
	b.Grow(len(frame) + 64)
	start := 0
	flush := func(end int) {
		if end > start {
			b.WriteString(model.SafeText(frame[start:end]))
		}
	}
	for i := 0; i < len(frame); {
		switch frame[i] {
		case '\n':
			flush(i)
			b.WriteByte('\n')
			i++
			start = i
		case 0x1b:
			if n := sgrLen(frame[i:]); n > 0 {
				flush(i)
				b.WriteString(frame[i : i+n])
				i += n
				start = i
				continue
			}
			i++ // stays in the text: SafeText shows it as ␛
		default:
			i++
		}
	}
	flush(len(frame))
	return b.String()
}

// needsGuard reports whether frame has anything but printable text, line
// breaks and SGR sequences (the fast path: a frame is drawn often).
func needsGuard(frame string) bool {
	for i := 0; i < len(frame); {
		c := frame[i]
		switch {
		case c == '\n' || c >= 0x20 && c < 0x7f:
			i++
		case c == 0x1b:
			n := sgrLen(frame[i:])
			if n == 0 {
				return true
			}
			i += n
		case c < 0x80:
			return true // other C0 controls, DEL
		default:
			// Non-ASCII: box drawing, ␛, names. SafeText decides.
			j := i + 1
			for j < len(frame) && frame[j] >= 0x80 {
				j++
			}
			if model.SafeText(frame[i:j]) != frame[i:j] {
				return true
			}
			i = j
		}
	}
	return false
}

// sgrLen is the length of the SGR sequence (ESC [ params m) at the start of
// s, or 0.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != 0x1b || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == ';' || c == ':':
		case c == 'm':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}
