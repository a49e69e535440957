package faults

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestFaultHostileDevices floods one edge from hostile devices while honest
// devices get sync pushes at a steady rate (docs/security.md, "Hostile
// devices"). The hostile devices (20 connections in the full run, each a device
// of its own with a valid token, in a process of their own) send, in a loop and
// as fast as they can, hellos with metadata, acks of random ids, frames of an
// unknown kind and messages with bad ids, and connect again each time the edge
// closes them; a connect refused with 429 (the device's policy backoff after a
// 1008) is tried again 100 ms later, whatever its Retry-After says.
//
// Three kinds of phase measure the honest devices' delivery latency (push sent
// to message received) and connect time (dial to welcome, for devices that
// connect again and again): the baseline, without the attack; the decoy, the
// same attack aimed at a second edge on the same machine, which takes the CPU an
// attack takes without touching the honest devices' edge; and the attack on the
// honest devices' edge. The phases take turns, several rounds of each in the
// full run, so that other load on the machine falls on each kind alike. The
// edge's goroutines and resident memory (from its /metrics) are sampled
// throughout; its CPU time, and how long its threads waited for a CPU, are
// taken per phase, to tell what the attack costs the edge from what the machine
// could not give it.
//
// It asserts that every push is delivered or reported, that the edge closes the
// flooding connections with 1008 and no honest one, that goroutines and memory
// stay within generous bounds, and that the goroutines come back down after each
// attack. The latencies are reported, not asserted: on a shared machine a timed
// assertion would flake.
func TestFaultHostileDevices(t *testing.T) {
	honest := size(100, 1000)
	hostile := size(5, 20)
	rate := size(50, 200)                             // pushes a second
	rounds := size(1, 4)                              // of the three phases
	length := time.Duration(size(3, 5)) * time.Second // of each phase
	const probes, probeEvery, maxInflight = 20, 100 * time.Millisecond, 256
	c := newCluster(t)
	// The production budgets: the cluster's --msg-rate is raised for the other
	// scenarios' load, and the frame budget follows it.
	budgets := []string{"--msg-rate", fmt.Sprint(edge.DefaultMsgRate), "--msg-burst", fmt.Sprint(edge.DefaultMsgBurst)}
	e := c.edge("edge-1", "", "", budgets...)
	decoy := c.edge("decoy", "", "", budgets...)

	before := gauge(e, "go_goroutines")
	peers := make([]*peer, honest)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < honest; i = int(next.Add(1)) - 1 {
				peers[i] = newPeer(t, fmt.Sprint("honest", i), "tv")
				if err := peers[i].connect(e.Addr); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, "the honest devices on the edge", func() bool { return gauge(e, "herald_edge_connections") == float64(honest) })
	// The phases start from idle connections, parked without a reader each
	// (docs/design.md, "What an idle connection costs"), give or take a few.
	waitFor(t, "the honest connections to park", func() bool { return gauge(e, "go_goroutines") <= before+float64(10+honest/20) })

	s := startSampler(e)
	defer s.stop()
	l := &pushLoad{t: t, addr: e.Addr, peers: peers, rate: rate, length: length, maxInflight: maxInflight,
		probeEvery: probeEvery, expect: map[string]*peer{}, statuses: map[string]int{}}
	for i := range probes {
		l.probeToks = append(l.probeToks, deviceToken(t, fmt.Sprint("probe", i), "phone"))
	}
	base, decoyed, attacked := &phaseResult{name: "baseline"}, &phaseResult{name: "decoy"}, &phaseResult{name: "attack"}
	var dr, ar hostileReport
	var recovery time.Duration
	for range rounds {
		l.phase(s, base)
		d := startHostileClient(t, decoy.Addr, hostile)
		l.phase(s, decoyed)
		dr.add(d.stop(t))
		a := startHostileClient(t, e.Addr, hostile)
		l.phase(s, attacked)
		stopped := time.Now()
		ar.add(a.stop(t))
		s.setPhase("after")
		// Nothing of the attack stays behind: once it ends, the edge's
		// goroutines come back to where they were without it. The pushes' idle
		// keep-alive connections (more of them after the slower pushes of the
		// attack) hold a goroutine each until the server's idle timeout: they go
		// first.
		httpClient.CloseIdleConnections()
		peak := s.peak("baseline").goroutines
		waitForMsg(t, func() string {
			return fmt.Sprintf("the goroutines (%v) back within the baseline's peak (%v)", gauge(e, "go_goroutines"), peak)
		}, func() bool { return gauge(e, "go_goroutines") <= peak })
		recovery = max(recovery, time.Since(stopped))
	}
	basePeak, decoyPeak, attackPeak := s.peak("baseline"), s.peak("decoy"), s.peak("attack")

	l.mu.Lock()
	defer l.mu.Unlock()
	lost := neverReceived(t, l.expect)
	dropped := 0
	for _, p := range peers {
		if !p.connected() {
			dropped++
		}
	}
	if dropped > 0 {
		t.Errorf("the edge closed %d honest devices", dropped)
	}
	for _, r := range []hostileReport{dr, ar} {
		if r.DialFailed != 0 || r.Stuck != 0 {
			t.Errorf("hostile devices: %d connects failed, %d connections neither ended nor took a frame", r.DialFailed, r.Stuck)
		}
		if r.Closes[int(websocket.StatusPolicyViolation)] == 0 {
			t.Errorf("no hostile connection was closed with 1008: %v", r.Closes)
		}
		for code, n := range r.Closes {
			if code != int(websocket.StatusPolicyViolation) {
				t.Errorf("%d hostile connections ended with %d, want 1008", n, code)
			}
		}
	}
	conns := honest + hostile + 1
	goroutineLimit := float64(2*conns + 4*maxInflight + 200)
	rssLimit := s.base.rss + float64(conns*64<<10+64<<20)
	for _, p := range []phasePeak{basePeak, decoyPeak, attackPeak} {
		if p.goroutines > goroutineLimit {
			t.Errorf("%v goroutines on the edge, more than the bound of %v", p.goroutines, goroutineLimit)
		}
		if p.rss > rssLimit {
			t.Errorf("edge RSS %d MiB, more than the bound of %d MiB", int64(p.rss)>>20, int64(rssLimit)>>20)
		}
	}

	sent := base.sent + decoyed.sent + attacked.sent
	f := &figures{Scenario: "hostile-devices", Sent: sent, Accepted: sent, Delivered: int64(len(l.expect) - len(lost)),
		Reported: sent - int64(len(l.expect)), Lost: int64(len(lost)) + l.hung.Load(), Recovery: recovery}
	f.add("honest", honest)
	f.add("hostile", hostile)
	f.add("push_rate", rate)
	f.add("rounds", rounds)
	f.add("phase_seconds", length.Seconds())
	for _, ph := range []*phaseResult{base, decoyed, attacked} {
		f.add(ph.name+"_latency_p50", ms(pct(ph.latency, 0.50)))
		f.add(ph.name+"_latency_p99", ms(pct(ph.latency, 0.99)))
		f.add(ph.name+"_connect_p50", ms(pct(ph.connect, 0.50)))
		f.add(ph.name+"_connect_p99", ms(pct(ph.connect, 0.99)))
		f.add(ph.name+"_edge_cpu", fmt.Sprintf("%.2f", ph.edgeCPU/ph.wall.Seconds()))
		f.add(ph.name+"_edge_cpu_wait", fmt.Sprintf("%.2f", ph.runWait.Seconds()/ph.wall.Seconds()))
	}
	f.add("latency_p99_ratio", ratio(pct(attacked.latency, 0.99), pct(base.latency, 0.99)))
	f.add("connect_p99_ratio", ratio(pct(attacked.connect, 0.99), pct(base.connect, 0.99)))
	f.add("latency_p99_ratio_decoy", ratio(pct(attacked.latency, 0.99), pct(decoyed.latency, 0.99)))
	f.add("connect_p99_ratio_decoy", ratio(pct(attacked.connect, 0.99), pct(decoyed.connect, 0.99)))
	f.add("hostile_connects", ar.Connects)
	f.add("hostile_refused", ar.Refused)
	f.add("hostile_frames", ar.Frames)
	f.add("hostile_error_frames", ar.ErrFrames)
	f.add("hostile_closes", fmt.Sprint(ar.Closes))
	f.add("hostile_seconds", fmt.Sprintf("%.1f", ar.Seconds))
	f.add("hostile_cpu", fmt.Sprintf("%.2f", ar.CPU/ar.Seconds))
	f.add("decoy_hostile_connects", dr.Connects)
	f.add("decoy_hostile_refused", dr.Refused)
	f.add("goroutines_idle", s.base.goroutines)
	f.add("goroutines_baseline_peak", basePeak.goroutines)
	f.add("goroutines_attack_peak", attackPeak.goroutines)
	f.add("goroutines_bound", goroutineLimit)
	f.add("rss_idle_mib", int64(s.base.rss)>>20)
	f.add("rss_baseline_peak_mib", int64(basePeak.rss)>>20)
	f.add("rss_attack_peak_mib", int64(attackPeak.rss)>>20)
	f.add("rss_bound_mib", int64(rssLimit)>>20)
	f.add("statuses", fmt.Sprint(l.statuses))
	report(t, f)
}

// pushLoad makes sync pushes to the honest devices at a steady rate and measures
// how long they take to arrive, and how long honest devices take to connect.
type pushLoad struct {
	t           *testing.T
	addr        string
	peers       []*peer
	rate        int
	length      time.Duration
	maxInflight int
	probeEvery  time.Duration
	probeToks   []string // the tokens of the devices that connect again and again
	hung        atomic.Int64

	mu       sync.Mutex
	n        int              // guarded by mu: pushes made
	expect   map[string]*peer // guarded by mu: ids reported delivered -> their device
	statuses map[string]int   // guarded by mu: phase:status -> pushes
}

// phaseResult is what the phases of one kind measured.
type phaseResult struct {
	name    string
	sent    int64
	latency []time.Duration // of each push reported delivered
	connect []time.Duration // dial to welcome
	edgeCPU float64         // the edge's CPU seconds
	runWait time.Duration   // how long the edge's threads waited for a CPU
	wall    time.Duration
}

// runWait is how long the threads of process pid have waited on a run queue
// for a CPU, from /proc/PID/task/*/schedstat (Linux; 0 elsewhere). Threads that
// have exited are not counted: Go keeps its threads.
func runWait(pid int) time.Duration {
	dirs, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, d := range dirs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue
		}
		var run, wait int64
		if _, err := fmt.Sscan(string(b), &run, &wait); err == nil {
			sum += time.Duration(wait)
		}
	}
	return sum
}

// delivery is a push reported delivered: when it was sent and to whom.
type delivery struct {
	id string
	p  *peer
	at time.Time
}

// phase runs the load for l.length, waits for the deliveries it was told of, and
// adds what it measured to res.
func (l *pushLoad) phase(s *sampler, res *phaseResult) {
	l.t.Helper()
	s.setPhase(res.name)
	cpu, wait := gauge(s.h, "process_cpu_seconds_total"), runWait(s.h.Pid())
	var (
		mu   sync.Mutex
		sent []delivery // guarded by mu
		wg   sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(l.length)
	wg.Go(func() {
		for i := 0; time.Now().Before(end); i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			tok := l.probeToks[i%len(l.probeToks)]
			at := time.Now()
			conn, _, err := dialWS(ctx, l.addr, tok)
			took := time.Since(at)
			cancel()
			if err != nil {
				l.t.Errorf("honest connect under %s: %v", res.name, err)
			} else {
				_ = conn.CloseNow()
				res.connect = append(res.connect, took)
			}
			time.Sleep(l.probeEvery)
		}
	})
	// Open loop: push i is due at start + i/rate whatever the earlier ones take,
	// up to maxInflight at once.
	sem := make(chan struct{}, l.maxInflight)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(l.rate))
		if !due.Before(end) {
			break
		}
		time.Sleep(time.Until(due))
		sem <- struct{}{}
		l.mu.Lock()
		p := l.peers[l.n%len(l.peers)]
		l.n++
		l.mu.Unlock()
		res.sent++
		wg.Go(func() {
			defer func() { <-sem }()
			at := time.Now()
			r, id, err := push(l.addr, p.account, p.id, 2000, nil)
			if err != nil {
				l.hung.Add(1)
				l.t.Errorf("push under %s: %v", res.name, err)
				return
			}
			if !finalStatus(r.Status) {
				l.t.Errorf("push under %s: status %q is not final", res.name, r.Status)
			}
			l.mu.Lock()
			l.statuses[res.name+":"+string(r.Status)]++
			if r.Status == protocol.StatusDelivered {
				l.expect[id] = p
			}
			l.mu.Unlock()
			if r.Status == protocol.StatusDelivered {
				mu.Lock()
				sent = append(sent, delivery{id, p, at})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall += time.Since(start)
	res.edgeCPU += gauge(s.h, "process_cpu_seconds_total") - cpu
	res.runWait += runWait(s.h.Pid()) - wait
	// A push reported delivered was written to its device's socket: it arrives
	// within moments (neverReceived, at the end, fails the test for any that
	// never does).
	deadline := time.Now().Add(bound)
	for _, d := range sent {
		for {
			if got, ok := d.p.arrived(d.id); ok {
				res.latency = append(res.latency, got.Sub(d.at))
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// phasePeak is the highest goroutine count and resident memory sampled.
type phasePeak struct{ goroutines, rss float64 }

// sampler samples an edge's go_goroutines and process_resident_memory_bytes
// every 100 ms and keeps the peak of each phase.
type sampler struct {
	h     *testenv.Herald
	base  phasePeak // when it started
	stopc chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex
	cur   string               // guarded by mu: the phase being sampled
	peaks map[string]phasePeak // guarded by mu
}

func startSampler(h *testenv.Herald) *sampler {
	s := &sampler{h: h, stopc: make(chan struct{}), peaks: map[string]phasePeak{}}
	s.base = phasePeak{gauge(h, "go_goroutines"), gauge(h, "process_resident_memory_bytes")}
	s.wg.Go(func() {
		for {
			g, rss := gauge(h, "go_goroutines"), gauge(h, "process_resident_memory_bytes")
			s.mu.Lock()
			p := s.peaks[s.cur]
			s.peaks[s.cur] = phasePeak{max(p.goroutines, g), max(p.rss, rss)}
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return s
}

func (s *sampler) setPhase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = name
}

func (s *sampler) peak(name string) phasePeak {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peaks[name]
}

func (s *sampler) stop() {
	close(s.stopc)
	s.wg.Wait()
}

// pct is the q quantile of ds (0 when empty).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// ms prints d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// ratio prints a/b with two decimals.
func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}
