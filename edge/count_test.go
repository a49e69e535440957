package edge

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// TestTopicCountAcrossEdges counts a topic's subscribers on three edges that
// share a topic directory: each edge counts its own (the asking edge
// directly, the others over count frames), an edge without subscribers is not
// asked, and an edge whose link is down is listed failed, its subscribers not
// counted.
func TestTopicCountAcrossEdges(t *testing.T) {
	edges, book := mustCluster(t, 3, func(c *Config) { c.Topics = c.Registry.(TopicDirectory) })
	for _, e := range edges {
		e.router.Topics = e.reg
	}
	for _, d := range []struct {
		e            int
		account, dev string
		topics       []string
	}{
		{0, "a1", "tv1", []string{"news.sports"}},
		{0, "a2", "tv1", []string{"news.sports", "news.weather"}},
		{1, "a3", "phone1", []string{"news.sports"}},
		{2, "a4", "tab1", []string{"news.weather"}},
	} {
		dev := edges[d.e].mustDialTopics(t, d.account, d.dev, "*")
		for _, r := range dev.sub(false, "s", d.topics...) {
			if r.Status != protocol.TopicSubscribed {
				t.Fatalf("sub answered %+v", r)
			}
		}
	}
	count := func(from int, topic string) protocol.TopicSubscribers {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := edges[from].router.TopicCount(ctx, topic)
		if err != nil {
			t.Fatalf("TopicCount(%s) from %s: %v", topic, edges[from].srv.ID(), err)
		}
		return res
	}
	want := protocol.TopicSubscribers{Topic: "news.sports", Subscribers: 3,
		Edges: []protocol.EdgeSubscribers{{Edge: "edge-1", Subscribers: 2}, {Edge: "edge-2", Subscribers: 1}}}
	for from := range edges {
		if got := count(from, "news.sports"); !reflect.DeepEqual(got, want) {
			t.Fatalf("from edge-%d: %+v, want %+v", from+1, got, want)
		}
	}
	if got := count(1, "nobody.here"); got.Subscribers != 0 || len(got.Edges) != 0 || got.Edges == nil || len(got.Failed) != 0 {
		t.Fatalf("a topic without subscribers: %+v", got)
	}

	// edge-3's link listener goes away: its subscriber is not counted, and
	// the answer says which edge failed.
	edges[2].linkHS.Close()
	book.mu.Lock()
	book.addrs["edge-3"] = "http://127.0.0.1:1"
	book.mu.Unlock()
	got := count(1, "news.weather")
	if got.Subscribers != 1 || len(got.Edges) != 1 || got.Edges[0] != (protocol.EdgeSubscribers{Edge: "edge-1", Subscribers: 1}) ||
		len(got.Failed) != 1 || got.Failed[0].Edge != "edge-3" || !strings.Contains(got.Failed[0].Error, "edge-3") {
		t.Fatalf("with edge-3 unreachable: %+v", got)
	}
}

// TestTopicCountWithoutDirectory: a Router without a topic directory cannot
// count.
func TestTopicCountWithoutDirectory(t *testing.T) {
	if _, err := (&Router{}).TopicCount(context.Background(), "news"); err != ErrNoTopics {
		t.Fatalf("err = %v, want ErrNoTopics", err)
	}
}

// TestLinkFramesPerPublish checks herald_edge_link_frames_total: a publish
// costs each other edge with subscribers one publish frame, whatever its
// number of subscribers, and the publishing edge none (it fans out locally).
func TestLinkFramesPerPublish(t *testing.T) {
	edges, _ := mustCluster(t, 3, func(c *Config) { c.Topics = c.Registry.(TopicDirectory) })
	for _, e := range edges {
		e.router.Topics = e.reg
	}
	subs := []int{2, 1, 3}
	var devs []*device
	for i, n := range subs {
		for k := range n {
			d := edges[i].mustDialTopics(t, "a"+strconv.Itoa(i), "d"+strconv.Itoa(k), "news")
			if r := d.sub(false, "s", "news"); r[0].Status != protocol.TopicSubscribed {
				t.Fatalf("sub answered %+v", r)
			}
			devs = append(devs, d)
		}
	}
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m := &protocol.Msg{ID: "p" + strconv.Itoa(i), Type: "notification.v1", From: &protocol.Sender{Service: "news"},
			TS: time.Now().UnixMilli(), Payload: payload(map[string]string{"title": "x"})}
		res, err := edges[0].router.Publish(ctx, "news", m)
		cancel()
		if err != nil || res.Edges != 3 || res.Devices != 6 {
			t.Fatalf("publish: %+v, %v", res, err)
		}
	}
	for _, d := range devs {
		for range 2 {
			if m := d.readMsg(); m.Topic != "news" {
				t.Fatalf("got %+v", m)
			}
		}
	}
	for i, want := range []float64{0, 2, 2} {
		if got := edges[i].metric(t, "herald_edge_link_frames_total", "kind", "publish"); got != want {
			t.Errorf("edge-%d read %v publish frames for 2 publishes, want %v", i+1, got, want)
		}
		if got := edges[i].metric(t, "herald_edge_link_frames_total", "kind", "msg"); got != 0 {
			t.Errorf("edge-%d read %v msg frames, want 0", i+1, got)
		}
	}
}
