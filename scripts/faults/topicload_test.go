package faults

// The topic scenarios' load: Go SDK subscribers, a publish storm, and the
// accounting of each publish's answer against what each subscriber got.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/protocol"
)

// topicBounds lift the bounds of catch-up (the log's length, a catch-up's
// length, the send queue) above what the topic scenarios publish, so that a
// message missing is a loss, not a bound reached.
var topicBounds = []string{"--topic-log-max-entries", "5000", "--topic-catch-up", "2000", "--send-queue", "2048"}

// stormTopics are the topics the topic scenarios publish to; every subscriber
// subscribes to all of them.
var stormTopics = []string{"storm.a", "storm.b", "storm.c"}

// topicToken issues a device token of an hour that grants every topic.
func topicToken(t *testing.T, account, device string) string {
	t.Helper()
	deviceToken(t, account, device) // makes the issuer
	tok, err := issuer.IssueTopics(account, device, time.Hour, []string{"storm.*"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// topicArrival is one topic message as a subscriber's app received it.
type topicArrival struct {
	topic string
	seq   uint64
	count int       // OnMessage calls for it: the SDK drops repeats, so 1
	conn  int       // the connection it came on (index in subscriber.conns)
	at    time.Time // when it came
}

// subConn is one connection of a subscriber: when its welcome came and from
// which edge.
type subConn struct {
	at   time.Time
	edge string
}

// subscriber is a device on the Go SDK subscribed to stormTopics: the SDK
// keeps it connected, subscribes again after every welcome with the seq of
// the last message of each topic it received, and drops repeats by id. Its
// connections go to the edge that dial names at the time of each dial.
type subscriber struct {
	account, device string

	mu       sync.Mutex
	target   string                   // guarded by mu: the edge address the next dial goes to
	conns    []subConn                // guarded by mu: every welcome
	subbed   int                      // guarded by mu: the connection whose subs answer subscribed every topic (-1: none yet)
	msgs     map[string]*topicArrival // guarded by mu: message id -> its arrival in the app
	frames   map[string]int           // guarded by mu: message id -> msg frames received (repeats included)
	failures int                      // guarded by mu: subs results other than subscribed
}

// newSubscriber starts a subscriber on the edge at addr; it runs until the test
// ends.
func newSubscriber(t *testing.T, account, device, addr string) *subscriber {
	t.Helper()
	s := &subscriber{account: account, device: device, target: addr, subbed: -1,
		msgs: map[string]*topicArrival{}, frames: map[string]int{}}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		s.mu.Lock()
		addr := s.target
		s.mu.Unlock()
		return dialer.DialContext(ctx, network, addr)
	}}}
	cl, err := herald.New(herald.Config{URL: "ws://" + addr, Token: topicToken(t, account, device), HTTPClient: hc,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, DedupSize: 1 << 16,
		OnFrame:   s.onFrame,
		OnMessage: s.onMessage,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Before Run the topics are remembered, and subscribed after each welcome.
	if err := cl.Subscribe(context.Background(), stormTopics...); !errors.Is(err, herald.ErrNotConnected) {
		t.Fatalf("Subscribe before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cl.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

func (s *subscriber) onFrame(f protocol.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f := f.(type) {
	case *protocol.Welcome:
		s.conns = append(s.conns, subConn{at: time.Now(), edge: f.Edge})
	case *protocol.Subs:
		ok := len(f.Results) == len(stormTopics)
		for _, r := range f.Results {
			if r.Status != protocol.TopicSubscribed {
				ok = false
				s.failures++
			}
		}
		if ok {
			s.subbed = len(s.conns) - 1
		}
	case *protocol.Msg:
		s.frames[f.ID]++
	}
}

func (s *subscriber) onMessage(m *protocol.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.msgs[m.ID]
	if a == nil {
		a = &topicArrival{topic: m.Topic, seq: m.Seq, conn: len(s.conns) - 1, at: time.Now()}
		s.msgs[m.ID] = a
	}
	a.count++
}

// connsAround lists the subscriber's welcomes within 3 s of at.
func (s *subscriber) connsAround(at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.conns {
		if d := c.at.Sub(at); d > -3*time.Second && d < 3*time.Second {
			out = append(out, c.at.Format("15:04:05.000")+"@"+c.edge)
		}
	}
	return strings.Join(out, " ")
}

// overtaken reports whether the subscriber's cursor for p's topic passed p's
// seq before it subscribed again after p was answered: it got a message of
// the topic with a higher seq on a connection that opened before that. Two
// publishes of one topic may reach an edge in the other order than their
// seqs; a device whose connection ends between the two then subscribes
// again with the higher one as its cursor, and the catch-up does not have
// the lower (docs/design.md, "Topics").
func (s *subscriber) overtaken(p *topicPublish) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := len(s.conns) // the first connection that opened after the answer
	for i, c := range s.conns {
		if c.at.After(p.answered) {
			next = i
			break
		}
	}
	for _, a := range s.msgs {
		if a.topic == p.topic && a.seq > p.res.Seq && a.conn < next {
			return true
		}
	}
	return false
}

// dialTo sends the subscriber's next connections to the edge at addr.
func (s *subscriber) dialTo(addr string) {
	s.mu.Lock()
	s.target = addr
	s.mu.Unlock()
}

// subscribedNow reports whether the newest connection subscribed every topic.
func (s *subscriber) subscribedNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0 && s.subbed == len(s.conns)-1
}

// arrival returns the arrival of id and whether it came on a connection that
// opened after asked (through a catch-up after a reconnect).
func (s *subscriber) arrival(id string, asked time.Time) (a topicArrival, later, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.msgs[id]
	if p == nil {
		return topicArrival{}, false, false
	}
	return *p, s.conns[p.conn].at.After(asked), true
}

// onEdge reports whether any connection of the subscriber was to one of edges.
func (s *subscriber) onEdge(edges []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if slices.Contains(edges, c.edge) {
			return true
		}
	}
	return false
}

// topicPublish is one synchronous publish and its answer.
type topicPublish struct {
	topic           string
	asked, answered time.Time
	code            int   // HTTP status, 0 without an answer
	err             error // no answer
	id              string
	res             protocol.PublishResult
}

// failedEdges names the edges the answer lists as failed.
func (p *topicPublish) failedEdges() []string {
	var out []string
	for _, f := range p.res.Failed {
		out = append(out, f.Edge)
	}
	return out
}

// publishLog records every publish of a scenario.
type publishLog struct {
	mu   sync.Mutex
	pubs []*topicPublish // guarded by mu
}

// publish makes one synchronous publish to topic through the API at api.
func (l *publishLog) publish(api, topic string, n int) {
	p := &topicPublish{topic: topic, asked: time.Now()}
	var out struct {
		ID string `json:"id"`
		protocol.PublishResult
	}
	body := map[string]any{"type": "notification.v1", "payload": map[string]string{"title": fmt.Sprint("storm ", n)}, "timeout_ms": 2000}
	p.code, p.err = restCall(api, http.MethodPost, "/v1/topics/"+topic+"/messages", body, &out)
	p.answered = time.Now()
	p.id, p.res = out.ID, out.PublishResult
	l.mu.Lock()
	l.pubs = append(l.pubs, p)
	l.mu.Unlock()
}

// storm publishes to random stormTopics at rate a second from 8 workers until
// stop is closed; the returned func waits for the workers.
func (l *publishLog) storm(api string, rate int, stop <-chan struct{}) (wait func()) {
	work := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for n := range work {
				l.publish(api, stormTopics[rand.IntN(len(stormTopics))], n)
			}
		})
	}
	wg.Go(func() {
		defer close(work)
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate)))):
			}
			work <- i
		}
	})
	return wg.Wait
}

// topicTally is the accounting of a topic scenario: per publish and
// subscriber, delivered (live or on a later connection, through the catch-up)
// or a reason it may be missing.
type topicTally struct {
	published, ok, told, unanswered              int
	delivered, live, caughtUp                    int
	reported, reportedArrived, unlogged, dropped int
	unlisted                                     int // missing from a publish whose answer counted fewer edges than have subscribers
	lostByStore                                  int // missing from a publish whose log entry an empty restart took
	overtaken                                    int // missing, the device's cursor having passed it (subscriber.overtaken)
	lost, duplicates, repeatFrames               int
	toldBy                                       map[string]int
	lostIDs                                      []string
}

// tallyTopics waits up to bound for every delivery the answers promise, then
// counts. subEdges is how many edges have subscribers at every moment (an
// answer with fewer edges, answered and failed, did not reach them all).
// inStore, when set, reports the publishes whose log entry a restart of an
// empty Redis may have taken: missed by a device, they are counted
// lost_by_store.
func tallyTopics(t *testing.T, log *publishLog, subs []*subscriber, subEdges int, inStore func(p *topicPublish) bool) *topicTally {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	// must reports why s may miss p; "" when it must get it.
	must := func(p *topicPublish, s *subscriber) string {
		switch {
		case len(p.res.Failed) > 0 && s.onEdge(p.failedEdges()):
			return "reported"
		case p.res.Dropped > 0:
			return "dropped"
		case p.res.Seq == 0 && p.res.Devices < len(subs):
			// Not logged, so no catch-up has it, and queued for fewer
			// devices than subscribe: the answer says who may lack it.
			return "unlogged"
		case inStore != nil && inStore(p):
			return "store"
		case p.res.Seq != 0 && s.overtaken(p):
			return "overtaken"
		case p.res.Edges+len(p.res.Failed) < subEdges:
			return "unlisted"
		}
		return ""
	}
	missing := func() int {
		n := 0
		for _, p := range log.pubs {
			if p.code != http.StatusOK {
				continue
			}
			for _, s := range subs {
				if _, _, ok := s.arrival(p.id, p.asked); !ok && must(p, s) == "" {
					n++
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(bound)
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	tl := &topicTally{toldBy: map[string]int{}}
	for _, p := range log.pubs {
		tl.published++
		switch {
		case p.err != nil:
			tl.unanswered++
			t.Errorf("publish to %s asked at %s got no answer: %v", p.topic, p.asked.Format("15:04:05.000"), p.err)
			continue
		case p.code != http.StatusOK:
			tl.told++
			tl.toldBy[fmt.Sprint(p.code)]++
			continue
		}
		tl.ok++
		for _, s := range subs {
			a, later, ok := s.arrival(p.id, p.asked)
			if ok {
				tl.delivered++
				if later {
					tl.caughtUp++
				} else {
					tl.live++
				}
				if a.count > 1 {
					tl.duplicates += a.count - 1
				}
			}
			switch why := must(p, s); {
			case why == "reported" && ok:
				tl.reportedArrived++
			case ok:
			case why == "reported":
				tl.reported++
			case why == "dropped":
				tl.dropped++
			case why == "unlogged":
				tl.unlogged++
			case why == "unlisted":
				tl.unlisted++
			case why == "store":
				tl.lostByStore++
			case why == "overtaken":
				tl.overtaken++
			default:
				tl.lost++
				if len(tl.lostIDs) < 5 {
					tl.lostIDs = append(tl.lostIDs, p.id)
					t.Errorf("%s to %s (seq %d, asked at %s, answered at %s: %+v) never reached %s/%s; its connections: %s",
						p.id, p.topic, p.res.Seq, p.asked.Format("15:04:05.000"), p.answered.Format("15:04:05.000"), p.res, s.account, s.device, s.connsAround(p.asked))
				}
			}
		}
	}
	for _, s := range subs {
		s.mu.Lock()
		for _, n := range s.frames {
			tl.repeatFrames += n - 1
		}
		s.mu.Unlock()
	}
	if tl.duplicates > 0 {
		t.Errorf("%d topic messages reached an app twice", tl.duplicates)
	}
	return tl
}

// add puts the tally's own figures on f.
func (tl *topicTally) add(f *figures) {
	f.add("publishes", tl.published)
	f.add("answered_200", tl.ok)
	f.add("told", tl.told)
	f.add("told_by", fmt.Sprint(tl.toldBy))
	f.add("unanswered", tl.unanswered)
	f.add("live", tl.live)
	f.add("caught_up", tl.caughtUp)
	f.add("reported_missing", tl.reported)
	f.add("reported_but_arrived", tl.reportedArrived)
	f.add("dropped", tl.dropped)
	f.add("unlogged_missed", tl.unlogged)
	f.add("unlisted_missed", tl.unlisted)
	f.add("lost_by_store", tl.lostByStore)
	f.add("overtaken", tl.overtaken)
	f.add("duplicates", tl.duplicates)
	f.add("repeat_frames", tl.repeatFrames)
}

// startSubscribers starts perEdge subscribers on each edge of addrs and waits
// until every one has subscribed every topic.
func startSubscribers(t *testing.T, prefix string, perEdge int, addrs []string) []*subscriber {
	t.Helper()
	var subs []*subscriber
	for e, addr := range addrs {
		for i := range perEdge {
			subs = append(subs, newSubscriber(t, fmt.Sprintf("%s%d-%d", prefix, e, i), "d", addr))
		}
	}
	waitForSubscribed(t, subs)
	return subs
}

// waitForSubscribed waits until every subscriber's newest connection has
// subscribed every topic.
func waitForSubscribed(t *testing.T, subs []*subscriber) {
	t.Helper()
	waitForMsg(t, func() string {
		var names []string
		for _, s := range subs {
			if !s.subscribedNow() {
				names = append(names, s.account)
			}
		}
		sort.Strings(names)
		return "subscribers " + strings.Join(names, ",")
	}, func() bool {
		for _, s := range subs {
			if !s.subscribedNow() {
				return false
			}
		}
		return true
	})
}
