package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/jackc/pgx/v5"
)

// TestFaultPostgresRestart stops the device list's Postgres (fast shutdown) and
// starts it again on the same data directory and port, while sync pushes go to
// connected devices, devices of one account message each other across two
// edges, the REST API reads device lists and new devices connect. Pushes and
// messages between known devices (served from the edges' caches) keep being
// delivered; device-list reads fail fast with 503 and new devices cannot be
// listed while Postgres is down; everything works again by itself once it is
// back. Recovery is the time from the restart until every probe (a REST
// device-list read, a new device that connects, messages a sibling and is
// listed) works, after the last failure of any of them.
//
// A device that first connected while Postgres was down is added to its
// account's list by its edge's next heartbeat after Postgres is back: the
// scenario checks that every one is listed within 30 s (and, should one not be,
// that a reconnect lists it).
func TestFaultPostgresRestart(t *testing.T) {
	pairs := size(4, 20)
	outage := time.Duration(size(3, 10)) * time.Second
	tail := time.Duration(size(2, 10)) * time.Second
	pg := startPostgres(t)
	c := newClusterOn(t, pg.URL)
	e1 := c.edge("edge-1", "", "")
	e2 := c.edge("edge-2", "", "")
	api := c.start("api", "--roles=api", "--edge-id", "api-1")
	edges := []string{e1.Addr, e2.Addr}

	tvs := make([]*peer, pairs)
	phones := make([]*peer, pairs)
	for i := range pairs {
		account := fmt.Sprint("pg", i)
		tvs[i] = newPeer(t, account, "tv")
		phones[i] = newPeer(t, account, "phone")
		if err := tvs[i].connect(e2.Addr); err != nil {
			t.Fatal(err)
		}
		if err := phones[i].connect(e1.Addr); err != nil {
			t.Fatal(err)
		}
	}

	const (
		before = "before"
		during = "outage"
		after  = "after"
	)
	var (
		stoppedAt   atomic.Int64 // Unix nanoseconds of the stop signal
		restartedAt atomic.Int64 // Unix nanoseconds of Postgres taking connections again
		sent        atomic.Int64 // pushes and device messages
		hung        atomic.Int64 // pushes and device messages without an answer
		mu          sync.Mutex
		statuses    = map[string]int{}   // guarded by mu: phase:kind:status
		expect      = map[string]*peer{} // guarded by mu: ids reported delivered -> their device
		probes      []probe              // guarded by mu
		newcomers   []newcomer           // guarded by mu
		connectMax  = map[string]time.Duration{}
	)
	phase := func(at time.Time) string {
		switch s, r := stoppedAt.Load(), restartedAt.Load(); {
		case s == 0 || at.UnixNano() < s:
			return before
		case r == 0 || at.UnixNano() < r:
			return during
		}
		return after
	}
	record := func(kind string, s protocol.Status, id string, p *peer) {
		mu.Lock()
		defer mu.Unlock()
		statuses[phase(time.Now())+":"+kind+":"+string(s)]++
		if s == protocol.StatusDelivered || s == protocol.StatusAcked {
			expect[id] = p
		}
	}
	// d2d sends one device message and records its outcome; false when it got
	// no answer.
	d2d := func(from, to *peer, id string) (protocol.Status, bool) {
		sent.Add(1)
		results, code, err := from.sendD2D(id, to.id)
		var s protocol.Status
		switch {
		case err != nil:
			hung.Add(1)
			t.Errorf("%s: %v", id, err)
			return "", false
		case code != "":
			s = protocol.Status("error:" + string(code))
		default:
			s = results[0].Status
		}
		record("d2d", s, id, to)
		return s, true
	}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	// Sync pushes to every device.
	for w := range 2 {
		wg.Go(func() {
			for n := 0; !stopped(); n++ {
				p := tvs[n%pairs]
				if (n+w)%2 == 1 {
					p = phones[n%pairs]
				}
				sent.Add(1)
				r, id, err := push(api.Addr, p.account, p.id, 2000, nil)
				if err != nil {
					hung.Add(1)
					t.Errorf("push: %v", err)
					return
				}
				if !finalStatus(r.Status) {
					t.Errorf("push %s: status %q is not final", id, r.Status)
				}
				record("push", r.Status, id, p)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// Device messages between the devices of each account, across the edges.
	for i := range pairs {
		for _, dir := range [][2]*peer{{phones[i], tvs[i]}, {tvs[i], phones[i]}} {
			wg.Go(func() {
				for n := 0; !stopped(); n++ {
					if _, ok := d2d(dir[0], dir[1], fmt.Sprintf("d2d-%s-%s-%d", dir[0].account, dir[0].id, n)); !ok {
						return
					}
					time.Sleep(40 * time.Millisecond)
				}
			})
		}
	}
	// REST device-list reads.
	wg.Go(func() {
		for n := 0; !stopped(); n++ {
			p := tvs[n%pairs]
			var out struct {
				Devices []struct {
					ID string `json:"id"`
				} `json:"devices"`
			}
			start := time.Now()
			code, err := restCall(api.Addr, http.MethodGet, "/v1/accounts/"+p.account+"/devices", nil, &out)
			end := time.Now()
			if err != nil {
				hung.Add(1)
				t.Errorf("device list: %v", err)
				return
			}
			ok := code == http.StatusOK
			if ok {
				var ids []string
				for _, d := range out.Devices {
					ids = append(ids, d.ID)
				}
				if !slices.Contains(ids, "tv") || !slices.Contains(ids, "phone") {
					t.Errorf("device list of %s: %v", p.account, ids)
				}
			}
			mu.Lock()
			statuses[phase(start)+":list:"+fmt.Sprint(code)]++
			probes = append(probes, probe{kind: "list", start: start, end: end, ok: ok})
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	// New devices: each connects (alternately to either edge) to an account of a
	// pair, messages the account's tv, and must then appear in the account's list.
	wg.Go(func() {
		for n := 0; !stopped(); n++ {
			home := tvs[n%pairs]
			p := newPeer(t, home.account, fmt.Sprint("new", n))
			start := time.Now()
			err := p.connectOnce(edges[n%2], 10*time.Second)
			took := time.Since(start)
			nc := newcomer{p: p, edge: edges[n%2], phase: phase(start), connected: err == nil}
			ok := err == nil
			if ok {
				s, answered := d2d(p, home, fmt.Sprintf("d2d-%s-%s", p.account, p.id))
				if !answered {
					return
				}
				ok = s == protocol.StatusDelivered
			}
			if ok {
				listed, err := listed(api.Addr, p.account, p.id)
				ok = err == nil && listed
			}
			end := time.Now()
			mu.Lock()
			connectMax[nc.phase] = max(connectMax[nc.phase], took)
			statuses[fmt.Sprintf("%s:connect:%v", nc.phase, nc.connected)]++
			newcomers = append(newcomers, nc)
			probes = append(probes, probe{kind: "new", start: start, end: end, ok: ok})
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	})

	time.Sleep(outage / 2)
	stoppedAt.Store(time.Now().UnixNano())
	stopStart := time.Now()
	pg.Stop(syscall.SIGINT)
	shutdown := time.Since(stopStart)
	time.Sleep(outage - shutdown)
	pg.Start()
	restarted := time.Now()
	restartedAt.Store(restarted.UnixNano())
	var recovery time.Duration
	waitForMsg(t, func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("every probe to work after the restart: %v", statuses)
	}, func() bool {
		mu.Lock()
		defer mu.Unlock()
		r, ok := recovered(probes, restarted)
		recovery = r
		return ok && time.Since(restarted) >= tail
	})
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	// Degraded: from the stop to the end of the last failed probe.
	var degraded time.Duration
	for _, p := range probes {
		if !p.ok && p.end.After(stopStart) {
			degraded = max(degraded, p.end.Sub(stopStart))
		}
	}
	// Which new devices are in their account's list at the end, by the phase
	// they connected in.
	// The edges retry the devices they could not list at every heartbeat (5 s),
	// so those of the outage are listed soon after Postgres is back.
	var (
		unlisted map[string]int
		connects map[string]int
		missing  []newcomer
	)
	listStart := time.Now()
	for {
		unlisted, connects, missing = map[string]int{}, map[string]int{}, nil
		for _, nc := range newcomers {
			if !nc.connected {
				continue
			}
			connects[nc.phase]++
			ok, err := listed(api.Addr, nc.p.account, nc.p.id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				unlisted[nc.phase]++
				missing = append(missing, nc)
			}
		}
		if len(missing) == 0 || time.Since(listStart) > 30*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	listedWithin := time.Since(listStart)
	// What an unlisted device sees: a message from its sibling is refused, until
	// the device connects again.
	relisted := 0
	for _, nc := range missing {
		phone := phones[slices.IndexFunc(phones, func(p *peer) bool { return p.account == nc.p.account })]
		id := fmt.Sprintf("d2d-to-%s-%s", nc.p.account, nc.p.id)
		sent.Add(1)
		results, code, err := phone.sendD2D(id, nc.p.id)
		s := "error:" + string(code)
		switch {
		case err != nil:
			hung.Add(1)
			t.Errorf("%s: %v", id, err)
		case code == "":
			s = string(results[0].Status)
			if results[0].Error != "" {
				s += "(" + results[0].Error + ")"
			}
			if results[0].Status == protocol.StatusDelivered {
				expect[id] = nc.p
			}
		}
		statuses["end:d2d-to-unlisted:"+s]++
		if err := nc.p.connectOnce(nc.edge, 10*time.Second); err != nil {
			t.Errorf("reconnect: %v", err)
			continue
		}
		if ok, err := listed(api.Addr, nc.p.account, nc.p.id); err == nil && ok {
			relisted++
		}
	}
	if relisted != len(missing) {
		t.Errorf("%d of %d unlisted devices are still not listed after connecting again", len(missing)-relisted, len(missing))
	}
	if unlisted[before] > 0 {
		t.Errorf("%d devices that connected while Postgres was up are not in their account's list", unlisted[before])
	}
	if unlisted[during] > 0 {
		t.Errorf("%d of %d devices that connected while Postgres was down are not in their account's list 30 s after it came back",
			unlisted[during], connects[during])
	}
	lost := neverReceived(t, expect)
	n := sent.Load()
	f := &figures{Scenario: "postgres-restart", Sent: n, Accepted: n, Delivered: int64(len(expect) - len(lost)),
		Reported: n - int64(len(expect)), Lost: int64(len(lost)) + hung.Load(), Recovery: recovery}
	f.add("outage", restarted.Sub(stopStart).Round(time.Millisecond))
	f.add("shutdown", shutdown.Round(time.Millisecond))
	f.add("degraded", degraded.Round(time.Millisecond))
	f.add("pairs", pairs)
	f.add("new_devices", fmt.Sprint(connects))
	f.add("unlisted_new_devices", fmt.Sprint(unlisted))
	f.add("listed_after_reconnect", relisted)
	f.add("outage_devices_listed_within", listedWithin.Round(time.Millisecond))
	f.add("connect_max", fmt.Sprint(roundAll(connectMax)))
	f.add("hung", hung.Load())
	f.add("statuses", fmt.Sprint(statuses))
	report(t, f)
}

// probe is one attempt of something that needs Postgres: a REST device-list
// read, or a new device connecting, messaging and being listed.
type probe struct {
	kind       string
	start, end time.Time
	ok         bool
}

// newcomer is a device that connected for the first time during the load.
type newcomer struct {
	p         *peer
	edge      string // the address it connected to
	phase     string
	connected bool
}

// recovered returns how long after restarted every kind of probe worked again:
// the first success of each kind that started after the end of the last failure
// of any kind; false while a kind has no such success yet.
func recovered(probes []probe, restarted time.Time) (time.Duration, bool) {
	from := restarted
	for _, p := range probes {
		if !p.ok && p.end.After(from) {
			from = p.end
		}
	}
	first := map[string]time.Time{}
	kinds := map[string]bool{}
	for _, p := range probes {
		kinds[p.kind] = true
		if p.ok && !p.start.Before(from) {
			if f, ok := first[p.kind]; !ok || p.end.Before(f) {
				first[p.kind] = p.end
			}
		}
	}
	if len(first) < len(kinds) || len(kinds) == 0 {
		return 0, false
	}
	var r time.Duration
	for _, f := range first {
		r = max(r, f.Sub(restarted))
	}
	return r, true
}

// listed reports whether device is in the account's list, read through the
// REST API at addr.
func listed(addr, account, device string) (bool, error) {
	var out struct {
		Devices []struct {
			ID string `json:"id"`
		} `json:"devices"`
	}
	code, err := restCall(addr, http.MethodGet, "/v1/accounts/"+account+"/devices", nil, &out)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, nil
	}
	for _, d := range out.Devices {
		if d.ID == device {
			return true, nil
		}
	}
	return false, nil
}

func roundAll(m map[string]time.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(m))
	for k, v := range m {
		out[k] = v.Round(time.Millisecond)
	}
	return out
}

// pgServer is a private PostgreSQL server of one scenario, which it may stop
// and start again on the same data directory and port: the shared server of
// HERALD_TEST_POSTGRES_URL serves other tests and must stay up.
type pgServer struct {
	// URL is the connection string of its postgres database, the same across
	// restarts.
	URL string

	t    *testing.T
	bin  string // the directory of postgres and initdb
	dir  string
	data string
	port int
	cred *syscall.Credential // the postgres user's, when the test runs as root

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu: nil while stopped
	done chan struct{} // guarded by mu: closed when cmd has exited
}

// pgBindir returns the newest /usr/lib/postgresql/N/bin holding postgres and
// initdb, as scripts/services.sh picks it.
func pgBindir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server under /usr/lib/postgresql/*/bin")
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// unavailable ends a scenario whose service is missing: a failure under
// CI=true, where a skip would hide that nothing was tested, a skip elsewhere.
func unavailable(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (make test installs it)", what)
	}
	t.Skipf("%s (make test installs it)", what)
}

// postgresCred returns the credential the server runs under: none for a user
// other than root; as root, the postgres user's (created as a system user if
// missing, as scripts/services.sh does), since the server refuses to run as root.
func postgresCred(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash", "postgres").CombinedOutput()
		if uerr != nil {
			t.Fatalf("useradd postgres: %v\n%s", uerr, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			t.Fatal(err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("postgres user: uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// startPostgres initdbs a cluster in a temporary directory and starts it on a
// free loopback port; it is stopped in t.Cleanup.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin, err := pgBindir()
	if err != nil {
		unavailable(t, err.Error())
	}
	s := &pgServer{t: t, bin: bin, dir: t.TempDir(), cred: postgresCred(t)}
	s.data = filepath.Join(s.dir, "data")
	if s.cred != nil {
		// The postgres user must reach the directory: t.TempDir's parent is 0700.
		if err := os.Chmod(filepath.Dir(s.dir), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--no-locale", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(conf, "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n"+
		"synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// Another process may take the port between the probe and the bind; retry.
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
		if err := s.start(); err == nil {
			break
		} else if attempt == 3 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Stop(syscall.SIGQUIT) })
	return s
}

// command runs name as the server's user.
func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	testenv.DieWithParent(cmd)
	return cmd
}

// Start starts the server again on its data directory and port, if it is
// stopped, and waits until it takes connections.
func (s *pgServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *pgServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.data, "-p", strconv.Itoa(s.port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(bound)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres on port %d exited at start: %v\n%s", s.port, err, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("postgres on port %d takes no connections after %v: %v\n%s", s.port, bound, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends sig to the postmaster (SIGINT: fast shutdown; SIGQUIT: immediate
// shutdown, as after a crash) and waits until it has exited.
func (s *pgServer) Stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(bound):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// logTail is the end of the server's log, for failures.
func (s *pgServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
