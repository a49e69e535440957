//go:build linux

package edge

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// poller watches the parked connections of an edge: those whose reader went away
// between two messages (see wsConn.Read). An idle connection then has no
// goroutine, and so no goroutine stack: it costs only its heap objects. The
// poller is one epoll set, waited on by one goroutine through Go's own network
// poller (the epoll descriptor is itself pollable), so waiting takes no thread.
//
// Each parked connection is armed once (EPOLLONESHOT): its first readable event
// disarms it and goes to wsConn.polled, which takes pongs out of the stream and
// parks the connection again, or starts a reader for anything else.
type poller struct {
	fd  int
	f   *os.File // fd, registered with Go's network poller
	raw syscall.RawConn

	mu    sync.Mutex
	conns []*wsConn // guarded by mu: by slot; nil when free
	gens  []uint32  // guarded by mu: each slot's generation, bumped when it is freed
	free  []int32   // guarded by mu: free slots

	// fdMu is held (shared) while fd is used and (exclusive) to close it, so that
	// an arm never reaches a descriptor number reused by another epoll set.
	fdMu   sync.RWMutex
	closed bool // guarded by fdMu

	// Owned by the run goroutine.
	events [128]syscall.EpollEvent
	n      int
	wait   func(fd uintptr) bool
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("edge: poller: %w", os.NewSyscallError("epoll_create1", err))
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("edge: poller: %w", os.NewSyscallError("setnonblock", err))
	}
	p := &poller{fd: fd, f: os.NewFile(uintptr(fd), "edge-poller")}
	if p.raw, err = p.f.SyscallConn(); err != nil {
		_ = p.f.Close()
		return nil, fmt.Errorf("edge: poller: %w", err)
	}
	p.wait = p.collect
	return p, nil
}

// add gives c a slot. Its events name the slot and the slot's generation, so
// that an event that was on its way when c left never reaches another connection.
func (p *poller) add(c *wsConn) {
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
func (p *poller) remove(c *wsConn) {
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
func (p *poller) arm(c *wsConn) error {
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

var errPollerClosed = errors.New("edge: poller closed")

// armFD is the syscall.RawConn control function of arm; wsConn keeps it as a
// method value so that arming allocates nothing.
func (c *wsConn) armFD(fd uintptr) {
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

// run hands the events to their connections until close.
func (p *poller) run() {
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
func (p *poller) collect(fd uintptr) bool {
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

func (p *poller) lookup(slot int32, gen uint32) *wsConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 0 || int(slot) >= len(p.conns) || p.gens[slot] != gen {
		return nil
	}
	return p.conns[slot]
}

// close stops run; connections can no longer park.
func (p *poller) close() {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if !p.closed {
		p.closed = true
		_ = p.f.Close()
	}
}

// unparkAll takes every parked connection back from the poller, for a reader, and
// returns them.
func (p *poller) unparkAll() []*wsConn {
	p.mu.Lock()
	all := make([]*wsConn, 0, len(p.conns)-len(p.free))
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
