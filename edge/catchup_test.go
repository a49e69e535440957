package edge

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/topiclog"
)

// heldLog is a TopicLog whose After reads the log at once and then waits for
// release before answering, so that a test can publish while a device
// catches up.
type heldLog struct {
	*topiclog.Memory
	reading, release chan struct{}
}

func (h *heldLog) After(ctx context.Context, topic string, after uint64, limit int) ([]topiclog.Entry, error) {
	es, err := h.Memory.After(ctx, topic, after, limit)
	if h.reading != nil {
		close(h.reading)
		<-h.release
	}
	return es, err
}

// thisEdge is a topic directory that names one edge for every topic.
type thisEdge struct{ id string }

func (thisEdge) AddTopic(context.Context, string, string) error         { return nil }
func (thisEdge) RemoveTopic(context.Context, string, string) error      { return nil }
func (thisEdge) AddTopics(context.Context, string, []string) error      { return nil }
func (e thisEdge) TopicEdges(context.Context, string) ([]string, error) { return []string{e.id}, nil }

// subAfter subscribes d to topic with cursor and reads the answer.
func (d *device) subAfter(topic string, cursor uint64) {
	d.tb.Helper()
	d.send(&protocol.Sub{Topics: []string{topic}, After: map[string]uint64{topic: cursor}})
	if s, ok := d.read().(*protocol.Subs); !ok || s.Results[0].Status != protocol.TopicSubscribed {
		d.tb.Fatalf("sub answered %+v", s)
	}
}

// TestTopicCatchUp checks that a device subscribing with a cursor first gets
// what the topic's log holds after it, in order, with each message's seq and
// the ttl it has left, nothing that expired, and then what is published; that
// a publish during the catch-up is held back and comes after the log's
// messages, once; and that a sub without a cursor starts with what is
// published from then on.
func TestTopicCatchUp(t *testing.T) {
	clock := &testClock{now: time.Now()}
	mem, err := topiclog.NewMemory(topiclog.Limits{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	hl := &heldLog{Memory: mem}
	var router *Router
	e := mustEdge(t, func(c *Config) { c.Now, c.TopicLog = clock.Now, hl })
	router = &Router{Local: e.srv, Registry: e.reg, Topics: thisEdge{e.srv.ID()}, TopicLog: hl}
	publish := func(id string, ttl int) uint64 {
		t.Helper()
		m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: clock.Now().UnixMilli(), TTL: ttl, Payload: payload(map[string]string{"title": id})}
		res, err := router.Publish(context.Background(), "news", m)
		if err != nil || res.Seq == 0 {
			t.Fatalf("publish %s: %+v %v", id, res, err)
		}
		return res.Seq
	}
	dial := func() *device {
		tok, err := e.iss.IssueTopics("a1", "tv1", time.Hour, []string{"news"})
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := e.dial("", "tv1", http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		d := &device{tb: t, c: c}
		if _, ok := d.read().(*protocol.Welcome); !ok {
			t.Fatal("no welcome")
		}
		return d
	}

	tv := dial()
	tv.sub(false, "", "news") // no cursor: from now on
	s1 := publish("p1", 600)
	if m := tv.readMsg(); m.ID != "p1" || m.Seq != s1 || m.Topic != "news" {
		t.Fatalf("got %+v, want p1 live with seq %d", m, s1)
	}
	_ = tv.c.CloseNow()
	eventually(t, "tv1 to leave the topic", func() bool { return e.srv.TopicSubscribers("news") == 0 })

	s2 := publish("p2", 600)
	s3 := publish("p3", 30)
	clock.advance(10 * time.Second)
	tv = dial()
	tv.subAfter("news", s1)
	for _, want := range []struct {
		id  string
		seq uint64
		ttl int
	}{{"p2", s2, 590}, {"p3", s3, 20}} {
		if m := tv.readMsg(); m.ID != want.id || m.Seq != want.seq || m.TTL != want.ttl || m.Topic != "news" {
			t.Fatalf("caught up on %+v, want %s seq %d ttl %d", m, want.id, want.seq, want.ttl)
		}
	}
	s4 := publish("p4", 600)
	if m := tv.readMsg(); m.ID != "p4" || m.Seq != s4 {
		t.Fatalf("after the catch-up got %+v, want p4 live", m)
	}
	_ = tv.c.CloseNow()
	eventually(t, "tv1 to leave the topic", func() bool { return e.srv.TopicSubscribers("news") == 0 })

	// p3 expires; a cursor before p2 gets p2 and p4, not p3.
	clock.advance(30 * time.Second)
	tv = dial()
	tv.subAfter("news", s1)
	var got []string
	for range 2 {
		got = append(got, tv.readMsg().ID)
	}
	if !slices.Equal(got, []string{"p2", "p4"}) {
		t.Fatalf("caught up on %v, want p2 and p4 (p3 expired)", got)
	}

	// A publish while the device catches up is held back, and comes after
	// the log's messages, once.
	_ = tv.c.CloseNow()
	eventually(t, "tv1 to leave the topic", func() bool { return e.srv.TopicSubscribers("news") == 0 })
	hl.reading, hl.release = make(chan struct{}), make(chan struct{})
	tv = dial()
	tv.send(&protocol.Sub{Topics: []string{"news"}, After: map[string]uint64{"news": s2}})
	<-hl.reading
	s5 := publish("p5", 600)
	close(hl.release)
	if s, ok := tv.read().(*protocol.Subs); !ok || s.Results[0].Status != protocol.TopicSubscribed {
		t.Fatalf("sub answered %+v", s)
	}
	got = got[:0]
	for range 2 {
		m := tv.readMsg()
		got = append(got, m.ID)
		if m.ID == "p5" && m.Seq != s5 {
			t.Errorf("p5 seq %d, want %d", m.Seq, s5)
		}
	}
	if !slices.Equal(got, []string{"p4", "p5"}) {
		t.Fatalf("got %v, want p4 from the log, then p5 held back", got)
	}
	hl.reading = nil
	s6 := publish("p6", 600)
	if m := tv.readMsg(); m.ID != "p6" || m.Seq != s6 {
		t.Fatalf("got %+v, want p6 (p5 only once)", m)
	}

	// A cursor for a topic the frame does not subscribe to is a bad frame.
	tv.send(&protocol.Sub{Topics: []string{"news"}, After: map[string]uint64{"other": 1}})
	if f, ok := tv.read().(*protocol.Error); !ok || f.Code != protocol.CodeBadFrame {
		t.Fatalf("got %+v, want a bad_frame error", f)
	}
}

// TestTopicCatchUpBeyondTheSendQueue: a catch-up of more messages than the
// send queue holds waits for the device instead of overflowing the queue:
// every message arrives, in order.
func TestTopicCatchUpBeyondTheSendQueue(t *testing.T) {
	mem, err := topiclog.NewMemory(topiclog.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdge(t, func(c *Config) { c.TopicLog, c.SendQueue, c.InboxPage, c.TopicCatchUp = mem, 8, 4, 50 })
	router := &Router{Local: e.srv, Registry: e.reg, Topics: thisEdge{e.srv.ID()}, TopicLog: mem}
	var seqs []uint64
	for i := range 40 {
		m := &protocol.Msg{ID: "m" + strconv.Itoa(i), Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: time.Now().UnixMilli(), TTL: 600, Payload: payload(map[string]string{"title": "x"})}
		res, err := router.Publish(context.Background(), "news", m)
		if err != nil || res.Seq == 0 {
			t.Fatalf("publish: %+v %v", res, err)
		}
		seqs = append(seqs, res.Seq)
	}
	d := e.mustDialTopics(t, "a1", "tv1", "news")
	d.subAfter("news", 0)
	for i, want := range seqs {
		if m := d.readMsg(); m.Seq != want || m.ID != "m"+strconv.Itoa(i) {
			t.Fatalf("message %d: %+v, want seq %d", i, m, want)
		}
	}
}
