package testenv

import (
	"os/exec"
	"syscall"
)

// DieWithParent has cmd's process killed when the process that starts it
// ends, so that a test binary stopped by its -timeout (or killed) leaves no
// server behind; call it before cmd.Start. The signal is tied to the thread
// that starts cmd, which Go ends only with a goroutine locked to it.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
