//go:build unix

package wsconn

import (
	"net"
	"syscall"
)

// rawConn returns nc's syscall.RawConn, or nil.
func rawConn(nc net.Conn) syscall.RawConn {
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			return raw
		}
	}
	return nil
}

// readPooled is the syscall.RawConn read function of fill: it reads into a pooled
// buffer or, when there is nothing to read, gives the buffer back and asks to
// wait (rwait) or stops.
func (c *Conn) readPooled(fd uintptr) bool {
	if c.rpool == nil {
		c.rpool = wsReadBufs.Get().(*[wsReadBuf]byte)
	}
	for {
		c.rn, c.rerr = syscall.Read(int(fd), c.rpool[:])
		if c.rerr != syscall.EINTR {
			break
		}
	}
	if c.rerr == syscall.EAGAIN {
		wsReadBufs.Put(c.rpool)
		c.rpool = nil
		return !c.rwait
	}
	return true
}

// writeOut is the syscall.RawConn write function of Ping and TryWriteText: one
// attempt at c.wout, no wait.
func (c *Conn) writeOut(fd uintptr) bool {
	for {
		c.wn, c.werr = syscall.Write(int(fd), c.wout)
		if c.werr != syscall.EINTR {
			return true
		}
	}
}
