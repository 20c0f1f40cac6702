package serve

import (
	"fmt"
	"log"
	"strings"
	"unicode"
	"unicode/utf8"
)

// logger is serve's log: one line per event. Much of what it names comes
// from clients (the command of an exec session, the SSH user name and
// version string, algorithm names and disconnect messages inside handshake
// errors) or from stored text, so every message is escaped as a whole
// before it is written: a client cannot start a forged line with a newline
// or drive the terminal of whoever reads the log.
type logger struct{ l *log.Logger }

func (g *logger) Printf(format string, args ...any) {
	g.l.Print(escapeLog(fmt.Sprintf(format, args...)))
}

func (g *logger) Print(msg string) { g.l.Print(escapeLog(msg)) }

// Lines logs a header and then each line of text (a stack trace) as lines
// of their own, each escaped.
func (g *logger) Lines(header, text string) {
	g.Print(header)
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		g.Print("  " + line)
	}
}

// escapeLog makes s safe for one log line, strconv.Quote-style without the
// surrounding quotes: a backslash is doubled, \n \r \t are written so,
// other control bytes and invalid UTF-8 as \xNN, and invisible or
// line-breaking Unicode (U+2028, bidi overrides, C1 controls) as \uNNNN.
// Printable text, quotes included, is left as it is.
func escapeLog(s string) string {
	clean := true
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || (r != ' ' && !unicode.IsPrint(r)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r != ' ' && !unicode.IsPrint(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
