package edge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/topiclog"
)

// TestTopicRepairAfterUnlisted checks the edge's own catch-up: a publish
// while the topic directory lacks the edge (the registry lost its membership)
// reaches none of its subscribers, and answers with no edge failed; the
// heartbeat that adds the edge's topics again after a fresh beat then queues
// it, from the log, on the subscriber that was connected throughout, once,
// before what is published next, and not on a subscriber whose subscription
// began after it.
func TestTopicRepairAfterUnlisted(t *testing.T) {
	clock := &testClock{now: time.Now()}
	mem, err := topiclog.NewMemory(topiclog.Limits{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdge(t, func(c *Config) {
		// The heartbeat never ticks: the test runs refreshTopics itself.
		c.Now, c.TopicLog, c.HeartbeatInterval = clock.Now, mem, time.Hour
		c.Topics = c.Registry.(TopicDirectory)
	})
	router := &Router{Local: e.srv, Registry: e.reg, Topics: e.reg, TopicLog: mem}
	publish := func(id string) protocol.PublishResult {
		t.Helper()
		m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: clock.Now().UnixMilli(), Payload: payload(map[string]string{"title": id})}
		res, err := router.Publish(context.Background(), "news", m)
		if err != nil || res.Seq == 0 {
			t.Fatalf("publish %s: %+v %v", id, res, err)
		}
		return res
	}
	dial := func(name string) *device {
		t.Helper()
		tok, err := e.iss.IssueTopics("a1", name, time.Hour, []string{"news"})
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := e.dial("", name, http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		d := &device{tb: t, c: c}
		if _, ok := d.read().(*protocol.Welcome); !ok {
			t.Fatal("no welcome")
		}
		d.send(&protocol.Sub{Topics: []string{"news"}})
		if s, ok := d.read().(*protocol.Subs); !ok || s.Results[0].Status != protocol.TopicSubscribed {
			t.Fatalf("sub answered %+v", s)
		}
		return d
	}
	want := func(d *device, id string) *protocol.Msg {
		t.Helper()
		m := d.readMsg()
		if m.ID != id {
			t.Fatalf("got %s (%s), want %s", m.ID, m.Payload, id)
		}
		return m
	}

	tv := dial("tv1")
	if res := publish("m1"); res.Edges != 1 || res.Devices != 1 {
		t.Fatalf("m1 reached %+v", res)
	}
	want(tv, "m1")

	// The registry loses the edge's membership, as when Redis restarts
	// empty or a publisher prunes an edge whose liveness key expired.
	if err := e.reg.RemoveTopic(context.Background(), "news", "edge-1"); err != nil {
		t.Fatal(err)
	}
	res := publish("m2")
	if res.Edges != 0 || len(res.Failed) != 0 {
		t.Fatalf("m2 with the edge unlisted reached %+v, want no edge and none failed", res)
	}
	clock.advance(time.Second)
	late := dial("tab1") // subscribed after m2: it must not get it

	e.srv.refreshTopics(true)
	if m := want(tv, "m2"); m.Seq != res.Seq || m.Topic != "news" {
		t.Fatalf("caught up on %+v, want seq %d", m, res.Seq)
	}
	if res := publish("m3"); res.Edges != 1 || res.Devices != 2 {
		t.Fatalf("m3 after the repair reached %+v, want the edge and both devices", res)
	}
	want(tv, "m3")
	if m := want(late, "m3"); !strings.Contains(string(m.Payload), "m3") {
		t.Fatalf("late subscriber got %s", m.Payload)
	}

	// A second repair with nothing missed queues nothing again.
	e.srv.refreshTopics(true)
	publish("m4")
	want(tv, "m4")
	want(late, "m4")
	_ = tv.c.CloseNow()
	_ = late.c.CloseNow()
}

// failingLog is a TopicLog whose reads fail while fail is set.
type failingLog struct {
	*topiclog.Memory
	fail atomic.Bool
}

func (f *failingLog) After(ctx context.Context, topic string, after uint64, limit int) ([]topiclog.Entry, error) {
	if f.fail.Load() {
		return nil, errors.New("failingLog: unavailable")
	}
	return f.Memory.After(ctx, topic, after, limit)
}

// TestTopicRepairAfterFailedCatchUp checks that a device's catch-up whose log
// read failed is done again by the next heartbeat, from the device's cursor.
func TestTopicRepairAfterFailedCatchUp(t *testing.T) {
	clock := &testClock{now: time.Now()}
	mem, err := topiclog.NewMemory(topiclog.Limits{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingLog{Memory: mem}
	e := mustEdge(t, func(c *Config) {
		c.Now, c.TopicLog, c.HeartbeatInterval = clock.Now, fl, time.Hour
		c.Topics = c.Registry.(TopicDirectory)
	})
	router := &Router{Local: e.srv, Registry: e.reg, Topics: e.reg, TopicLog: fl}
	publish := func(id string) uint64 {
		t.Helper()
		m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: clock.Now().UnixMilli(), Payload: payload(map[string]string{"title": id})}
		res, err := router.Publish(context.Background(), "news", m)
		if err != nil || res.Seq == 0 {
			t.Fatalf("publish %s: %+v %v", id, res, err)
		}
		return res.Seq
	}
	cursor := publish("m0")
	publish("m1") // missed by the device, away
	tok, err := e.iss.IssueTopics("a1", "tv1", time.Hour, []string{"news"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.dial("", "tv1", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	tv := &device{tb: t, c: c}
	defer func() { _ = c.CloseNow() }()
	if _, ok := tv.read().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	fl.fail.Store(true)
	tv.subAfter("news", cursor) // the read fails: m1 does not come
	publish("m2")               // live
	if m := tv.readMsg(); m.ID != "m2" {
		t.Fatalf("got %s, want m2 live", m.ID)
	}
	fl.fail.Store(false)
	e.srv.refreshTopics(false)
	if m := tv.readMsg(); m.ID != "m1" {
		t.Fatalf("the heartbeat's catch-up queued %s first, want m1", m.ID)
	}
	// m2, which the device has, may come again (the SDKs drop it by id);
	// then what is published.
	publish("m3")
	m := tv.readMsg()
	if m.ID == "m2" {
		m = tv.readMsg()
	}
	if m.ID != "m3" {
		t.Fatalf("after the catch-up got %s, want m3", m.ID)
	}
}

// TestTopicCatchUpOverOutRate checks that a catch-up cut short by the
// outbound rate (or a full send queue) leaves no gap: the next heartbeat
// queues the rest of the log after the last message queued.
func TestTopicCatchUpOverOutRate(t *testing.T) {
	clock := &testClock{now: time.Now()}
	mem, err := topiclog.NewMemory(topiclog.Limits{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdge(t, func(c *Config) {
		c.Now, c.TopicLog, c.HeartbeatInterval = clock.Now, mem, time.Hour
		c.Topics = c.Registry.(TopicDirectory)
		c.MaxOutRate, c.MaxOutBurst = 1, 3
	})
	router := &Router{Local: e.srv, Registry: e.reg, Topics: e.reg, TopicLog: mem}
	publish := func(id string) uint64 {
		t.Helper()
		m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: clock.Now().UnixMilli(), Payload: payload(map[string]string{"title": id})}
		res, err := router.Publish(context.Background(), "news", m)
		if err != nil || res.Seq == 0 {
			t.Fatalf("publish %s: %+v %v", id, res, err)
		}
		return res.Seq
	}
	cursor := publish("m0")
	for _, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
		publish(id)
	}
	tok, err := e.iss.IssueTopics("a1", "tv1", time.Hour, []string{"news"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.dial("", "tv1", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CloseNow() }()
	tv := &device{tb: t, c: c}
	if _, ok := tv.read().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	tv.subAfter("news", cursor) // three fit the burst
	for _, id := range []string{"m1", "m2", "m3"} {
		if m := tv.readMsg(); m.ID != id {
			t.Fatalf("caught up on %s, want %s", m.ID, id)
		}
	}
	// The device can read m3 before the catch-up, on the edge's reader, has
	// met the rate at m4 and ended: the heartbeat comes after that.
	waitCatchUpEnded(t, e.srv, "news")
	clock.advance(10 * time.Second) // the bucket is full again
	e.srv.refreshTopics(false)
	for _, id := range []string{"m4", "m5", "m6"} {
		if m := tv.readMsg(); m.ID != id {
			t.Fatalf("the heartbeat's catch-up queued %s, want %s", m.ID, id)
		}
	}
}

// waitCatchUpEnded waits until no session subscribed to topic is catching up
// on it, for at most 5 s.
func waitCatchUpEnded(t *testing.T, srv *Server, topic string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := false
		for _, ss := range srv.topics.sessions(topic, nil) {
			ss.mu.Lock()
			if st := ss.topics; st != nil {
				if _, ok := st.catching[topic]; ok {
					busy = true
				}
			}
			ss.mu.Unlock()
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catch-up on %s has not ended after 5 s", topic)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHoldForRepairKeepsBusyRequest checks that a heartbeat coming while a
// session's own catch-up, cut short, has asked for a repair and not yet
// ended leaves the request for the next heartbeat instead of consuming it.
func TestHoldForRepairKeepsBusyRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wanted bool
	}{
		{"busy with a repair asked", true},
		{"busy with none asked", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{}
			ss := &session{srv: srv, topics: &sessionTopics{}}
			ss.topics.startCatching("news")
			if tc.wanted {
				ss.topics.repairFrom = map[string]uint64{"news": 3}
			}
			srv.topics.add("news", ss)
			rp := srv.holdForRepair()
			if len(rp["news"]) != 0 {
				t.Fatalf("a busy session was taken for repair: %v", rp)
			}
			if got := srv.topicRepair.Load(); got != tc.wanted {
				t.Fatalf("repair requested %v, want %v", got, tc.wanted)
			}
		})
	}
}
