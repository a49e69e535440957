package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustAddTopic(tb testing.TB, reg topics, topic, edge string) {
	tb.Helper()
	if err := reg.AddTopic(testContext(tb), topic, edge); err != nil {
		tb.Fatalf("AddTopic(%s, %s): %v", topic, edge, err)
	}
}

func mustRemoveTopic(tb testing.TB, reg topics, topic, edge string) {
	tb.Helper()
	if err := reg.RemoveTopic(testContext(tb), topic, edge); err != nil {
		tb.Fatalf("RemoveTopic(%s, %s): %v", topic, edge, err)
	}
}

func mustAddTopics(tb testing.TB, reg topics, edge string, list ...string) {
	tb.Helper()
	if err := reg.AddTopics(testContext(tb), edge, list); err != nil {
		tb.Fatalf("AddTopics(%s, %d topics): %v", edge, len(list), err)
	}
}

// topicEdgesAre returns an error unless TopicEdges(topic) is want, in order
// and never nil.
func topicEdgesAre(tb testing.TB, reg topics, topic string, want ...string) error {
	tb.Helper()
	got, err := reg.TopicEdges(testContext(tb), topic)
	if err != nil {
		return fmt.Errorf("TopicEdges(%s): %w", topic, err)
	}
	if got == nil || !slices.Equal(got, want) {
		return fmt.Errorf("TopicEdges(%s) = %#v, want %#v", topic, got, want)
	}
	return nil
}

func mustTopicEdges(tb testing.TB, reg topics, topic string, want ...string) {
	tb.Helper()
	if err := topicEdgesAre(tb, reg, topic, want...); err != nil {
		tb.Fatal(err)
	}
}

func testTopics(t *testing.T, reg subject) {
	for _, e := range []string{"e1", "e2", "e3"} {
		mustHeartbeat(t, reg, e)
	}
	mustTopicEdges(t, reg, "news.sport")
	mustAddTopic(t, reg, "news.sport", "e2")
	mustAddTopic(t, reg, "news.sport", "e1")
	mustAddTopic(t, reg, "news.sport", "e1") // a second add changes nothing
	mustAddTopic(t, reg, "news", "e3")
	mustTopicEdges(t, reg, "news.sport", "e1", "e2")
	mustTopicEdges(t, reg, "news", "e3")
	mustTopicEdges(t, reg, "news.sport.football")

	mustRemoveTopic(t, reg, "news.sport", "e1")
	mustTopicEdges(t, reg, "news.sport", "e2")
	mustRemoveTopic(t, reg, "news.sport", "e1") // already gone
	mustRemoveTopic(t, reg, "news.sport", "e2")
	mustTopicEdges(t, reg, "news.sport")
	mustRemoveTopic(t, reg, "never-added", "e1")
	mustTopicEdges(t, reg, "news", "e3")
}

// testTopicsExpiredEdge checks that an edge that stops heartbeating (as a
// crashed one does) leaves the topic's edges once its liveness expires, that
// its membership is dropped rather than revived by its next heartbeat, and
// that it comes back by adding its topics again, as an edge does when its
// heartbeat reports fresh.
func testTopicsExpiredEdge(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "crashed")
	mustHeartbeat(t, reg, "alive")
	mustAddTopic(t, reg, "t1", "crashed")
	mustAddTopic(t, reg, "t1", "alive")
	mustAddTopic(t, reg, "t2", "crashed")
	mustTopicEdges(t, reg, "t1", "alive", "crashed")

	eventually(t, "TopicEdges of a topic of an edge that stopped heartbeating", func() error {
		mustHeartbeat(t, reg, "alive")
		return topicEdgesAre(t, reg, "t1", "alive")
	})
	if !mustHeartbeat(t, reg, "crashed") {
		t.Fatal("Heartbeat after expiry: fresh = false, want true")
	}
	mustTopicEdges(t, reg, "t1", "alive")
	mustAddTopics(t, reg, "crashed", "t1", "t2")
	mustTopicEdges(t, reg, "t1", "alive", "crashed")
	mustTopicEdges(t, reg, "t2", "crashed")
}

func testTopicsRemovedEdge(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	mustAddTopic(t, reg, "t1", "e1")
	mustAddTopic(t, reg, "t1", "e2")
	if err := reg.RemoveEdge(testContext(t), "e1"); err != nil {
		t.Fatalf("RemoveEdge: %v", err)
	}
	mustTopicEdges(t, reg, "t1", "e2")
	if !mustHeartbeat(t, reg, "e1") {
		t.Fatal("Heartbeat after RemoveEdge: fresh = false, want true")
	}
	mustTopicEdges(t, reg, "t1", "e2")
	mustAddTopics(t, reg, "e1", "t1")
	mustTopicEdges(t, reg, "t1", "e1", "e2")
}

// testTopicsResync adds more topics than one batch of AddTopics, as an edge
// with many topics does after its registry data was lost.
func testTopicsResync(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	var all []string
	for i := range 600 {
		all = append(all, fmt.Sprintf("room.%d", i))
	}
	mustAddTopics(t, reg, "e1", all...)
	mustAddTopics(t, reg, "e2", all[:10]...)
	mustAddTopics(t, reg, "e2", all[5:10]...) // again: changes nothing
	mustAddTopics(t, reg, "e2")               // none
	for i, topic := range all {
		if i < 10 {
			mustTopicEdges(t, reg, topic, "e1", "e2")
		} else {
			mustTopicEdges(t, reg, topic, "e1")
		}
	}
}

// testTopicExpiry checks that a topic's entry ends TopicTTL after its last
// add, however live its edges, and that adding it again brings it back.
func testTopicExpiry(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "e1")
	mustAddTopic(t, reg, "t1", "e1")
	mustTopicEdges(t, reg, "t1", "e1")
	eventually(t, "TopicEdges of a topic not added again within TopicTTL", func() error {
		mustHeartbeat(t, reg, "e1")
		return topicEdgesAre(t, reg, "t1")
	})
	mustAddTopics(t, reg, "e1", "t1")
	mustTopicEdges(t, reg, "t1", "e1")
}

// testTopicsReadYourWrites alternates writes and cached reads in one process:
// each read must see the write before it.
func testTopicsReadYourWrites(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	mustAddTopic(t, reg, "t1", "e2")
	for i := range 100 {
		if i%2 == 0 {
			mustAddTopic(t, reg, "t1", "e1")
		} else {
			mustAddTopics(t, reg, "e1", "t0", "t1")
		}
		mustTopicEdges(t, reg, "t1", "e1", "e2")
		mustRemoveTopic(t, reg, "t1", "e1")
		mustTopicEdges(t, reg, "t1", "e2")
	}
}

func testTopicsInvalid(t *testing.T, reg subject) {
	mustHeartbeat(t, reg, "e1")
	const secret = "secretname"
	for _, tc := range []struct {
		name, topic, edge string
	}{
		{"empty topic", "", "e1"},
		{"topic too long", secret + "." + strings.Repeat("x", 128), "e1"},
		{"space in topic", secret + " x", "e1"},
		{"empty segment", secret + "..x", "e1"},
		{"trailing dot", secret + ".", "e1"},
		{"brace in topic", secret + "{x}", "e1"},
		{"colon in topic", secret + ":x", "e1"},
		{"wildcard", secret + ".*", "e1"},
		{"empty edge", "t1", ""},
		{"newline in edge", "t1", secret + "\nx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnavailable) {
					t.Fatalf("%s: %v, want ErrInvalid", op, err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("%s: %q quotes the name", op, err)
				}
			}
			check("AddTopic", reg.AddTopic(ctx, tc.topic, tc.edge))
			check("RemoveTopic", reg.RemoveTopic(ctx, tc.topic, tc.edge))
			check("AddTopics", reg.AddTopics(ctx, tc.edge, []string{"ok.first", tc.topic}))
			mustTopicEdges(t, reg, "ok.first") // nothing added
			if tc.topic != "t1" {
				_, err := reg.TopicEdges(ctx, tc.topic)
				check("TopicEdges", err)
			}
		})
	}
}

func testTopicsCancelledContext(t *testing.T, reg subject) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, op := range []struct {
		name string
		call func() error
	}{
		{"AddTopic", func() error { return reg.AddTopic(ctx, "t1", "e1") }},
		{"AddTopics", func() error { return reg.AddTopics(ctx, "e1", []string{"t1", "t2"}) }},
		{"RemoveTopic", func() error { return reg.RemoveTopic(ctx, "t1", "e1") }},
		{"TopicEdges", func() error { _, err := reg.TopicEdges(ctx, "t1"); return err }},
	} {
		if err := op.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", op.name, err)
		}
	}
}

// testTopicsConcurrent has edges add, remove and read one topic at once, one
// goroutine each, while one dead edge's membership is being dropped; at the
// end every edge has added the topic last and is listed.
func testTopicsConcurrent(t *testing.T, reg subject) {
	const n = 8
	mustHeartbeat(t, reg, "dead")
	mustAddTopic(t, reg, "t1", "dead")
	if err := reg.RemoveEdge(testContext(t), "dead"); err != nil {
		t.Fatalf("RemoveEdge: %v", err)
	}
	var want []string
	for i := range n {
		edge := fmt.Sprintf("e%d", i)
		mustHeartbeat(t, reg, edge)
		want = append(want, edge)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, edge := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := testContext(t)
			for range 20 {
				if err := reg.AddTopic(ctx, "t1", edge); err != nil {
					errs <- err
					return
				}
				if _, err := reg.TopicEdges(ctx, "t1"); err != nil {
					errs <- err
					return
				}
				if err := reg.RemoveTopic(ctx, "t1", edge); err != nil {
					errs <- err
					return
				}
			}
			errs <- reg.AddTopics(ctx, edge, []string{"t1"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mustTopicEdges(t, reg, "t1", want...)
}
