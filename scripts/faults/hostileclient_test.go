package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// The hostile devices of TestFaultHostileDevices run in a process of their own:
// the test binary re-run as TestHostileClient. In the test's process their
// writers, always runnable, would take turns on the same Go scheduler with the
// honest devices' readers and delay the very receipts the scenario times; a
// process of its own competes with the edge and the honest devices for the CPU
// as a hostile client on the same machine would, through the kernel's scheduler.

// hostileClientEnv carries a hostileClientSpec to the process.
const hostileClientEnv = "HERALD_FAULTS_HOSTILE"

// hostileClientSpec tells the process whom to attack.
type hostileClientSpec struct {
	Addr string `json:"addr"` // the edge's public address
	N    int    `json:"n"`    // connections, each a device of its own
}

// hostileReport is a line the process prints: once when the edge has pushed
// each of its devices off once, closing its connection or refusing its connect
// (Ready), and once more with the totals after its stdin closed.
type hostileReport struct {
	Ready      bool        `json:"ready"`
	Connects   int64       `json:"connects"`
	Frames     int64       `json:"frames"`       // written, all of them hostile
	ErrFrames  int64       `json:"err_frames"`   // error frames the edge sent back
	DialFailed int64       `json:"dial_failed"`  // connects that failed, other than Refused
	Refused    int64       `json:"refused"`      // connects refused with 429 (the device's policy backoff)
	Stuck      int64       `json:"stuck"`        // connections that neither ended nor took a frame within bound
	Closes     map[int]int `json:"closes"`       // connections the edge ended, by close code
	CPU        float64     `json:"cpu_seconds"`  // the process's CPU time
	Seconds    float64     `json:"wall_seconds"` // from the first connect to the end of the attack
}

const hostileReportPrefix = "hostile-client: "

// add adds the totals of o to r.
func (r *hostileReport) add(o hostileReport) {
	r.Connects += o.Connects
	r.Frames += o.Frames
	r.ErrFrames += o.ErrFrames
	r.DialFailed += o.DialFailed
	r.Refused += o.Refused
	r.Stuck += o.Stuck
	r.CPU += o.CPU
	r.Seconds += o.Seconds
	if r.Closes == nil {
		r.Closes = map[int]int{}
	}
	for code, n := range o.Closes {
		r.Closes[code] += n
	}
}

// selfCPU is the process's CPU time so far, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// hostileClient is the running process.
type hostileClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHostileClient starts n hostile devices against the edge at addr and
// returns once the edge has closed each of their connections once.
func startHostileClient(t *testing.T, addr string, n int) *hostileClient {
	t.Helper()
	b, _ := json.Marshal(hostileClientSpec{Addr: addr, N: n})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), hostileClientEnv+"="+string(b), binEnv+"="+heraldBin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostileClient{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = h.stdin.Close()
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		r, err := h.report()
		if err == nil && !r.Ready {
			err = fmt.Errorf("first report %+v is not the ready one", r)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("hostile client: %v", err)
		}
	case <-time.After(bound):
		t.Fatalf("the edge did not close every hostile connection within %v", bound)
	}
	return h
}

// report reads the process's next report.
func (h *hostileClient) report() (hostileReport, error) {
	for {
		line, err := h.out.ReadString('\n')
		if err != nil {
			return hostileReport{}, err
		}
		if js, ok := strings.CutPrefix(line, hostileReportPrefix); ok {
			var r hostileReport
			return r, json.Unmarshal([]byte(js), &r)
		}
	}
}

// stop ends the attack and returns its totals.
func (h *hostileClient) stop(t *testing.T) hostileReport {
	t.Helper()
	_ = h.stdin.Close()
	r, err := h.report()
	if err != nil {
		t.Fatalf("hostile client: %v", err)
	}
	_, _ = io.Copy(io.Discard, h.out)
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("hostile client: %v", err)
	}
	return r
}

// TestHostileClient is the hostile-device process of TestFaultHostileDevices;
// it is skipped unless started by it. It floods the edge until its stdin closes.
func TestHostileClient(t *testing.T) {
	js := os.Getenv(hostileClientEnv)
	if js == "" {
		t.Skip("the hostile devices of TestFaultHostileDevices")
	}
	var spec hostileClientSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatal(err)
	}
	a := &attack{addr: spec.Addr, stopc: make(chan struct{}), closes: map[int]int{}}
	start := time.Now()
	for i := range spec.N {
		tok := deviceToken(t, fmt.Sprint("hostile", i), "h")
		a.wg.Go(func() { a.flood(tok, uint64(i)) })
	}
	say := func(r hostileReport) {
		b, _ := json.Marshal(r)
		fmt.Println(hostileReportPrefix + string(b))
	}
	deadline := time.Now().Add(bound)
	for a.repelled.Load() < int64(spec.N) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	say(hostileReport{Ready: a.repelled.Load() >= int64(spec.N)})
	_, _ = io.Copy(io.Discard, os.Stdin)
	close(a.stopc)
	a.wg.Wait()
	say(hostileReport{Connects: a.connects.Load(), Frames: a.frames.Load(), ErrFrames: a.errFrames.Load(),
		DialFailed: a.dialFailed.Load(), Refused: a.refused.Load(), Stuck: a.stuck.Load(), Closes: a.closeCodes(), CPU: selfCPU(),
		Seconds: time.Since(start).Seconds()})
}

// attack is the hostile devices of one process.
type attack struct {
	addr  string
	stopc chan struct{}
	wg    sync.WaitGroup

	connects, frames, errFrames, dialFailed, refused, stuck atomic.Int64
	repelled                                                atomic.Int64 // devices the edge closed or refused at least once

	mu     sync.Mutex
	closes map[int]int // guarded by mu: how many connections the edge ended, by close code
}

func (a *attack) stopped() bool {
	select {
	case <-a.stopc:
		return true
	default:
		return false
	}
}

// closeCodes returns the close codes of the connections the edge ended.
func (a *attack) closeCodes() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.closes)
}

// flood connects, writes hostile frames as fast as it can until the edge ends
// the connection, and connects again, until the attack stops. It ignores
// Retry-After: a connect refused with 429 (the device's policy backoff) is
// tried again hostileRetry later.
func (a *attack) flood(tok string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 14))
	repelled := false
	repel := func() {
		if !repelled {
			repelled = true
			a.repelled.Add(1)
		}
	}
	for !a.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		conn, status, err := dialWS(ctx, a.addr, tok)
		cancel()
		if err != nil {
			if status == http.StatusTooManyRequests {
				a.refused.Add(1)
				repel()
			} else {
				a.dialFailed.Add(1)
				fmt.Fprintf(os.Stderr, "hostile connect: %v\n", err)
			}
			time.Sleep(hostileRetry)
			continue
		}
		a.connects.Add(1)
		ended := make(chan websocket.StatusCode, 1)
		go func() {
			for {
				_, data, err := conn.Read(context.Background())
				if err != nil {
					ended <- websocket.CloseStatus(err)
					return
				}
				if f, _ := protocol.Decode(data); f != nil && f.Kind() == protocol.KindError {
					a.errFrames.Add(1)
				}
			}
		}()
		for n := 0; !a.stopped(); n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := conn.Write(ctx, websocket.MessageText, hostileFrame(rng, n))
			cancel()
			if err != nil {
				break
			}
			a.frames.Add(1)
		}
		if a.stopped() {
			_ = conn.CloseNow()
			<-ended
			return
		}
		var code websocket.StatusCode
		select {
		case code = <-ended:
		case <-time.After(bound):
			a.stuck.Add(1)
			_ = conn.CloseNow()
			code = <-ended
		}
		a.mu.Lock()
		a.closes[int(code)]++
		a.mu.Unlock()
		repel()
	}
}

// hostileRetry is how long a hostile device waits before it connects again
// after a failed or refused connect.
const hostileRetry = 100 * time.Millisecond

// hostileFrame is the nth frame of a flood: a hello with metadata, an ack of a
// random id, a frame of an unknown kind, a message whose id has characters the
// id rule refuses, a message whose id is too long, and one to a target whose id
// the id rule refuses.
func hostileFrame(rng *rand.Rand, n int) []byte {
	const msg = `{"t":"msg","id":%s,"type":"playback.control.v1","to":{"device":%s},"payload":{"action":"pause"}}`
	switch n % 6 {
	case 0:
		return fmt.Appendf(nil, `{"t":"hello","device":{"platform":"android","name":"hostile %d","app_version":"6.6.%d","capabilities":["a","b"]},"presence":true}`, n, n)
	case 1:
		return fmt.Appendf(nil, `{"t":"ack","id":"%016x"}`, rng.Uint64())
	case 2:
		return fmt.Appendf(nil, `{"t":"k%d","id":"x"}`, rng.IntN(1000))
	case 3:
		return fmt.Appendf(nil, msg, jsonString(fmt.Sprintf("bad id <%d>\x7f", n)), `"tv"`)
	case 4:
		return fmt.Appendf(nil, msg, jsonString(strings.Repeat("x", 129+rng.IntN(200))), `"tv"`)
	default:
		return fmt.Appendf(nil, msg, jsonString(fmt.Sprint("m", n)), jsonString("../tv\n"))
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}
