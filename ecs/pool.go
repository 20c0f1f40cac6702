package ecs

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pool shares management connections among every caller in a process.
//
// Each instance (key) gets at most MaxConns connections; each connection
// carries at most MaxSessions callers at once, which stays below sshd's
// default MaxSessions of 10. A caller beyond that gets a second connection,
// or waits for a slot once MaxConns are open. Only one dial per instance is
// in flight at a time: fifty rotations starting together on one host open
// one connection and share it, instead of each dialling its own and closing
// the others' (which x/crypto reports as "unexpected packet in response to
// channel open").
//
// A connection is never closed while a caller uses it: one that failed is
// taken out of the pool, so nobody new gets it, and closed when its last
// user lets go. Idle connections close after IdleTimeout.
type Pool struct {
	// MaxSessions bounds concurrent callers per connection.
	MaxSessions int
	// MaxConns bounds connections per instance.
	MaxConns int
	// IdleTimeout closes a connection nobody used for that long.
	IdleTimeout time.Duration
	// CheckAfter: a connection idle for longer is probed (keepalive round
	// trip) before it is handed out, so a host whose sshd restarted is
	// redialled before anything runs instead of failing mid-rotation.
	CheckAfter time.Duration

	// dial opens a connection (its Dialer's Dial; tests may replace it).
	dial func(ctx context.Context, t Target) (*Client, error)

	mu     sync.Mutex
	hosts  map[string]*poolHost
	dials  int // connections opened, for tests and benchmarks
	closed bool
}

type poolHost struct {
	target  Target
	conns   []*poolConn
	dialing bool
	// wake is closed (and replaced) whenever a slot frees up or a dial
	// ends, so that waiters look again.
	wake chan struct{}
	// dialGen counts finished dials; dialErr is the last one's error.
	dialGen int
	dialErr error
}

type poolConn struct {
	c        *Client
	inUse    int
	dead     bool
	lastUsed time.Time
	idle     *time.Timer
}

// Default pool limits.
const (
	DefaultMaxSessions = 8
	DefaultMaxConns    = 4
	defaultIdleTimeout = 5 * time.Minute
	defaultCheckAfter  = 2 * time.Second
)

// NewPool returns a pool with the default limits, dialling with the
// default timeouts.
func NewPool() *Pool { return Dialer{}.NewPool() }

// NewPool returns a pool with the default limits whose connections d opens.
func (d Dialer) NewPool() *Pool {
	return &Pool{MaxSessions: DefaultMaxSessions, MaxConns: DefaultMaxConns, IdleTimeout: defaultIdleTimeout,
		CheckAfter: defaultCheckAfter, dial: d.Dial, hosts: map[string]*poolHost{}}
}

// ErrPoolClosed: the pool was closed (the process is shutting down).
var ErrPoolClosed = errors.New("ecs: connection pool closed")

// Do runs fn on a management connection to the instance key (target t).
// fn must be idempotent: when it fails with ErrNotApplied (nothing reached
// the host, e.g. the cached connection had died) it runs once more on a
// freshly dialled connection.
func (p *Pool) Do(ctx context.Context, key string, t Target, fn func(*Client) error) error {
	for attempt := 0; ; attempt++ {
		pc, err := p.acquire(ctx, key, t)
		if err != nil {
			// No connection: fn never ran.
			return notApplied(err)
		}
		err = fn(pc.c)
		p.release(key, pc, err != nil && errors.Is(err, ErrUnreachable))
		if err != nil && attempt == 0 && errors.Is(err, ErrNotApplied) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// Warm makes sure a connection to the instance is open (dialling one if
// none is), without holding it. A rotation calls it while its pending
// version commits, taking the dial off the critical path.
func (p *Pool) Warm(ctx context.Context, key string, t Target) error {
	pc, err := p.acquire(ctx, key, t)
	if err != nil {
		return err
	}
	p.release(key, pc, false)
	return nil
}

// Dials is how many connections the pool has opened so far.
func (p *Pool) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// OpenConns is how many connections to the instance are open in the pool.
func (p *Pool) OpenConns(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[key]; h != nil {
		return len(h.conns)
	}
	return 0
}

func sameTarget(a, b Target) bool {
	return a.Host == b.Host && a.Port == b.Port && a.HostKey == b.HostKey && a.AdminUser == b.AdminUser && string(a.AdminKey) == string(b.AdminKey)
}

func (h *poolHost) broadcast() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// retire takes a connection out of the pool; it closes once unused.
// Called with p.mu held.
func (h *poolHost) retire(pc *poolConn) {
	pc.dead = true
	for i, x := range h.conns {
		if x == pc {
			h.conns = append(h.conns[:i], h.conns[i+1:]...)
			break
		}
	}
	if pc.idle != nil {
		pc.idle.Stop()
	}
	if pc.inUse == 0 {
		go pc.c.Close()
	}
}

func (p *Pool) acquire(ctx context.Context, key string, t Target) (*poolConn, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, notApplied(ctxError(ctx, address(t.Host, t.Port)))
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		h := p.hosts[key]
		if h == nil {
			h = &poolHost{target: t, wake: make(chan struct{})}
			p.hosts[key] = h
		}
		if !sameTarget(h.target, t) {
			// The instance was re-pinned or its admin key changed: old
			// connections finish what they run and go.
			for len(h.conns) > 0 {
				h.retire(h.conns[0])
			}
			h.target = t
		}
		// The least busy connection with a free slot.
		var pick *poolConn
		for _, pc := range h.conns {
			if pc.inUse < p.MaxSessions && (pick == nil || pc.inUse < pick.inUse) {
				pick = pc
			}
		}
		if pick != nil {
			pick.inUse++
			if pick.idle != nil {
				pick.idle.Stop()
				pick.idle = nil
			}
			check := pick.inUse == 1 && p.CheckAfter > 0 && time.Since(pick.lastUsed) > p.CheckAfter
			p.mu.Unlock()
			if check && !pick.c.Alive(ctx) {
				p.release(key, pick, true)
				continue
			}
			return pick, nil
		}
		if !h.dialing && len(h.conns) < p.MaxConns {
			h.dialing = true
			p.mu.Unlock()
			c, err := p.dial(ctx, t)
			p.mu.Lock()
			h.dialing = false
			h.dialGen++
			h.dialErr = err
			var pc *poolConn
			if err == nil {
				p.dials++
				if p.closed || !sameTarget(h.target, t) {
					go c.Close()
					err = ErrPoolClosed
					if !p.closed {
						err = errors.New("ecs: instance settings changed while connecting; try again")
					}
				} else {
					pc = &poolConn{c: c, inUse: 1, lastUsed: time.Now()}
					h.conns = append(h.conns, pc)
				}
			}
			h.broadcast()
			p.mu.Unlock()
			if err != nil {
				return nil, err
			}
			return pc, nil
		}
		wake, gen := h.wake, h.dialGen
		dialing := h.dialing
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			continue
		}
		if dialing {
			// The dial we waited for failed: report its error rather
			// than dial a dead host once per waiter. (A dial that ended
			// only because its caller gave up is tried again.)
			p.mu.Lock()
			err := h.dialErr
			ended := h.dialGen > gen
			p.mu.Unlock()
			if ended && err != nil && !errors.Is(err, context.Canceled) {
				return nil, err
			}
		}
	}
}

func (p *Pool) release(key string, pc *poolConn, broken bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc.inUse--
	pc.lastUsed = time.Now()
	h := p.hosts[key]
	switch {
	case broken && !pc.dead && h != nil:
		h.retire(pc)
	case pc.dead:
		if pc.inUse == 0 {
			go pc.c.Close()
		}
	case pc.inUse == 0 && p.IdleTimeout > 0:
		pc.idle = time.AfterFunc(p.IdleTimeout, func() { p.closeIdle(key, pc) })
	}
	if h != nil {
		h.broadcast()
	}
}

func (p *Pool) closeIdle(key string, pc *poolConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[key]; h != nil && pc.inUse == 0 && !pc.dead {
		h.retire(pc)
	}
}

// Forget retires every connection to the instance (removed, or its settings
// changed); connections in use close once their callers are done.
func (p *Pool) Forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[key]; h != nil {
		for len(h.conns) > 0 {
			h.retire(h.conns[0])
		}
		delete(p.hosts, key)
		h.broadcast()
	}
}

// Close retires every connection and refuses new callers. Connections in
// use close when their callers finish.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for key, h := range p.hosts {
		for len(h.conns) > 0 {
			h.retire(h.conns[0])
		}
		h.broadcast()
		delete(p.hosts, key)
	}
}
