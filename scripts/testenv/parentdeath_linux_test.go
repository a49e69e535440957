package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// parentDeathEnv makes the test binary the parent of TestDieWithParent: it
// starts a sleep with DieWithParent, prints its pid and exits.
const parentDeathEnv = "HERALD_TESTENV_PARENT_DEATH"

// TestDieWithParent checks that a process started with DieWithParent ends
// when the process that started it exits without stopping it, as a test
// binary stopped by its -timeout does.
func TestDieWithParent(t *testing.T) {
	if os.Getenv(parentDeathEnv) != "" {
		child := exec.Command("sleep", "60")
		DieWithParent(child)
		if err := child.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(child.Process.Pid)
		os.Exit(0) // without waiting for it or killing it
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestDieWithParent$", "-test.count=1")
	parent.Env = append(os.Environ(), parentDeathEnv+"=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("the parent printed no pid")
	}
	pid, err := strconv.Atoi(sc.Text())
	if err != nil {
		t.Fatalf("the parent printed %q", sc.Text())
	}
	_ = parent.Wait()
	// The child is not ours: it is reparented, and once killed it is a
	// zombie until whatever adopted it reaps it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the child %d still runs 10 s after its parent exited (kill: %v)", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombie reports whether process pid has ended and awaits its reaping.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command's name in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}
