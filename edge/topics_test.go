package edge

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// mustDialTopics connects account/dev with a token granting patterns.
func (e *testEdge) mustDialTopics(tb testing.TB, account, dev string, patterns ...string) *device {
	tb.Helper()
	tok, err := e.iss.IssueTopics(account, dev, time.Hour, patterns)
	if err != nil {
		tb.Fatal(err)
	}
	c, _, err := e.dial("", dev, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		tb.Fatalf("dial %s/%s: %v", account, dev, err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: tb, c: c}
	if _, ok := d.read().(*protocol.Welcome); !ok {
		tb.Fatal("first frame is not a welcome")
	}
	return d
}

// sub sends a sub (or, with unsub, an unsub) of topics and returns the
// statuses of the answer.
func (d *device) sub(unsub bool, id string, topics ...string) []protocol.TopicResult {
	d.tb.Helper()
	if unsub {
		d.send(&protocol.Unsub{ID: id, Topics: topics})
	} else {
		d.send(&protocol.Sub{ID: id, Topics: topics})
	}
	s, ok := d.read().(*protocol.Subs)
	if !ok || s.ID != id || len(s.Results) != len(topics) {
		d.tb.Fatalf("answer %+v, want subs %s with %d results", s, id, len(topics))
	}
	return s.Results
}

// TestTopicSubscriptions checks the sub and unsub frames against the token's
// grants and MaxTopics, and that a publish reaches each subscriber of this edge
// once, with its topic, and nobody else.
func TestTopicSubscriptions(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.MaxTopics = 3 })
	tv := e.mustDialTopics(t, "a1", "tv1", "news.*", "scores.live")
	other := e.mustDialTopics(t, "a2", "phone1", "*")
	none := e.mustDial(t, "a3", "tab1")

	for _, step := range []struct {
		d      *device
		unsub  bool
		topics []string
		want   []protocol.TopicResult
	}{
		{tv, false, []string{"news.sports", "scores.live", "scores.other"}, []protocol.TopicResult{
			{Topic: "news.sports", Status: protocol.TopicSubscribed},
			{Topic: "scores.live", Status: protocol.TopicSubscribed},
			{Topic: "scores.other", Status: protocol.TopicForbidden},
		}},
		{tv, false, []string{"news", "bad..name", "news.sports"}, []protocol.TopicResult{
			{Topic: "news", Status: protocol.TopicForbidden},
			{Status: protocol.TopicInvalid}, // an invalid name is not echoed
			{Topic: "news.sports", Status: protocol.TopicSubscribed},
		}},
		{tv, false, []string{"news.tech"}, []protocol.TopicResult{{Topic: "news.tech", Status: protocol.TopicSubscribed}}},
		{tv, false, []string{"news.world"}, []protocol.TopicResult{{Topic: "news.world", Status: protocol.TopicLimit}}},
		{none, false, []string{"news.sports"}, []protocol.TopicResult{{Topic: "news.sports", Status: protocol.TopicForbidden}}},
		{other, false, []string{"news.sports"}, []protocol.TopicResult{{Topic: "news.sports", Status: protocol.TopicSubscribed}}},
	} {
		if got := step.d.sub(step.unsub, "s", step.topics...); !slices.Equal(got, step.want) {
			t.Fatalf("sub %q: %+v, want %+v", step.topics, got, step.want)
		}
	}
	if n := e.srv.TopicSubscribers("news.sports"); n != 2 {
		t.Fatalf("news.sports has %d subscribers here, want 2", n)
	}

	// A frame of more topics than MaxTopics, or with an id that breaks the
	// rule, is a bad frame.
	tv.send(&protocol.Sub{Topics: []string{"news.a", "news.b", "news.c", "news.d"}})
	if f, ok := tv.read().(*protocol.Error); !ok || f.Code != protocol.CodeBadFrame || !strings.Contains(f.Message, "at most 3") {
		t.Fatalf("a sub of 4 topics got %+v, want a bad_frame error", f)
	}
	tv.write(`{"t":"sub","id":"a b","topics":["news.a"]}`)
	if f, ok := tv.read().(*protocol.Error); !ok || f.Code != protocol.CodeBadFrame {
		t.Fatalf("a sub with a bad id got %+v, want a bad_frame error", f)
	}

	publish := func(topic, id string) TopicCount {
		t.Helper()
		c, err := e.srv.PublishLocal(topic, &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, Payload: payload(map[string]string{"title": id})})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := publish("news.sports", "p1"); c != (TopicCount{Devices: 2}) {
		t.Fatalf("publish reached %+v, want 2 devices", c)
	}
	for _, d := range []*device{tv, other} {
		if m := d.readMsg(); m.ID != "p1" || m.Topic != "news.sports" || m.From == nil || m.From.Service != "news" {
			t.Fatalf("subscriber got %+v, want p1 through news.sports", m)
		}
	}

	if got := tv.sub(true, "u1", "news.sports", "x..y"); !slices.Equal(got, []protocol.TopicResult{
		{Topic: "news.sports", Status: protocol.TopicUnsubscribed}, {Status: protocol.TopicInvalid},
	}) {
		t.Fatalf("unsub: %+v", got)
	}
	if c := publish("news.sports", "p2"); c != (TopicCount{Devices: 1}) {
		t.Fatalf("publish after an unsub reached %+v, want 1 device", c)
	}
	if c := publish("scores.live", "p3"); c != (TopicCount{Devices: 1}) {
		t.Fatalf("publish to scores.live reached %+v, want 1 device", c)
	}
	if m := tv.readMsg(); m.ID != "p3" {
		t.Fatalf("tv got %+v first, want p3: it left news.sports", m)
	}
	if m := other.readMsg(); m.ID != "p2" {
		t.Fatalf("other got %+v, want p2", m)
	}
	if c := publish("nobody.here", "p4"); c != (TopicCount{}) {
		t.Fatalf("a topic without subscribers reached %+v", c)
	}

	// A session that ends leaves every topic it held.
	_ = other.c.CloseNow()
	eventually(t, "phone1's subscription to end", func() bool { return e.srv.TopicSubscribers("news.sports") == 0 })
	if n := e.metric(t, "herald_edge_topic_subscriptions"); n != 2 {
		t.Errorf("herald_edge_topic_subscriptions = %v, want tv's 2", n)
	}
}

// TestTopicSubscriptionsBound checks MaxTopics at its edge: a connection holds
// exactly MaxTopics subscriptions, and an unsub frees a place.
func TestTopicSubscriptionsBound(t *testing.T) {
	const max = 5
	e := mustEdge(t, func(c *Config) { c.MaxTopics = max })
	d := e.mustDialTopics(t, "a1", "tv1", "*")
	var topics []string
	for i := range max {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	for _, r := range d.sub(false, "", topics...) {
		if r.Status != protocol.TopicSubscribed {
			t.Fatalf("%+v, want subscribed up to MaxTopics", r)
		}
	}
	if r := d.sub(false, "", "t9"); r[0].Status != protocol.TopicLimit {
		t.Fatalf("one past MaxTopics: %+v, want limit", r)
	}
	d.sub(true, "", "t0")
	if r := d.sub(false, "", "t9"); r[0].Status != protocol.TopicSubscribed {
		t.Fatalf("after an unsub: %+v, want subscribed", r)
	}
}

// recordedTopics is a TopicDirectory that records its calls; AddTopic fails
// while failAdd is set.
type recordedTopics struct {
	mu      sync.Mutex
	calls   []string
	failAdd bool
}

func (r *recordedTopics) record(call string, fail bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fail {
		r.calls = append(r.calls, call+" failed")
		return errors.New("registry down")
	}
	r.calls = append(r.calls, call)
	return nil
}

func (r *recordedTopics) AddTopic(_ context.Context, topic, edge string) error {
	r.mu.Lock()
	fail := r.failAdd
	r.mu.Unlock()
	return r.record("add "+topic+"@"+edge, fail)
}

func (r *recordedTopics) RemoveTopic(_ context.Context, topic, edge string) error {
	return r.record("remove "+topic+"@"+edge, false)
}

func (r *recordedTopics) AddTopics(_ context.Context, edge string, topics []string) error {
	slices.Sort(topics)
	return r.record("add all "+strings.Join(topics, ",")+"@"+edge, false)
}

func (r *recordedTopics) TopicEdges(context.Context, string) ([]string, error) { return nil, nil }

func (r *recordedTopics) has(call string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.calls, call)
}

// TestTopicDirectoryCalls checks what the edge tells the topic directory: a
// topic's first subscriber adds it before the sub is answered, a second adds
// nothing, the last to leave has it withdrawn at the next heartbeat (followed
// by a batch of the topics still held), and a failed add is made good by the
// batch of the next heartbeat.
func TestTopicDirectoryCalls(t *testing.T) {
	dir := &recordedTopics{}
	e := mustEdge(t, func(c *Config) {
		c.Topics, c.HeartbeatInterval, c.TopicRefresh = dir, 20*time.Millisecond, time.Hour
	})
	a := e.mustDialTopics(t, "a1", "tv1", "*")
	b := e.mustDialTopics(t, "a2", "tv1", "*")
	a.sub(false, "", "news")
	if !dir.has("add news@" + e.srv.ID()) {
		t.Fatalf("calls %q after the first subscriber's answer, want the add", dir.calls)
	}
	b.sub(false, "", "news", "scores")
	dir.mu.Lock()
	adds := 0
	for _, c := range dir.calls {
		if c == "add news@"+e.srv.ID() {
			adds++
		}
	}
	dir.mu.Unlock()
	if adds != 1 {
		t.Fatalf("news added %d times for two subscribers, want once", adds)
	}
	a.sub(true, "", "news")
	b.sub(true, "", "news")
	eventually(t, "news withdrawn, scores added again", func() bool {
		return dir.has("remove news@"+e.srv.ID()) && dir.has("add all scores@"+e.srv.ID())
	})

	dir.mu.Lock()
	dir.failAdd = true
	dir.mu.Unlock()
	a.sub(false, "", "weather")
	dir.mu.Lock()
	dir.failAdd = false
	dir.mu.Unlock()
	eventually(t, "the failed add made good by the next heartbeat", func() bool {
		return dir.has("add all scores,weather@" + e.srv.ID())
	})
}
