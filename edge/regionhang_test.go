package edge

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// hangProxy forwards TCP connections to a target until hang, after which it
// forwards nothing, in either direction, and closes nothing: what a process
// that hangs, or a network that drops everything without a reset, looks like
// from the other end. Connections accepted after hang are held open and never
// forwarded. It stops with the test.
type hangProxy struct {
	addr   string
	ln     net.Listener
	target string
	hung   atomic.Bool
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn // guarded by mu
}

func startHangProxy(t *testing.T, target string) *hangProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangProxy{addr: ln.Addr().String(), ln: ln, target: target, done: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.stop)
	return p
}

func (p *hangProxy) hang() { p.hung.Store(true) }

func (p *hangProxy) stop() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *hangProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		_ = c.Close()
		return false
	default:
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *hangProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		if p.hung.Load() {
			p.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(up) {
			return
		}
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies src to dst until src ends; once hung it reads on and drops it
// all.
func (p *hangProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if !p.hung.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// A region that hangs, its gateway neither answering nor resetting the link,
// is found out by the link's pings: the link goes down within PingInterval
// and PongTimeout (LocateTimeout by default), after which a device that was cached there is answered
// offline at once (so that a sender stores it), and while the link is dialled
// again only the dialling delivery waits, for DialTimeout at most.
func TestRegionsHungRegion(t *testing.T) {
	const (
		ping, pong = 50 * time.Millisecond, 200 * time.Millisecond
		dial       = 300 * time.Millisecond
	)
	var proxy *hangProxy
	rs := mustRegions(t, []string{"eu", "us"}, func(c *RegionsConfig) {
		if c.Region != "eu" {
			return
		}
		u, err := url.Parse(c.Peers["us"])
		if err != nil {
			t.Fatal(err)
		}
		proxy = startHangProxy(t, u.Host)
		c.Peers["us"] = "http://" + proxy.addr
		// The pong's timeout is the locate's, by default.
		c.PingInterval, c.LocateTimeout, c.DialTimeout = ping, pong, dial
		c.MinBackoff, c.MaxBackoff = 100*time.Millisecond, 100*time.Millisecond
		c.MissTTL = time.Nanosecond // every delivery asks again
	})
	eu, us := rs["eu"], rs["us"]
	tv := us.mustDial(t, "a1", "tv1")
	if r := deliverWithin(eu.router, "a1", "tv1", echo("m1"), nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("before the hang: %+v", r)
	}
	tv.readMsg()

	proxy.hang()
	hung := time.Now()
	eventually(t, "the link to us to go down", func() bool {
		st := eu.regions.Stats()
		return len(st) == 1 && !st[0].Up && errors.Is(st[0].Err, ErrLinkNoPong)
	})
	if d := time.Since(hung); d > ping+pong+time.Second {
		t.Errorf("the link went down %v after the hang", d)
	}
	// From now on, deliveries, concurrent ones among them, end within the
	// dial's bound at most, offline: the region is taken as not holding the
	// device. Most do not wait at all. A delivery that waits for a dial (or
	// for a locate, pong's 200 ms) takes at least half the pong; one that
	// does not takes well under a millisecond, and a loaded host would have
	// to hold it up a hundred times that to count it as waiting. The upper
	// bound is the dial's with seconds of slack: a delivery that waited on
	// the hung link itself would take its whole timeout.
	var wg sync.WaitGroup
	var waited atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 25 * time.Millisecond)
			start := time.Now()
			r := deliverWithin(eu.router, "a1", "tv1", echo(protocol.NewID()), nil)
			took := time.Since(start)
			if r.Status != protocol.StatusOffline || took > dial+2*time.Second {
				t.Errorf("delivery %d after the link went down: %+v after %v", i, r, took)
			}
			if took >= pong/2 {
				waited.Add(1)
			}
		})
	}
	wg.Wait()
	if n := waited.Load(); n > 5 {
		t.Errorf("%d of 20 deliveries waited for the dial", n)
	}
}
