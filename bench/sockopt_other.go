//go:build !linux

package bench

import "syscall"

// bindNoPort does nothing outside Linux: the port is picked at bind.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
