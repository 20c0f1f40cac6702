package ui

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// BenchmarkBinaryFirstFrame10k times the real binary on a store of 10,000
// secrets in a pseudo-terminal of 120×40: from exec to the first full frame
// (the list's first screenful and the footer) on the terminal. Unlike the
// tmux end-to-end tests it has no polling between the program and the clock.
// It also reports the process's peak resident memory once every secret is
// loaded (MB-peak-rss). Goals: < 100 ms, < 60 MB.
func BenchmarkBinaryFirstFrame10k(b *testing.B) {
	bin := buildBinary(b)
	dbPath := seedStore(b, 10000).Path
	// The last name in the list's order: on screen after End only once
	// every secret, not just the first screenful, has loaded.
	var last string
	for i := 0; i < 10000; i++ {
		last = max(last, seedName(i))
	}
	var peakKB int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "--db", dbPath, "--region", "cn-hangzhou")
		cmd.Env = append(os.Environ(), "TERM=xterm-256color", "NO_COLOR=")
		tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 120, Rows: 40})
		if err != nil {
			b.Fatal(err)
		}
		out := &terminalOutput{tty: pollable(b, tty)}
		if err := out.waitFor(10*time.Second, func(s string) bool {
			return strings.Contains(s, "team00/service00000/password") && strings.Contains(s, "plan deletion")
		}); err != nil {
			b.Fatalf("first frame: %v\n%q", err, out.tail())
		}
		b.StopTimer()
		loaded := false
		for try := 0; try < 50 && !loaded; try++ {
			_, _ = out.tty.WriteString("G") // End
			loaded = out.waitFor(200*time.Millisecond, func(s string) bool { return strings.Contains(s, last) }) == nil
		}
		if !loaded {
			b.Fatalf("the full list never loaded (%s not reached)\n%q", last, out.tail())
		}
		if kb := peakRSSKB(cmd.Process.Pid); kb > peakKB {
			peakKB = kb
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.tty.Close()
		tty.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(peakKB)/1024, "MB-peak-rss")
}

// terminalOutput accumulates what a program writes to its terminal, and
// answers the two queries a terminal emulator answers (cursor position, and
// background colour), as the console asks both at start.
type terminalOutput struct {
	tty      *os.File
	buf      bytes.Buffer
	answered int // bytes of buf already scanned for queries
}

var terminalAnswers = []struct{ query, answer string }{
	{"\x1b[6n", "\x1b[1;1R"},
	{"\x1b]11;?\x1b\\", "\x1b]11;rgb:1a1a/1b1b/2626\x1b\\"},
	{"\x1b]11;?\a", "\x1b]11;rgb:1a1a/1b1b/2626\a"},
}

// waitFor reads until ok holds for everything read so far, or within passes.
func (o *terminalOutput) waitFor(within time.Duration, ok func(string) bool) error {
	deadline := time.Now().Add(within)
	chunk := make([]byte, 64*1024)
	for !ok(o.buf.String()) {
		_ = o.tty.SetReadDeadline(deadline)
		n, err := o.tty.Read(chunk)
		o.buf.Write(chunk[:n])
		o.answerQueries()
		if err != nil {
			return err
		}
	}
	return nil
}

// answerQueries answers, in order, the queries written since the last call.
func (o *terminalOutput) answerQueries() {
	for {
		rest := o.buf.Bytes()[o.answered:]
		first, at := -1, len(rest)
		for i, qa := range terminalAnswers {
			if j := bytes.Index(rest, []byte(qa.query)); j >= 0 && j < at {
				first, at = i, j
			}
		}
		if first < 0 {
			return
		}
		_, _ = o.tty.WriteString(terminalAnswers[first].answer)
		o.answered += at + len(terminalAnswers[first].query)
	}
}

func (o *terminalOutput) tail() string {
	s := o.buf.String()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// peakRSSKB is a live process's peak resident set (VmHWM), in KiB.
func peakRSSKB(pid int) int64 {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// pollable is a non-blocking duplicate of the pty master, so that read
// deadlines work: creack/pty hands out a blocking descriptor, on which a
// read with nothing to read waits for ever.
func pollable(tb testing.TB, f *os.File) *os.File {
	tb.Helper()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		tb.Fatal(err)
	}
	return os.NewFile(uintptr(fd), f.Name())
}
