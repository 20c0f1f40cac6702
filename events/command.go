package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"kmsconsole/db"
)

// commandChannel runs a shell command per event (serve --on-event).
type commandChannel struct {
	cmd string
	out io.Writer // the command's output, or nil
}

// deliver runs the command with the event's JSON and a newline on stdin;
// nil when it exits 0. ctx's deadline is the timeout: then the command's
// process group is killed, children included.
func (c *commandChannel) deliver(ctx context.Context, ev *db.OutboxEvent) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.cmd)
	// The event goes on stdin only: arguments and environment are visible
	// to every user of the machine (ps, /proc).
	cmd.Stdin = bytes.NewReader(append(append([]byte(nil), ev.Body...), '\n'))
	tail := &tailBuffer{max: 512}
	var out io.Writer = tail
	if c.out != nil {
		out = io.MultiWriter(tail, &lockedWriter{w: c.out})
	}
	cmd.Stdout, cmd.Stderr = out, out
	ownProcessGroup(cmd)
	// Background children that keep the output open do not hold the
	// delivery past the command's exit for long.
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited 0; only a child kept its output open
	}
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %s and was killed", time.Since(start).Round(time.Millisecond))
	case ctx.Err() != nil:
		err = fmt.Errorf("killed after %s: %v", time.Since(start).Round(time.Millisecond), ctx.Err())
	}
	msg := fmt.Sprintf("the --on-event command failed: %v", err)
	if t := clip(tail.String(), 200); t != "" {
		msg += "; it printed: " + t
	}
	return errors.New(msg)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// lockedWriter serialises the writes of commands running at once (each
// delivery has its own lockedWriter; the lock is shared).
type lockedWriter struct{ w io.Writer }

var outputMu sync.Mutex

func (l *lockedWriter) Write(p []byte) (int, error) {
	outputMu.Lock()
	defer outputMu.Unlock()
	return l.w.Write(p)
}
