package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// regionKey is the region key every region of a scenario presents and takes.
const regionKey = "faults-test-region-key-0123456789"

// region is one region of a multi-region scenario: a Redis and a kfake
// cluster of its own, a gateway process with the edge, API and processor
// roles, and further edges (edge role only, not gateways).
type region struct {
	name     string
	internal string   // the gateway's internal address, chosen before start
	seeds    []string // its Kafka brokers
	procs    []*testenv.Herald
}

// gateway is the region's first process: its gateway, API and processor.
func (r *region) gateway() *testenv.Herald { return r.procs[0] }

// edge returns the public address of the region's edge i, round robin.
func (r *region) edge(i int) string { return r.procs[i%len(r.procs)].Addr }

// startRegions starts edges processes in each region of names, all on the
// Postgres at pg, each region the peer of the others; extra goes to every
// process.
func startRegions(t *testing.T, pg string, names []string, edges int, extra ...string) map[string]*region {
	t.Helper()
	regions := map[string]*region{}
	for _, name := range names {
		regions[name] = &region{name: name, internal: testenv.FreeAddr(t)}
	}
	for _, name := range names {
		r := regions[name]
		var peers []string
		for _, other := range names {
			if other != name {
				peers = append(peers, other+"="+regions[other].internal)
			}
		}
		flags, seeds := newKafka(t, 1)
		r.seeds = seeds
		c := newClusterWith(t, pg, testenv.StartRedis(t), append(append(flags, extra...),
			"--region", name, "--region-peers", strings.Join(peers, ","), "--region-key", regionKey)...)
		r.procs = append(r.procs, c.start(name+"-1", "--roles=edge,api,processor", "--edge-id", name+"-1",
			"--internal-addr", r.internal, "--gateway"))
		for e := 2; e <= edges; e++ {
			r.procs = append(r.procs, c.edge(fmt.Sprint(name, "-", e), "", "", "--roles=edge"))
		}
	}
	return regions
}

// kill ends every process of the region with SIGKILL.
func (r *region) kill() {
	for _, h := range r.procs {
		h.Kill()
	}
}

// regionSend is one sync push or device note of the region scenario and the
// answer its sender got.
type regionSend struct {
	path            string // "sync" or "d2d"
	to              *peer
	status          string // a result key, http(<code>), error(<code>) or unanswered(...)
	asked, answered time.Time
}

// taken reports whether the sender was told the message was taken: it must
// then reach its device.
func (s *regionSend) taken() bool {
	switch protocol.Status(s.status) {
	case protocol.StatusDelivered, protocol.StatusAcked, protocol.StatusQueued:
		return true
	}
	return false
}

// TestFaultRegionLoss runs two regions, eu and us, each with its own Redis,
// kfake cluster and two processes (a gateway with the edge, API and processor
// roles, and a second edge), on one Postgres. The tv of every account is
// connected to us, half to each edge; eu makes the load through its gateway's
// API: sync pushes of notification.v1 with a ttl of 60 s (a type that
// stores), asynchronous messages, and stored device-to-device notes from the
// phones of a few accounts, connected to eu, to their tv. Mid-load both
// processes of us get SIGKILL: the region's processes die, its Redis and Kafka
// keep running (eu never reads them: it reaches us only through us's gateway,
// so their state changes nothing eu sees; what they hold is what is lost with
// the region until it returns, docs/design.md "Losing a region"). Each tv sees
// its connection end and, as an SDK with a list of endpoints does, connects to
// an edge of eu after a jitter of up to 500 ms.
//
// Accounting: a push or note answered delivered must have arrived; one
// answered queued (stored in eu's inbox while its tv was between regions)
// must arrive once the tv is in eu, on that connection; any other answer
// (offline, rejected, timeout, an error frame, a non-200) was told; no answer
// is lost; one answered queued that its inbox dropped later to keep to its
// limits, and whose status says so, was told (dropped_by_inbox). An
// asynchronous message accepted must arrive or get a final status that says
// why not. A message that arrives twice is counted apart
// (duplicates: the SDKs drop a repeat by id). Once a tv has its welcome in
// eu, a probe pushes to it from eu (ttl 0) every 50 ms until one is answered
// delivered; every push, note or probe asked after that welcome must be
// delivered (not_found_back). Recovery is the time from the kill until the
// last tv was reachable again: its first probe answered delivered.
func TestFaultRegionLoss(t *testing.T) { regionLoss(t, false) }

// TestFaultRegionHang is TestFaultRegionLoss with a region that hangs rather
// than dies: both processes of us get SIGSTOP, so that eu's links to us's
// gateway stay open and a new one is taken by the kernel and never answered,
// as when a region's network drops everything without a reset. The tvs'
// connections stay open too; each tv takes its connection as lost after 4 to
// 5 s without a frame (an SDK's pong timeout, shortened) and connects to eu.
// eu finds the hung links out by their pings (every second, a pong within the
// locate timeout of 2 s): from then on a push to a tv still between regions
// is stored in eu's inbox at once (queued) instead of waiting its whole
// timeout. The stopped processes are killed when the load is over.
func TestFaultRegionHang(t *testing.T) { regionLoss(t, true) }

// regionLoss runs the region loss scenario on a region whose processes die,
// or hang.
func regionLoss(t *testing.T, hang bool) {
	accounts := size(40, 300)
	phones := size(4, 20)
	syncRate, asyncRate := size(100, 250), size(20, 50)
	warm := time.Duration(size(2, 10)) * time.Second
	tail := time.Duration(size(1, 10)) * time.Second

	schemas := t.TempDir()
	if err := os.WriteFile(filepath.Join(schemas, storedNoteType+".json"), []byte(storedNote), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := startRegions(t, testenv.Postgres(t), []string{"eu", "us"}, 2, "--schemas-dir", schemas)
	eu, us := rs["eu"], rs["us"]
	api := eu.gateway().Addr
	waitGroupsOn(t, eu.seeds, 1)

	tvs := make([]*peer, accounts)
	phoneOf := make([]*peer, phones)
	for i := range accounts {
		tvs[i] = newPeer(t, fmt.Sprint("rl", i), "tv")
		if err := tvs[i].connect(us.edge(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range phones {
		phoneOf[i] = newPeer(t, tvs[i].account, "phone")
		if err := phoneOf[i].connect(eu.edge(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Every tv is reachable from eu before the load: found in us.
	for _, p := range tvs {
		waitFor(t, p.account+"/tv reachable from eu", func() bool {
			r, _, err := push(api, p.account, p.id, 2000, nil)
			return err == nil && r.Status == protocol.StatusDelivered
		})
	}

	// The load, from eu.
	var (
		mu    sync.Mutex
		sends = map[string]*regionSend{} // guarded by mu: message id -> its answer
		nsend atomic.Int64
	)
	answer := func(id, path string, to *peer, asked time.Time, status string) {
		mu.Lock()
		defer mu.Unlock()
		sends[id] = &regionSend{path: path, to: to, status: status, asked: asked, answered: time.Now()}
	}
	syncPush := func(p *peer) {
		body := notification(p.account, p.id, map[string]any{"timeout_ms": 2000, "ttl": 60})
		var out struct {
			ID      string            `json:"id"`
			Results []protocol.Result `json:"results"`
		}
		asked := time.Now()
		code, err := restCall(api, http.MethodPost, "/v1/push", body, &out)
		var status string
		switch {
		case err != nil:
			status = "unanswered(" + err.Error() + ")"
		case code != http.StatusOK:
			status = fmt.Sprintf("http(%d)", code)
		case len(out.Results) != 1:
			status = "problem"
		default:
			status = resultKey(out.Results[0])
		}
		id := out.ID
		if id == "" {
			id = fmt.Sprint("push-", nsend.Add(1))
		}
		answer(id, "sync", p, asked, status)
	}
	async := newAsyncLog(api)
	loadStop := make(chan struct{})
	var load sync.WaitGroup
	pace := func(rate, workers int, do func(p *peer)) {
		work := make(chan *peer, workers)
		for range workers {
			load.Go(func() {
				for p := range work {
					do(p)
				}
			})
		}
		load.Go(func() {
			defer close(work)
			start := time.Now()
			for i := 0; ; i++ {
				select {
				case <-loadStop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate)))):
				}
				work <- tvs[rand.IntN(len(tvs))]
			}
		})
	}
	pace(syncRate, 16, syncPush)
	pace(asyncRate, 4, func(p *peer) { async.send(p) })
	for i, ph := range phoneOf {
		tv := tvs[i]
		load.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-loadStop:
					return
				case <-time.After(time.Duration(100+rand.IntN(100)) * time.Millisecond):
				}
				id := fmt.Sprintf("note-%s-%d", ph.account, n)
				asked := time.Now()
				results, code, err := ph.sendNote(id, tv.id)
				switch {
				case err != nil:
					answer(id, "d2d", tv, asked, "unanswered("+err.Error()+")")
				case code != "":
					answer(id, "d2d", tv, asked, "error("+string(code)+")")
				case len(results) != 1:
					answer(id, "d2d", tv, asked, "problem")
				default:
					answer(id, "d2d", tv, asked, resultKey(results[0]))
				}
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { close(loadStop); load.Wait() })
	t.Cleanup(stopLoad)

	// The tvs: on the end of their us connection, after a jitter, to eu.
	// Once a tv has its welcome there, a probe, the sender that wants it
	// reached, pushes to it from eu with ttl 0 (now or never, so that a miss
	// is answered offline rather than stored) every 50 ms until one is
	// answered delivered: the tv is reachable again.
	var (
		killedAt atomic.Int64 // Unix nanoseconds of the kill
		stop     = make(chan struct{})
		backMu   sync.Mutex
		back     = make([]time.Time, accounts) // guarded by backMu: when each tv had its welcome in eu
		reach    = make([]time.Time, accounts) // guarded by backMu: when a probe to it was answered delivered
		early    atomic.Int64                  // us connections that ended before the kill
		roamers  sync.WaitGroup
	)
	probe := func(i int) {
		p := tvs[i]
		for {
			asked := time.Now()
			r, id, err := push(api, p.account, p.id, 2000, nil)
			status := resultKey(r)
			if err != nil {
				status = "unanswered(" + err.Error() + ")"
				id = fmt.Sprint("probe-", nsend.Add(1))
			}
			answer(id, "probe", p, asked, status)
			if r.Status == protocol.StatusDelivered {
				backMu.Lock()
				reach[i] = time.Now()
				backMu.Unlock()
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for i, p := range tvs {
		ended := p.endedCh()
		roamers.Go(func() {
			select {
			case <-stop:
				return
			case <-ended:
			}
			if killedAt.Load() == 0 {
				early.Add(1)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rand.IntN(500)) * time.Millisecond):
			}
			if err := p.connect(eu.edge(i)); err != nil {
				t.Errorf("%s/tv: %v", p.account, err)
				return
			}
			backMu.Lock()
			back[i] = p.openedAt()
			backMu.Unlock()
			probe(i)
		})
	}
	stopRoamers := sync.OnceFunc(func() { close(stop); roamers.Wait() })
	t.Cleanup(stopRoamers)

	time.Sleep(warm)
	killed := time.Now()
	killedAt.Store(killed.UnixNano())
	if hang {
		for _, h := range us.procs {
			if err := h.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(us.kill)
		for _, p := range tvs {
			lost := 4*time.Second + time.Duration(rand.IntN(1000))*time.Millisecond
			time.AfterFunc(lost, p.drop)
		}
	} else {
		us.kill()
	}

	waitForMsg(t, func() string {
		backMu.Lock()
		defer backMu.Unlock()
		n := 0
		for _, at := range reach {
			if at.IsZero() {
				n++
			}
		}
		return fmt.Sprintf("every tv reachable from eu (%d not yet)", n)
	}, func() bool {
		backMu.Lock()
		defer backMu.Unlock()
		return !slices.Contains(reach, time.Time{})
	})
	time.Sleep(tail)
	stopLoad()
	stopRoamers()
	us.kill()

	// Settle: every message taken must arrive.
	mu.Lock()
	defer mu.Unlock()
	// A message the inbox dropped later to keep to its limits (100 messages
	// a device) was taken, then reported dropped in its status: told, not
	// delivered (dropped_by_inbox).
	dropped := map[string]bool{}
	missing := func() []string {
		var ids []string
		for id, s := range sends {
			if s.taken() && s.to.received(id) == 0 && !dropped[id] {
				ids = append(ids, id)
			}
		}
		return ids
	}
	deadline := time.Now().Add(bound)
	left := missing()
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, id := range left {
			var st messageStatus
			if code, err := restCall(api, http.MethodGet, "/v1/messages/"+id, nil, &st); err == nil && code == http.StatusOK {
				for _, d := range st.Devices {
					dropped[id] = dropped[id] || d.Status == "dropped"
				}
			}
		}
		left = missing()
	}
	slices.Sort(left)
	for _, id := range left[:min(5, len(left))] {
		s := sends[id]
		t.Errorf("%s %s to %s/%s answered %s %v after the kill and never received (the tv back in eu %v after the kill)",
			s.path, id, s.to.account, s.to.id, s.status, s.answered.Sub(killed).Round(time.Millisecond),
			back[slices.Index(tvs, s.to)].Sub(killed).Round(time.Millisecond))
	}
	ad, ar, al := async.settle(t)

	// Each tv is listed in eu now, seen from eu's API.
	notListed := 0
	for _, p := range tvs {
		var out struct {
			Devices []struct {
				ID     string `json:"id"`
				Online bool   `json:"online"`
				Region string `json:"region"`
			} `json:"devices"`
		}
		code, err := restCall(api, http.MethodGet, "/v1/accounts/"+p.account+"/devices", nil, &out)
		ok := false
		for _, d := range out.Devices {
			ok = ok || d.ID == p.id && d.Online && d.Region == "eu"
		}
		if err != nil || code != http.StatusOK || !ok {
			notListed++
			if notListed <= 5 {
				t.Errorf("%s/tv not listed online in eu after its move: %d %v %+v", p.account, code, err, out.Devices)
			}
		}
	}

	// The figures.
	window := func(s *regionSend) string {
		i := slices.Index(tvs, s.to)
		switch {
		case s.asked.Before(killed):
			return "before"
		case s.asked.Before(back[i]):
			return "away"
		}
		return "back"
	}
	var (
		accepted, delivered, told, unanswered, queuedEarly, toldArrived, dups, droppedByInbox int64
		notFoundBack                                                                          int64 // asked once the tv was in eu, answered neither delivered nor acked
		slowest                                                                               = map[string]time.Duration{}
		statuses                                                                              = map[string]map[string]int{"sync": {}, "d2d": {}, "probe": {}}
		toldFrom, toldUntil                                                                   time.Duration
	)
	for id, s := range sends {
		accepted++
		w := window(s)
		statuses[s.path][w+":"+s.status]++
		slowest[w] = max(slowest[w], s.answered.Sub(s.asked))
		i := slices.Index(tvs, s.to)
		at, arrived := s.to.arrived(id)
		if n := s.to.received(id); n > 1 {
			dups += int64(n - 1)
		}
		switch {
		case s.taken():
			switch {
			case arrived:
				delivered++
			case dropped[id]:
				told++
				droppedByInbox++
			}
			if protocol.Status(s.status) == protocol.StatusQueued && arrived && at.Before(back[i]) {
				queuedEarly++
			}
		case strings.HasPrefix(s.status, "unanswered"):
			unanswered++
		default:
			told++
			if arrived {
				toldArrived++
			}
			if !s.answered.Before(killed) {
				if d := s.answered.Sub(killed); toldFrom == 0 || d < toldFrom {
					toldFrom = d
				}
				toldUntil = max(toldUntil, s.answered.Sub(killed))
			}
		}
		if w == "back" && protocol.Status(s.status) != protocol.StatusDelivered && protocol.Status(s.status) != protocol.StatusAcked {
			notFoundBack++
		}
	}
	for id, p := range async.accepted {
		if n := p.received(id); n > 1 {
			dups += int64(n - 1)
		}
	}
	var toReach, toBack []time.Duration
	var lastReach time.Time
	for i := range tvs {
		toReach = append(toReach, reach[i].Sub(killed))
		toBack = append(toBack, back[i].Sub(killed))
		if reach[i].After(lastReach) {
			lastReach = reach[i]
		}
	}
	if unanswered > 0 {
		t.Errorf("%d sync pushes or notes got no answer: %v", unanswered, statuses)
	}
	if queuedEarly > 0 {
		t.Errorf("%d messages answered queued arrived before their tv reached eu", queuedEarly)
	}
	if notFoundBack > 0 {
		t.Errorf("%d pushes or notes asked once their tv was in eu were not delivered: %v", notFoundBack, statuses)
	}
	if n := early.Load(); n > 0 {
		t.Errorf("%d tvs lost their us connection before the kill", n)
	}
	scenario := "region-loss"
	if hang {
		scenario = "region-hang"
	}
	f := &figures{Scenario: scenario, Sent: int64(len(sends)) + async.sent, Accepted: accepted + int64(len(async.accepted)),
		Delivered: delivered + ad, Reported: told + ar, Lost: int64(len(left)) + unanswered + al + async.errs,
		Recovery: lastReach.Sub(killed)}
	f.add("devices", accounts)
	f.add("phones", phones)
	f.add("reachable_p50", pct(toReach, 0.5).Round(time.Millisecond))
	f.add("reachable_p99", pct(toReach, 0.99).Round(time.Millisecond))
	f.add("reconnected_p50", pct(toBack, 0.5).Round(time.Millisecond))
	f.add("reconnected_p99", pct(toBack, 0.99).Round(time.Millisecond))
	f.add("reconnected_max", pct(toBack, 1).Round(time.Millisecond))
	f.add("told_from", toldFrom.Round(time.Millisecond))
	f.add("told_until", toldUntil.Round(time.Millisecond))
	f.add("slowest_answer", fmt.Sprintf("before:%v,away:%v,back:%v", slowest["before"].Round(time.Millisecond),
		slowest["away"].Round(time.Millisecond), slowest["back"].Round(time.Millisecond)))
	f.add("dropped_by_inbox", droppedByInbox)
	f.add("told_but_arrived", toldArrived)
	f.add("not_found_back", notFoundBack)
	f.add("not_listed", notListed)
	f.add("duplicates", dups)
	f.add("async_accepted", len(async.accepted))
	f.add("async_delivered", ad)
	f.add("async_reported", ar)
	f.add("async_refused", fmt.Sprint(async.refused))
	f.add("sync", strings.ReplaceAll(fmt.Sprint(statuses["sync"]), " ", ","))
	f.add("d2d", strings.ReplaceAll(fmt.Sprint(statuses["d2d"]), " ", ","))
	f.add("probe", strings.ReplaceAll(fmt.Sprint(statuses["probe"]), " ", ","))
	report(t, f)
}

// sendNote sends a stored device-to-device note (storedNoteType, ttl 600) to
// target and waits for its first receipt, or an error frame, as sendD2D does.
func (p *peer) sendNote(id, target string) ([]protocol.Result, protocol.Code, error) {
	return p.sendMsg(&protocol.Msg{ID: id, Type: storedNoteType, To: &protocol.Target{Device: target}, TTL: 600,
		Payload: json.RawMessage(`{"text":"` + id + `"}`)})
}
