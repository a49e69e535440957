//go:build !unix

package wsconn

import (
	"net"
	"syscall"
)

// rawConn returns nil: Conn reads and writes through net.Conn alone here, and
// keepalive pings wait on goroutines.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *Conn) readPooled(uintptr) bool { return true }
func (c *Conn) writeOut(uintptr) bool   { return true }
