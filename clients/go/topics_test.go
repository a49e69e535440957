package herald_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/topiclog"
)

// oneEdge is a topic directory that names edge-1 for every topic.
type oneEdge struct{}

func (oneEdge) AddTopic(context.Context, string, string) error       { return nil }
func (oneEdge) RemoveTopic(context.Context, string, string) error    { return nil }
func (oneEdge) AddTopics(context.Context, string, []string) error    { return nil }
func (oneEdge) TopicEdges(context.Context, string) ([]string, error) { return []string{"edge-1"}, nil }

// gatedDialer dials TCP, keeps the connections it made so that a test can
// cut them, and holds the dials after the first until open is closed.
type gatedDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dials int
	open  chan struct{}
}

func (g *gatedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	g.dials++
	n := g.dials
	g.mu.Unlock()
	if n > 1 {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
	}
	return c, err
}

func (g *gatedDialer) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		_ = c.Close()
	}
}

// TestSubscribeCatchesUp checks the SDK's topics against a real edge with a
// topic log: Subscribe delivers what is published, and after a lost
// connection the client subscribes again with its cursor and gets what was
// published meanwhile, in order, each message once.
func TestSubscribeCatchesUp(t *testing.T) {
	log, err := topiclog.NewMemory(topiclog.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdge(t, edge.Config{TopicLog: log})
	router := &edge.Router{Local: e.srv, Topics: oneEdge{}, TopicLog: log}
	publish := func(id string) {
		t.Helper()
		m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "news"}, TS: time.Now().UnixMilli(), TTL: 600, Payload: []byte(`{"title":"` + id + `"}`)}
		if _, err := router.Publish(context.Background(), "news", m); err != nil {
			t.Fatal(err)
		}
	}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.IssueTopics("a1", "tv1", time.Hour, []string{"news"})
	if err != nil {
		t.Fatal(err)
	}
	dialer := &gatedDialer{open: make(chan struct{})}
	var mu sync.Mutex
	var got []string
	subscribed := make(chan struct{}, 4)
	c, err := herald.New(herald.Config{
		URL: e.url, Token: tok,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
		OnMessage: func(m *protocol.Msg) {
			mu.Lock()
			got = append(got, m.ID)
			mu.Unlock()
		},
		OnFrame: func(f protocol.Frame) {
			if s, ok := f.(*protocol.Subs); ok && s.Results[0].Status == protocol.TopicSubscribed {
				subscribed <- struct{}{}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(context.Background(), "news"); err == nil {
		t.Fatal("Subscribe before Run: want ErrNotConnected")
	}
	if err := c.Subscribe(context.Background(), "bad..name"); err == nil || strings.Contains(err.Error(), "bad..name") {
		t.Fatalf("Subscribe of an invalid name: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-subscribed
	received := func(want ...string) {
		t.Helper()
		waitUntil(t, "the messages "+strings.Join(want, ","), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Equal(got, want)
		})
	}
	publish("p1")
	received("p1")

	dialer.cut() // the client reconnects, held back until the two below are published
	waitUntil(t, "tv1 to leave the topic", func() bool { return e.srv.TopicSubscribers("news") == 0 })
	publish("p2")
	publish("p3")
	close(dialer.open)
	<-subscribed
	// p4 only once the catch-up has delivered p2 and p3: published while the
	// edge still reads the log, it could be counted as caught up as well.
	received("p1", "p2", "p3")
	publish("p4")
	received("p1", "p2", "p3", "p4")
	if n := e.counter(t, "herald_edge_topic_caught_up_total"); n != 2 {
		t.Errorf("caught up on %v messages, want p2 and p3", n)
	}
}

// counter returns the value of a counter without labels, 0 when absent.
func (e *realEdge) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
