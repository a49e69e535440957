//go:build !unix

package edge

import (
	"net"
	"syscall"
)

// rawConn returns nil: wsConn reads and writes through net.Conn alone here, and
// keepalive pings wait on goroutines.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *wsConn) readPooled(uintptr) bool { return true }
func (c *wsConn) writeOut(uintptr) bool   { return true }
