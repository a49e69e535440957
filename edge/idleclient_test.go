package edge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// The client processes of TestIdleMemory: the test binary re-run as
// TestIdleClient, so that the connections' other ends cost the measured server
// nothing and each process stays under the open-files limit.

// idleClientEnv carries an idleClientSpec to the client processes that
// TestIdleMemory starts from its own binary.
const idleClientEnv = "HERALD_IDLE_CLIENT"

// idleClientSpec tells one client process what to open.
type idleClientSpec struct {
	URL     string `json:"url"`
	First   int    `json:"first"` // device numbers First..First+N-1
	N       int    `json:"n"`
	Dialers int    `json:"dialers"`
	Edge    bool   `json:"edge"`  // send a device token and read the welcome
	Local   string `json:"local"` // source address
}

// idleClientReport is the one line a client process prints once it holds its
// connections.
type idleClientReport struct {
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"` // from the first dial to the last welcome
	CPU       float64 `json:"cpu"`     // CPU seconds the process used until then
	Err       string  `json:"err,omitempty"`
}

const idleReportPrefix = "idle-client: "

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT, which package syscall
// does not name.
const ipBindAddressNoPort = 24

// idleClient is one client process.
type idleClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startIdleClients starts the client processes, n connections in all, and
// returns once every one of them reported.
func startIdleClients(t *testing.T, url string, n int, edge bool) ([]*idleClient, []idleClientReport) {
	t.Helper()
	per := max(1, *idlePerProc)
	var clients []*idleClient
	var outs []*bufio.Reader
	for i, first := 0, 0; first < n; i, first = i+1, first+per {
		spec := idleClientSpec{URL: url, First: first, N: min(per, n-first), Dialers: *idleDialers, Edge: edge, Local: fmt.Sprintf("127.0.0.%d", 2+i)}
		b, _ := json.Marshal(spec)
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClient$", "-test.count=1")
		cmd.Env = append(os.Environ(), idleClientEnv+"="+string(b), "GOMAXPROCS=", "GOGC=")
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
		c := &idleClient{cmd: cmd, stdin: stdin}
		clients = append(clients, c)
		t.Cleanup(func() {
			_ = c.stdin.Close()
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		})
		outs = append(outs, bufio.NewReader(stdout))
	}
	reports := make([]idleClientReport, len(clients))
	for i, out := range outs {
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if js, ok := strings.CutPrefix(line, idleReportPrefix); ok {
				if err := json.Unmarshal([]byte(js), &reports[i]); err != nil {
					t.Fatal(err)
				}
				go func() { _, _ = io.Copy(io.Discard, out) }()
				break
			}
		}
	}
	return clients, reports
}

// TestIdleClient is the client process of TestIdleMemory; it is skipped unless
// started by it. It opens its connections, keeps reading them (which answers
// pings), reports, and exits when its stdin closes.
func TestIdleClient(t *testing.T) {
	js := os.Getenv(idleClientEnv)
	if js == "" {
		t.Skip("the client process of TestIdleMemory")
	}
	var spec idleClientSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatal(err)
	}
	report := func(r idleClientReport) {
		b, _ := json.Marshal(r)
		fmt.Println(idleReportPrefix + string(b))
	}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, spec.N)
	if spec.Edge {
		for i := range tokens {
			if tokens[i], err = iss.Issue("acct-"+strconv.Itoa(spec.First+i), "dev", 24*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	dialer := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(spec.Local)},
		// IP_BIND_ADDRESS_NO_PORT: pick the source port at connect, per
		// destination, so ports in TIME_WAIT from an earlier run can be reused.
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1) }); err != nil {
				return err
			}
			return serr
		},
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	var (
		next     atomic.Int64
		failed   atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range spec.Dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= spec.N {
					return
				}
				if err := idleDial(hc, spec, tokens[i]); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	r := idleClientReport{Connected: spec.N - int(failed.Load()), Failed: int(failed.Load()), Seconds: time.Since(start).Seconds(), CPU: cpuTime(t).Seconds()}
	if firstErr != nil {
		r.Err = firstErr.Error()
	}
	report(r)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0) // the connections end with the process
}

// idleDial opens one connection, reads the welcome from an edge, and leaves a
// goroutine reading it.
func idleDial(hc *http.Client, spec idleClientSpec, tok string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPClient: hc}
	if spec.Edge {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + tok}}
		opts.Subprotocols = []string{protocol.Subprotocol}
	}
	c, _, err := websocket.Dial(ctx, spec.URL, opts)
	if err != nil {
		return err
	}
	if spec.Edge {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if f, err := protocol.Decode(data); err != nil {
			return err
		} else if _, ok := f.(*protocol.Welcome); !ok {
			return fmt.Errorf("first frame is a %s", f.Kind())
		}
	}
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return nil
}
