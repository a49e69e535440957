//go:build !linux

package testenv

import "os/exec"

// DieWithParent does nothing where the kernel has no parent-death signal: a
// test binary stopped by its -timeout may leave cmd's process behind.
func DieWithParent(cmd *exec.Cmd) {}
