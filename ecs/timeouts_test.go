package ecs

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestDialerTimeouts: a Dialer's timeouts are what bound its connections,
// and a zero field means the default.
func TestDialerTimeouts(t *testing.T) {
	if got := (Timeouts{Dial: time.Second}).withDefaults(); got != (Timeouts{Dial: time.Second, Handshake: DefaultHandshakeTimeout, Command: DefaultCommandTimeout}) {
		t.Fatalf("defaults: %+v", got)
	}

	// A host that accepts the connection and never speaks: the handshake
	// timeout ends the attempt.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	d := Dialer{Timeouts: Timeouts{Handshake: 200 * time.Millisecond}}
	start := time.Now()
	_, err = d.FetchHostKey(context.Background(), addr.IP.String(), addr.Port)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("silent host: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the 200ms handshake timeout took %v", took)
	}

	// A command is bounded by the client's timeout unless the caller's
	// context already has a deadline.
	for _, tc := range []struct {
		timeouts Timeouts
		want     time.Duration
	}{{Timeouts{Command: 50 * time.Millisecond}, 50 * time.Millisecond}, {Timeouts{}, DefaultCommandTimeout}} {
		c := &Client{timeouts: tc.timeouts}
		ctx, cancel := c.commandContext(context.Background())
		dl, ok := ctx.Deadline()
		cancel()
		if left := time.Until(dl); !ok || left > tc.want || left < tc.want-time.Second {
			t.Errorf("command timeout %v: deadline in %v", tc.want, left)
		}
	}
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	ctx, stop := (&Client{timeouts: Timeouts{Command: time.Millisecond}}).commandContext(parent)
	defer stop()
	if dl, _ := ctx.Deadline(); time.Until(dl) < 59*time.Minute {
		t.Error("the caller's deadline was replaced")
	}
}
