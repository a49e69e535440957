package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// heraldStartBound bounds how long a herald process may take to listen, and how
// long a stopped one may take to exit before it is killed.
const heraldStartBound = 30 * time.Second

// BuildHerald builds the herald binary (./cmd/herald of the module that holds
// the working directory) into dir and returns its path. Call it once per test
// binary, from TestMain, so that every process of the tests runs the same build.
func BuildHerald(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "herald")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/herald")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/herald: %w\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr returns a loopback address whose port was free a moment ago, for a
// listener that must be known before its process starts. The port is below
// Linux's ephemeral range (32768 and up by default), from which a port of
// 127.0.0.1:0 would come: there the outgoing connections of every process on
// the machine take ports too, and one took such a port before its listener
// bound it. Below it only listeners take ports.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	for range 100 {
		port := freeAddrLow + rand.IntN(freeAddrHigh-freeAddrLow)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			addr := ln.Addr().String()
			_ = ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreeAddr's ports: below the ephemeral range.
const (
	freeAddrLow  = 20000
	freeAddrHigh = 32768
)

// Herald is a herald process started by a test: `herald serve` or `herald dev`
// on loopback, logging JSON to a buffer the test can print.
type Herald struct {
	// Name names the process in failures and logs.
	Name string
	// Addr is the public listener (devices and REST).
	Addr string
	// Admin is the admin listener (/metrics, /healthz).
	Admin string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its log is read

	logMu sync.Mutex
	log   bytes.Buffer // guarded by logMu
}

// StartHerald runs `bin command args...` with its public and admin listeners on
// free loopback ports and JSON logs, and waits until it listens. The process is
// stopped with SIGTERM in tb.Cleanup (and its log printed if the test failed).
func StartHerald(tb testing.TB, bin, name, command string, args ...string) *Herald {
	tb.Helper()
	h := &Herald{Name: name, done: make(chan struct{})}
	h.cmd = exec.Command(bin, append([]string{command, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	DieWithParent(h.cmd)
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	addrc := make(chan [2]string, 1)
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			h.logMu.Lock()
			h.log.Write(line)
			h.log.WriteByte('\n')
			h.logMu.Unlock()
			var rec struct {
				Msg   string `json:"msg"`
				Addr  string `json:"addr"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "herald listening" {
				select {
				case addrc <- [2]string{rec.Addr, rec.Admin}:
				default:
				}
			}
		}
		// After an overlong line the scanner stops: drain the rest so that the
		// process never blocks writing its log.
		_, _ = io.Copy(io.Discard, stderr)
		_ = h.cmd.Wait()
	}()
	tb.Cleanup(func() {
		h.Stop(syscall.SIGTERM)
		if tb.Failed() {
			tb.Logf("%s log:\n%s", name, h.Logs())
		}
	})
	select {
	case a := <-addrc:
		h.Addr, h.Admin = a[0], a[1]
	case <-h.done:
		tb.Fatalf("%s exited before listening:\n%s", name, h.Logs())
	case <-time.After(heraldStartBound):
		tb.Fatalf("%s is not listening after %v:\n%s", name, heraldStartBound, h.Logs())
	}
	return h
}

// Pid is the process id.
func (h *Herald) Pid() int { return h.cmd.Process.Pid }

// Logs returns what the process has logged so far.
func (h *Herald) Logs() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.log.String()
}

// Exited reports whether the process has exited.
func (h *Herald) Exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process without waiting for it to exit.
func (h *Herald) Signal(sig syscall.Signal) error { return h.cmd.Process.Signal(sig) }

// Wait waits up to bound for the process to exit by itself and returns its exit
// code; ok is false if it is still running.
func (h *Herald) Wait(bound time.Duration) (code int, ok bool) {
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode(), true
	case <-time.After(bound):
		return -1, false
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits until it has
// exited.
func (h *Herald) Kill() { h.Stop(syscall.SIGKILL) }

// Stop sends sig and waits for the process to exit, killing it if it has not
// exited within a generous bound.
func (h *Herald) Stop(sig syscall.Signal) {
	if h.Exited() {
		return
	}
	_ = h.cmd.Process.Signal(sig)
	select {
	case <-h.done:
	case <-time.After(heraldStartBound):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

// RSS returns the process's resident memory in bytes, read from /proc (Linux
// only; 0 elsewhere or once the process has exited).
func (h *Herald) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.Pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
