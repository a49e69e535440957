package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerEvent is one line a worker reports to its parent: ready (connected),
// finished (the workload is done), result, or error.
type workerEvent struct {
	Event  string        `json:"event"`
	Error  string        `json:"error,omitempty"`
	Result *workerResult `json:"result,omitempty"`
}

// The parent's commands to a worker, one a line on its stdin.
const (
	cmdRun  = "run"
	cmdStop = "stop"
)

// workerLoop steps one worker through its phases: prepare and report ready,
// run on the parent's command and report finished, stop on the next and
// report the result. A closed cmds or an ended ctx stops it early.
func workerLoop(ctx context.Context, spec workerSpec, cmds <-chan string, emit func(workerEvent)) {
	w, err := newWorker(spec)
	if err != nil {
		emit(workerEvent{Event: "error", Error: err.Error()})
		return
	}
	if err := w.prepare(ctx); err != nil {
		w.stop()
		emit(workerEvent{Event: "error", Error: err.Error()})
		return
	}
	emit(workerEvent{Event: "ready"})
	if spec.Config.Mode == topicMode {
		if !awaitCmd(ctx, cmds, cmdSub) {
			w.stop()
			return
		}
		if err := w.subscribeAll(ctx); err != nil {
			w.stop()
			emit(workerEvent{Event: "error", Error: err.Error()})
			return
		}
		emit(workerEvent{Event: "subscribed"})
	}
	if !awaitCmd(ctx, cmds, cmdRun) {
		w.stop()
		return
	}
	w.run(ctx)
	emit(workerEvent{Event: "finished"})
	awaitCmd(ctx, cmds, cmdStop)
	emit(workerEvent{Event: "result", Result: w.stop()})
}

// awaitCmd waits for the command want and reports whether it came.
func awaitCmd(ctx context.Context, cmds <-chan string, want string) bool {
	for {
		select {
		case c, ok := <-cmds:
			if !ok {
				return false
			}
			if c == want {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// RunWorker is `herald bench --worker`, a worker of a parent bench in a child
// process (Config.Procs above 1): its share of the run is the first line of
// stdin, the parent's commands follow; its events go to stdout, one JSON
// object a line. It returns when the parent stops it or closes stdin.
func RunWorker(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	br := bufio.NewReader(stdin)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("worker: reading the spec: %w", err)
	}
	var spec workerSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		return fmt.Errorf("worker: decoding the spec: %w", err)
	}
	// The reader ends when the parent closes stdin; a blocked read does not
	// keep the process from exiting once workerLoop returns.
	cmds := make(chan string, 4)
	go func() {
		defer close(cmds)
		for {
			l, err := br.ReadString('\n')
			if s := strings.TrimSpace(l); s != "" {
				select {
				case cmds <- s:
				default: // the parent sends two or three commands; more are ignored
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	workerLoop(ctx, spec, cmds, func(ev workerEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	})
	return nil
}

// participant is one worker as the parent sees it: in-process or a child.
type participant interface {
	send(cmd string)
	events() <-chan workerEvent
	// close stops the worker and waits for it.
	close()
	describe() string
}

// localWorker runs a worker on goroutines of this process (--procs 1).
type localWorker struct {
	cmds   chan string
	evs    chan workerEvent
	cancel context.CancelFunc
	done   chan struct{}
}

func startLocalWorker(ctx context.Context, spec workerSpec) *localWorker {
	ctx, cancel := context.WithCancel(ctx)
	l := &localWorker{cmds: make(chan string, 4), evs: make(chan workerEvent, 4), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer close(l.evs)
		workerLoop(ctx, spec, l.cmds, func(ev workerEvent) {
			select {
			case l.evs <- ev:
			case <-ctx.Done():
			}
		})
	}()
	return l
}

func (l *localWorker) send(cmd string) {
	select {
	case l.cmds <- cmd:
	default:
	}
}

func (l *localWorker) events() <-chan workerEvent { return l.evs }
func (l *localWorker) describe() string           { return "the in-process worker" }

func (l *localWorker) close() {
	l.cancel()
	for range l.evs {
	}
	<-l.done
}

// remoteWorker is a worker in a child process: `herald bench --worker`.
type remoteWorker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	evs   chan workerEvent
	done  chan struct{} // closed once the child has exited and its output is read
	log   *tailLog
}

func startRemoteWorker(bin string, spec workerSpec) (*remoteWorker, error) {
	if bin == "" {
		return nil, errors.New("bench: no herald binary to run workers (Config.Binary)")
	}
	r := &remoteWorker{evs: make(chan workerEvent, 8), done: make(chan struct{}), log: newTailLog(20)}
	r.cmd = exec.Command(bin, "bench", "--worker")
	r.cmd.Stderr = r.log
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting worker %d: %w", spec.Index, err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var ev workerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = workerEvent{Event: "error", Error: fmt.Sprintf("undecodable line %.100q", sc.Bytes())}
			}
			r.evs <- ev
		}
		close(r.evs)
		_ = r.cmd.Wait()
	}()
	b, err := json.Marshal(spec)
	if err == nil {
		_, err = r.stdin.Write(append(b, '\n'))
	}
	if err != nil {
		r.close()
		return nil, fmt.Errorf("bench: sending worker %d its spec: %w", spec.Index, err)
	}
	return r, nil
}

func (r *remoteWorker) send(cmd string) { _, _ = io.WriteString(r.stdin, cmd+"\n") }

func (r *remoteWorker) events() <-chan workerEvent { return r.evs }

func (r *remoteWorker) describe() string {
	return fmt.Sprintf("worker pid %d (stderr: %s)", r.cmd.Process.Pid, r.log)
}

// close closes the worker's stdin, which stops it, and kills it if it has not
// exited after a while.
func (r *remoteWorker) close() {
	_ = r.stdin.Close()
	drained := make(chan struct{})
	go func() { // ends when evs is closed, before done
		defer close(drained)
		for range r.evs {
		}
	}()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	<-drained
}

// awaitEvents waits for event want from every participant, failing on an error
// event, a participant that exits, ctx or bound.
func awaitEvents(ctx context.Context, parts []participant, want string, bound time.Duration) ([]workerEvent, error) {
	timer := time.NewTimer(bound)
	defer timer.Stop()
	out := make([]workerEvent, len(parts))
	for i, p := range parts {
		select {
		case ev, ok := <-p.events():
			switch {
			case !ok:
				return nil, fmt.Errorf("%s ended before %s", p.describe(), want)
			case ev.Event == "error":
				return nil, fmt.Errorf("%s: %s", p.describe(), ev.Error)
			case ev.Event != want:
				return nil, fmt.Errorf("%s reported %q, want %q", p.describe(), ev.Event, want)
			}
			out[i] = ev
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("%s: no %s after %v", p.describe(), want, bound)
		}
	}
	return out, nil
}

// tailLog keeps the last lines written to it, for messages about a child.
type tailLog struct {
	mu    sync.Mutex
	n     int
	lines []string // guarded by mu
	part  string   // guarded by mu: an unfinished line
}

func newTailLog(n int) *tailLog { return &tailLog{n: n} }

func (t *tailLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(p)
	lines := strings.Split(s, "\n")
	t.part = lines[len(lines)-1]
	if len(t.part) > 4096 {
		t.part = t.part[:4096]
	}
	for _, l := range lines[:len(lines)-1] {
		t.lines = append(t.lines, l)
		if len(t.lines) > t.n {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tailLog) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(append(t.lines, t.part), "\n")
	if strings.TrimSpace(s) == "" {
		return "nothing"
	}
	return strings.TrimSpace(s)
}

// procSample is what /proc says about a set of processes at one time.
type procSample struct {
	rssKiB int64
	cpu    time.Duration // user and system time
	at     time.Time
	perPID []procSample // each pid's, in order (without at)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// sampleProcs reads the RSS and CPU time of pids from /proc, summed.
func sampleProcs(pids []int) (procSample, error) {
	s := procSample{at: time.Now()}
	if len(pids) == 0 {
		return s, errors.New("no pid")
	}
	for _, pid := range pids {
		rss, err := readRSS(pid)
		if err != nil {
			return s, err
		}
		cpu, err := readCPU(pid)
		if err != nil {
			return s, err
		}
		s.rssKiB += rss
		s.cpu += cpu
		s.perPID = append(s.perPID, procSample{rssKiB: rss, cpu: cpu})
	}
	return s, nil
}

// readRSS returns VmRSS of /proc/PID/status in KiB.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// readCPU returns utime+stime of /proc/PID/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command, in parentheses, may hold spaces: fields count from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// selfCPU is this process's CPU time.
func selfCPU() (time.Duration, error) { return readCPU(os.Getpid()) }

// child is a server process the bench started: the ceiling server, or the
// suite's herald.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	done  chan struct{} // closed once it has exited and its output is read
	log   *tailLog
}

// startChild runs the herald binary bin with args, and env added to the
// environment, and waits until addrFrom finds the address it listens on in a
// line of its stdout or stderr.
func startChild(ctx context.Context, bin, name string, args, env []string, addrFrom func([]byte) string) (*child, error) {
	if bin == "" {
		return nil, fmt.Errorf("bench: no herald binary to run %s (Config.Binary)", name)
	}
	c := &child{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), log: newTailLog(30)}
	if len(env) > 0 {
		c.cmd.Env = append(os.Environ(), env...)
	}
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", name, err)
	}
	addrc := make(chan string, 1)
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				_, _ = c.log.Write(append(sc.Bytes(), '\n'))
				if a := addrFrom(sc.Bytes()); a != "" {
					select {
					case addrc <- a:
					default:
					}
				}
			}
		}()
	}
	go func() {
		defer close(c.done)
		readers.Wait()
		_ = c.cmd.Wait()
	}()
	select {
	case c.addr = <-addrc:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("bench: %s exited before listening: %s", name, c.log)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		c.stop()
		return nil, fmt.Errorf("bench: %s not listening after a minute: %s", name, c.log)
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop closes the child's stdin, sends it SIGTERM and waits for it to exit,
// killing it after 30 seconds.
func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
