//go:build !linux

package main

import "syscall"

// bindNoPort does nothing outside Linux: the port is picked at bind.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
