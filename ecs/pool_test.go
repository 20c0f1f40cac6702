package ecs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"kmsconsole/ecs/sshdtest"
)

// Many callers at once on one host share a few connections: one dial in
// flight at a time, at most MaxSessions callers per connection.
func TestPoolSharesConnections(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "pool", "")
	p := NewPool()
	defer p.Close()
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.Do(ctx, "i-1", target(srv, admin, key), func(c *Client) error {
				ok, err := c.UserExists(ctx, user)
				if err == nil && !ok {
					err = errors.New("user not found")
				}
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	if d := p.Dials(); d < 1 || d > p.MaxConns {
		t.Fatalf("50 concurrent callers dialled %d connections, want 1..%d", d, p.MaxConns)
	}
	if n := p.OpenConns("i-1"); n < 1 || n > p.MaxConns {
		t.Fatalf("%d connections open after the burst", n)
	}
}

// A cached connection that died (sshd restarted) is replaced before the
// next command runs: the caller never sees the dead one.
func TestPoolRedialsDeadConnection(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "pool", "")
	for _, probe := range []bool{true, false} {
		p := NewPool()
		if !probe {
			// No keepalive probe: the dead connection is found when
			// its session cannot open (ErrNotApplied) and the call is
			// retried once on a new connection.
			p.CheckAfter = 0
		} else {
			p.CheckAfter = time.Nanosecond
		}
		ctx := ctxT(t)
		check := func() error {
			return p.Do(ctx, "i-1", target(srv, admin, key), func(c *Client) error {
				_, err := c.UserExists(ctx, user)
				return err
			})
		}
		if err := check(); err != nil {
			t.Fatal(err)
		}
		srv.Restart(t, sshdtest.Options{}) // drops every open connection
		if err := check(); err != nil {
			t.Fatalf("probe=%v: after sshd restarted: %v", probe, err)
		}
		if p.Dials() != 2 {
			t.Fatalf("probe=%v: %d dials, want 2", probe, p.Dials())
		}
		p.Close()
	}
}

// Forgetting an instance (or closing the pool) while a command runs lets
// the command finish on its connection.
func TestPoolNeverClosesAConnectionInUse(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	admin, key := sshdtest.CreateAdmin(t)
	p := NewPool()
	ctx := ctxT(t)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Do(ctx, "i-1", target(srv, admin, key), func(c *Client) error {
			close(started)
			r, err := c.run(ctx, "sleep 1; echo "+readyMarker+"; echo finished", nil)
			if err != nil {
				return err
			}
			if r.code != 0 || r.out != "finished\n" {
				return errors.New("unexpected output " + r.out)
			}
			return nil
		})
	}()
	<-started
	p.Forget("i-1")
	p.Close()
	if err := <-done; err != nil {
		t.Fatalf("the running command was cut: %v", err)
	}
	if err := p.Do(ctx, "i-1", target(srv, admin, key), func(*Client) error { return nil }); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("a closed pool accepted a caller: %v", err)
	}
}

// A channel the host refuses to open means nothing ran there: the error
// says so (ErrNotApplied), so a rotation knows there is nothing to undo.
func TestRefusedSessionIsNotApplied(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"MaxSessions 1"}})
	admin, key := sshdtest.CreateAdmin(t)
	user := sshdtest.CreateUser(t, "pool", "")
	c := dial(t, target(srv, admin, key))
	ctx, cancel := context.WithTimeout(ctxT(t), 30*time.Second)
	defer cancel()
	// Hold the host's only session slot.
	held, err := c.conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	err = c.SetPassword(ctx, user, testPassword(t))
	if !errors.Is(err, ErrNotApplied) {
		t.Fatalf("a refused session gave %v, want ErrNotApplied", err)
	}
}
