package devicelist

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// proxy stands between a store and Postgres, so that a test can make the
// server go away under an open pool: refuse cuts every connection and refuses
// new ones, silent keeps connections open but forwards nothing (a server that
// hangs, or a network that drops packets).
type proxy struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup // accept loop and every pipe

	mu    sync.Mutex
	mode  string                // guarded by mu: "forward", "refuse" or "silent"
	conns map[net.Conn]struct{} // guarded by mu: both ends of every proxied connection
}

// startProxy forwards a loopback port to the host:port of connString; it is
// stopped, with all its goroutines, in tb.Cleanup. It returns connString
// pointing at the proxy.
func startProxy(tb testing.TB, connString string) (*proxy, string) {
	tb.Helper()
	u, err := url.Parse(connString)
	if err != nil {
		tb.Fatalf("parse %s: %v", connString, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: u.Host, ln: ln, mode: "forward", conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		ln.Close()
		p.setMode("refuse")
		p.wg.Wait()
	})
	u.Host = p.addr
	return p, u.String()
}

// setMode switches the proxy; refuse also cuts the open connections.
func (p *proxy) setMode(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode == "refuse" {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		var server net.Conn
		if mode == "forward" {
			if server, err = net.Dial("tcp", p.target); err != nil {
				mode = "refuse"
			}
		}
		if mode == "refuse" {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		if server != nil {
			p.conns[server] = struct{}{}
		}
		p.mu.Unlock()
		if server == nil {
			// Silent: hold the connection, answering nothing.
			p.wg.Add(1)
			go p.pipe(nil, c)
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, server)
		go p.pipe(server, c)
	}
}

// pipe copies src to dst while the proxy forwards and discards it while the
// proxy is silent; dst nil means discard. It closes both when either ends.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range []net.Conn{src, dst} {
			if c != nil {
				c.Close()
				delete(p.conns, c)
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			forward := p.mode == "forward"
			p.mu.Unlock()
			if forward && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
