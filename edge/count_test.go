package edge

import (
	"context"
	"reflect"
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
