package processor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// board is a Publisher over edges that hold subscribers of topics, as
// edge.Router is over its links: each publish counts the subscribers of the
// edges that answer and lists the others as failed.
type board struct {
	mu       sync.Mutex
	subs     map[string]map[string]int // topic -> edge -> subscribers
	down     map[string]bool           // edges that do not answer
	lookups  int                       // look-ups so far; those up to failFor fail
	failFor  int
	got      map[string][]string // topic -> ids published, in order
	deadline []time.Duration     // how long each publish had
}

func newBoard() *board {
	return &board{subs: map[string]map[string]int{}, down: map[string]bool{}, got: map[string][]string{}}
}

func (b *board) subscribe(topic, edge string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[string]int{}
	}
	b.subs[topic][edge] += n
}

var errDirectory = errors.New("registry: topic directory down")

func (b *board) Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lookups++
	if b.lookups <= b.failFor {
		return protocol.PublishResult{}, errDirectory
	}
	if dl, ok := ctx.Deadline(); ok {
		b.deadline = append(b.deadline, time.Until(dl))
	} else {
		b.deadline = append(b.deadline, -1)
	}
	if m.Topic != "" && m.Topic != topic {
		return protocol.PublishResult{}, errors.New("a message for another topic")
	}
	b.got[topic] = append(b.got[topic], m.ID)
	var res protocol.PublishResult
	edges := make([]string, 0, len(b.subs[topic]))
	for e := range b.subs[topic] {
		edges = append(edges, e)
	}
	slices.Sort(edges)
	for _, e := range edges {
		if b.down[e] {
			res.Failed = append(res.Failed, protocol.EdgeFailure{Edge: e, Error: "no answer from " + e + " in time"})
			continue
		}
		res.Edges++
		res.Devices += b.subs[topic][e]
	}
	return res, nil
}

func (b *board) published(topic string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got[topic])
}

// waitTopic waits until the topic message id has the outcome want and its
// accepted time, and returns its status.
func (p *pipeline) waitTopic(t *testing.T, id string, want Outcome) *MessageStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *MessageStatus
	for time.Now().Before(deadline) {
		st, err := p.store.Get(t.Context(), id)
		if err == nil {
			last = st
			// The message's queued event, which carries its accepted time,
			// is produced by the sender after Kafka took the message, and
			// may reach the store after the processor's outcome.
			if st.Status == want && st.Accepted != 0 {
				return st
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("status of %s never became %s; last: %+v", id, want, last)
	return nil
}

func startTopicPipeline(t *testing.T, b *board, start bool, adjust func(*Config)) *pipeline {
	t.Helper()
	p := startPipeline(t, newRecorder(), false)
	p.adjust = func(c *Config) {
		if b != nil {
			c.Publisher = b
		}
		if adjust != nil {
			adjust(c)
		}
	}
	if start {
		p.start(t)
	}
	return p
}

// TestProcessorPublishes: a message to a topic is one record, published once
// to the topic's edges; its status counts the edges and devices reached and
// names the edges that failed, and a topic's messages are published in order.
func TestProcessorPublishes(t *testing.T) {
	b := newBoard()
	b.subscribe("news.sports", "edge-1", 2)
	b.subscribe("news.sports", "edge-2", 3)
	b.subscribe("news.weather", "edge-2", 1)
	b.down["edge-3"] = true
	b.subscribe("news.weather", "edge-3", 4)
	p := startTopicPipeline(t, b, true, func(c *Config) { c.PublishTimeout = 3 * time.Second })

	m := p.send(t, Message{Topic: "news.sports"})
	st := p.waitTopic(t, m.ID, Published)
	want := &protocol.PublishResult{Edges: 2, Devices: 5}
	if st.Topic != "news.sports" || st.Account != "" || len(st.Devices) != 0 || st.Accepted != m.Accepted || st.At == 0 ||
		st.Published == nil || st.Published.Edges != want.Edges || st.Published.Devices != want.Devices || len(st.Published.Failed) != 0 {
		t.Fatalf("status = %+v (published %+v), want %+v", st, st.Published, want)
	}

	w := p.send(t, Message{Topic: "news.weather", Priority: protocol.PriorityHigh})
	st = p.waitTopic(t, w.ID, Published)
	if st.Published.Edges != 1 || st.Published.Devices != 1 || len(st.Published.Failed) != 1 || st.Published.Failed[0].Edge != "edge-3" {
		t.Fatalf("status with a failed edge = %+v", st.Published)
	}

	nobody := p.send(t, Message{Topic: "nobody.listens"})
	if st := p.waitTopic(t, nobody.ID, Published); st.Published.Edges != 0 || st.Published.Devices != 0 {
		t.Fatalf("a topic without subscribers: %+v", st.Published)
	}

	var order []string
	for range 50 {
		order = append(order, p.send(t, Message{Topic: "scores.live"}).ID)
	}
	p.waitTopic(t, order[len(order)-1], Published)
	if got := b.published("scores.live"); !slices.Equal(got, order) {
		t.Fatalf("published %v, want %v in order", got, order)
	}
	if got := b.published("news.sports"); len(got) != 1 {
		t.Fatalf("news.sports published %d times, want once", len(got))
	}
	for _, d := range b.deadline {
		if d <= 0 || d > 3*time.Second {
			t.Fatalf("a publish had %v, want a deadline within the PublishTimeout of 3s", d)
		}
	}
	if s := p.proc.Stats(); s.Published != 53 || s.Failed != 0 {
		t.Fatalf("stats %+v, want 53 published", s)
	}
}

// TestProcessorPublishRetriesLookup: a topic directory that cannot be read is
// retried (nothing was sent); one that stays so makes the message failed with
// unavailable, and nothing is published.
func TestProcessorPublishRetriesLookup(t *testing.T) {
	b := newBoard()
	b.subscribe("news.sports", "edge-1", 1)
	b.failFor = 2
	p := startTopicPipeline(t, b, true, func(c *Config) { c.MaxAttempts = 3 })
	m := p.send(t, Message{Topic: "news.sports"})
	if st := p.waitTopic(t, m.ID, Published); st.Published.Devices != 1 {
		t.Fatalf("after two failed look-ups: %+v", st.Published)
	}

	b.mu.Lock()
	b.failFor = b.lookups + 3
	b.mu.Unlock()
	f := p.send(t, Message{Topic: "news.sports"})
	st := p.waitTopic(t, f.ID, Failed)
	if !strings.HasPrefix(st.Error, string(protocol.CodeUnavailable)) || !strings.Contains(st.Error, errDirectory.Error()) || st.Published != nil {
		t.Fatalf("status = %+v, want failed with unavailable", st)
	}
	if got := b.published("news.sports"); len(got) != 1 || got[0] != m.ID {
		t.Fatalf("published %v, want only %s", got, m.ID)
	}
}

// TestProcessorPublishExpired: a message to a topic whose ttl passed before it
// was processed is expired and never published; a processor without a
// Publisher fails the others, it does not drop them silently.
func TestProcessorPublishExpired(t *testing.T) {
	t.Run("expired", func(t *testing.T) {
		b := newBoard()
		p := startTopicPipeline(t, b, false, nil)
		old := time.Now().Add(-time.Minute).UnixMilli()
		m := p.send(t, Message{Topic: "news.sports", Accepted: old, Expires: old + 1000})
		live := p.send(t, Message{Topic: "news.sports"})
		p.start(t)
		p.waitTopic(t, m.ID, Expired)
		p.waitTopic(t, live.ID, Published)
		if got := b.published("news.sports"); len(got) != 1 || got[0] != live.ID {
			t.Fatalf("published %v, want only %s", got, live.ID)
		}
	})
	t.Run("no publisher", func(t *testing.T) {
		p := startTopicPipeline(t, nil, true, nil)
		m := p.send(t, Message{Topic: "news.sports"})
		if st := p.waitTopic(t, m.ID, Failed); st.Error != errNoPublisher.Error() {
			t.Fatalf("status = %+v", st)
		}
	})
}

func TestMessageValidateTargets(t *testing.T) {
	base := func(m Message) *Message {
		m.ID, m.Type, m.Payload, m.Accepted, m.Priority = "m1", "notification.v1", []byte(`{}`), 1, protocol.PriorityNormal
		return &m
	}
	long := strings.Repeat("a", protocol.MaxTopicLen+1)
	cases := []struct {
		name string
		m    *Message
		ok   bool
	}{
		{"account", base(Message{Account: "a1"}), true},
		{"device", base(Message{Account: "a1", Device: "tv1"}), true},
		{"topic", base(Message{Topic: "news.sports"}), true},
		{"topic of the longest name", base(Message{Topic: long[1:]}), true},
		{"neither", base(Message{}), false},
		{"account and topic", base(Message{Account: "a1", Topic: "news"}), false},
		{"device without account", base(Message{Device: "tv1", Topic: "news"}), false},
		{"invalid topic", base(Message{Topic: "news..x"}), false},
		{"topic over the longest name", base(Message{Topic: long}), false},
		{"topic with a collapse key", base(Message{Topic: "news", CollapseKey: "k"}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.m.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
	if k := string(base(Message{Topic: "news"}).Key()); k != "topic:news" {
		t.Errorf("Key() = %q", k)
	}
}
