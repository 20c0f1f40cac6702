package dbtest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// RoundTrips is a loopback TCP proxy in front of PostgreSQL that counts
// round trips: each time a client speaks again after the server answered
// (or speaks first) is one. It measures what a store operation costs in
// network waits, whatever the driver batches or pipelines.
type RoundTrips struct {
	n  atomic.Int64
	ln net.Listener
	wg sync.WaitGroup
}

// Count is the number of round trips since the last Reset.
func (p *RoundTrips) Count() int64 { return p.n.Load() }

// Reset starts counting from zero.
func (p *RoundTrips) Reset() { p.n.Store(0) }

// CountRoundTrips starts a proxy to the database of rawURL and returns the
// URL that goes through it; the proxy stops when t ends.
func CountRoundTrips(t testing.TB, rawURL string) (string, *RoundTrips) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal("dbtest: the PostgreSQL URL does not parse")
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &RoundTrips{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.pipe(c, s)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	u.Host = ln.Addr().String()
	return u.String(), p
}

// pipe copies both ways; a client write after a server write is a new
// round trip.
func (p *RoundTrips) pipe(client, server net.Conn) {
	var serverSpoke atomic.Bool
	serverSpoke.Store(true) // the client's first message starts one
	copyDir := func(dst, src net.Conn, fromClient bool) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if fromClient {
					if serverSpoke.Swap(false) {
						p.n.Add(1)
					}
				} else {
					serverSpoke.Store(true)
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return // EOF or a closed connection: the other side closes too
			}
		}
	}
	go copyDir(server, client, true)
	go copyDir(client, server, false)
}
