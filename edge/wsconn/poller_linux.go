//go:build linux

package wsconn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Poller watches the parked connections of an edge: those whose reader went away
// between two messages (see Conn.Read). An idle connection then has no
// goroutine, and so no goroutine stack: it costs only its heap objects. The
// poller is one epoll set, waited on by one goroutine through Go's own network
// poller (the epoll descriptor is itself pollable), so waiting takes no thread.
//
// Each parked connection is armed once (EPOLLONESHOT): its first readable event
// disarms it and goes to Conn.polled, which takes pongs out of the stream and
// parks the connection again, or starts a reader for anything else.
type Poller struct {
	fd  int
	f   *os.File // fd, registered with Go's network poller
	raw syscall.RawConn

	mu    sync.Mutex
	conns []*Conn  // guarded by mu: by slot; nil when free
	gens  []uint32 // guarded by mu: each slot's generation, bumped when it is freed
	free  []int32  // guarded by mu: free slots

	// fdMu is held (shared) while fd is used and (exclusive) to close it, so that
	// an arm never reaches a descriptor number reused by another epoll set.
	fdMu   sync.RWMutex
	closed bool // guarded by fdMu

	// Owned by the run goroutine.
	events [128]syscall.EpollEvent
	n      int
	wait   func(fd uintptr) bool
}

// NewPoller returns a Poller with its epoll set; Run waits on it, Close ends it.
func NewPoller() (*Poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("wsconn: poller: %w", os.NewSyscallError("epoll_create1", err))
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("wsconn: poller: %w", os.NewSyscallError("setnonblock", err))
	}
	p := &Poller{fd: fd, f: os.NewFile(uintptr(fd), "edge-poller")}
	if p.raw, err = p.f.SyscallConn(); err != nil {
		_ = p.f.Close()
		return nil, fmt.Errorf("wsconn: poller: %w", err)
	}
	p.wait = p.collect
	return p, nil
}

// Add gives c a slot, so that c can park; c's owner must be set. Its events
// name the slot and the slot's generation, so that an event that was on its way
// when c left never reaches another connection.
func (p *Poller) Add(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
		p.conns[slot] = c
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, c)
		p.gens = append(p.gens, 0)
	}
	c.slot, c.gen = slot, p.gens[slot]
	c.poll = p
	c.armFn = c.armFD // one closure per connection, not one per arming
}

// remove frees c's slot. The kernel forgets c's registration when its socket is
// closed.
func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.slot < 0 || p.conns[c.slot] != c {
		return
	}
	p.conns[c.slot] = nil
	p.gens[c.slot]++
	p.free = append(p.free, c.slot)
	c.slot = -1
}

// arm registers c's socket for its next readable event, once. The caller holds
// c.pmu.
func (p *Poller) arm(c *Conn) error {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.closed {
		return errPollerClosed
	}
	c.armErr = nil
	if err := c.raw.Control(c.armFn); err != nil {
		return err
	}
	return c.armErr
}

var errPollerClosed = errors.New("wsconn: poller closed")

// armFD is the syscall.RawConn control function of arm; Conn keeps it as a
// method value so that arming allocates nothing.
func (c *Conn) armFD(fd uintptr) {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: c.slot, Pad: int32(c.gen)}
	op := syscall.EPOLL_CTL_MOD
	if !c.armed {
		op = syscall.EPOLL_CTL_ADD
	}
	if err := syscall.EpollCtl(c.poll.fd, op, int(fd), &ev); err != nil {
		c.armErr = os.NewSyscallError("epoll_ctl", err)
		return
	}
	c.armed = true
}

// Run hands the events to their connections until Close. One goroutine
// runs it; its owner starts it after NewPoller and waits for it after Close.
func (p *Poller) Run() {
	for {
		if err := p.raw.Read(p.wait); err != nil {
			return // closed
		}
		for _, ev := range p.events[:p.n] {
			if c := p.lookup(ev.Fd, uint32(ev.Pad)); c != nil {
				c.polled()
			}
		}
		clear(p.events[:p.n])
	}
}

// collect is the syscall.RawConn read function of run: it takes the events ready
// now, or asks to wait for the epoll descriptor.
func (p *Poller) collect(fd uintptr) bool {
	for {
		n, err := syscall.EpollWait(int(fd), p.events[:], 0)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil || n <= 0:
			return false
		}
		p.n = n
		return true
	}
}

func (p *Poller) lookup(slot int32, gen uint32) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 0 || int(slot) >= len(p.conns) || p.gens[slot] != gen {
		return nil
	}
	return p.conns[slot]
}

// Close stops Run; connections can no longer park.
func (p *Poller) Close() {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if !p.closed {
		p.closed = true
		_ = p.f.Close()
	}
}

// UnparkAll takes every parked connection back from the poller, for a reader, and
// returns them.
func (p *Poller) UnparkAll() []*Conn {
	p.mu.Lock()
	all := make([]*Conn, 0, len(p.conns)-len(p.free))
	for _, c := range p.conns {
		if c != nil {
			all = append(all, c)
		}
	}
	p.mu.Unlock()
	parked := all[:0]
	for _, c := range all {
		c.pmu.Lock()
		if c.parked {
			c.parked, c.reader = false, true
			parked = append(parked, c)
		}
		c.pmu.Unlock()
	}
	return parked
}
