package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on a fixed loopback address that a test can cut and
// restore, to make a real service unreachable for the code under test without
// stopping the service itself.
type Proxy struct {
	// Addr is the proxy's address, the same across Stop and Start.
	Addr string

	tb     testing.TB
	target string

	mu    sync.Mutex
	ln    net.Listener          // guarded by mu: nil while stopped
	conns map[net.Conn]struct{} // guarded by mu: both ends of every proxied connection
	wg    sync.WaitGroup        // the accept loop and the copiers
}

// StartProxy starts a proxy to target on a free loopback port; it is stopped in
// tb.Cleanup.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), tb: tb, target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	tb.Cleanup(p.Stop)
	return p
}

// Stop refuses new connections and cuts every open one, as a crashed or
// partitioned service would.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Start accepts connections again on the same address.
func (p *Proxy) Start() {
	p.tb.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		p.tb.Fatalf("proxy: listen again on %s: %v", p.Addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.pipe(c)
		}
	}()
}

// pipe connects c to the target and copies both ways until either side ends.
func (p *Proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := func() {
		_ = c.Close()
		_ = up.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, up)
		p.mu.Unlock()
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(up, c)
		done()
	}()
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(c, up)
		done()
	}()
}
