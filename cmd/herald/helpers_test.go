package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// waitBound bounds every wait of these tests. It is a failure bound only: nothing
// asserts that anything happens faster than this.
const waitBound = 30 * time.Second

// syncBuffer is a bytes.Buffer that a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds, failing the test after waitBound.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s after %v", what, waitBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// frames decodes every line of out that is a frame.
func frames(out string) []protocol.Frame {
	var fs []protocol.Frame
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f, err := protocol.Decode(sc.Bytes()); err == nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// mustFrame waits until a line of out decodes to a frame that match accepts, and
// returns it.
func mustFrame(tb testing.TB, out *syncBuffer, what string, match func(protocol.Frame) bool) protocol.Frame {
	tb.Helper()
	var found protocol.Frame
	waitFor(tb, what, func() bool {
		for _, f := range frames(out.String()) {
			if match(f) {
				found = f
				return true
			}
		}
		return false
	})
	return found
}

// devServer is `herald dev` running in the test's process.
type devServer struct {
	node   *node
	addr   string // host:port
	base   string // http://host:port
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// mustDev starts `herald dev` with args on a free port of 127.0.0.1, configured as
// runDev configures it, and stops it when the test ends.
func mustDev(tb testing.TB, args ...string) *devServer {
	tb.Helper()
	stderr := &syncBuffer{}
	c, err := devConfig(append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "debug"}, args...), stderr)
	if err != nil {
		tb.Fatalf("devConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &devServer{stderr: stderr, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan *node, 1)
	go func() {
		d.done <- serve(ctx, c, &syncBuffer{}, stderr, func(n *node) { ready <- n })
	}()
	select {
	case d.node = <-ready:
	case err := <-d.done:
		cancel()
		tb.Fatalf("serve returned before listening: %v\n%s", err, stderr)
	case <-time.After(waitBound):
		cancel()
		tb.Fatalf("serve is not listening after %v\n%s", waitBound, stderr)
	}
	d.addr = d.node.addr("public")
	d.base = "http://" + d.addr
	tb.Cleanup(func() {
		if err := d.stop(); err != nil {
			tb.Errorf("serve: %v", err)
		}
		// The REST calls of `herald send` leave keep-alive connections behind.
		http.DefaultClient.CloseIdleConnections()
		if tb.Failed() {
			tb.Logf("server log:\n%s", stderr)
		}
	})
	return d
}

// stop cancels the server's context and returns what serve returned.
func (d *devServer) stop() error {
	d.once.Do(func() {
		d.cancel()
		select {
		case d.err = <-d.done:
		case <-time.After(waitBound):
			d.err = errors.New("serve did not return after its context was cancelled")
		}
	})
	return d.err
}

// result is the outcome of one run.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command line args and returns its exit code and output.
func runCmd(tb testing.TB, ctx context.Context, args ...string) result {
	tb.Helper()
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
