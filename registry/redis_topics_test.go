package registry

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// TestRedisTopicKeys checks a topic's key: its name, a hash of edge -> stamp,
// and a TTL of TopicTTL that every add sets again.
func TestRedisTopicKeys(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{TopicTTL: time.Hour})
	admin := srv.admin(t)
	ctx := testContext(t)
	mustHeartbeat(t, r, "e1")
	mustAddTopic(t, r, "news.sport", "e1")
	key := srv.prefix + "topic:news.sport"

	if typ, err := admin.Do(ctx, admin.B().Type().Key(key).Build()).ToString(); err != nil || typ != "hash" {
		t.Fatalf("TYPE %s = %q, %v; want hash", key, typ, err)
	}
	fields, err := admin.Do(ctx, admin.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil || len(fields) != 1 || fields["e1"] == "" {
		t.Fatalf("HGETALL %s = %v, %v; want e1 and its stamp", key, fields, err)
	}
	pttl := func() time.Duration {
		t.Helper()
		ms, err := admin.Do(ctx, admin.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	if got := pttl(); got <= 0 || got > time.Hour {
		t.Fatalf("PTTL after AddTopic = %v, want in (0, 1h]", got)
	}
	for _, add := range []struct {
		name string
		call func()
	}{
		{"AddTopic", func() { mustAddTopic(t, r, "news.sport", "e1") }},
		{"AddTopics", func() { mustAddTopics(t, r, "e1", "news.sport") }},
	} {
		if err := admin.Do(ctx, admin.B().Pexpire().Key(key).Milliseconds(60000).Build()).Error(); err != nil {
			t.Fatalf("PEXPIRE: %v", err)
		}
		add.call()
		if got := pttl(); got <= time.Minute {
			t.Fatalf("PTTL after %s again = %v, want it set back to about an hour", add.name, got)
		}
	}
	again, err := admin.Do(ctx, admin.B().Hget().Key(key).Field("e1").Build()).ToString()
	if err != nil || again == fields["e1"] {
		t.Fatalf("stamp after adding again = %q, %v; want a new one (was %q)", again, err, fields["e1"])
	}

	mustRemoveTopic(t, r, "news.sport", "e1")
	if n, err := admin.Do(ctx, admin.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 0 {
		t.Fatalf("EXISTS after the last edge removed the topic = %d, %v; want 0", n, err)
	}
}

func TestRedisTopicEdgesIsCached(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	mustHeartbeat(t, r, "e1")
	mustHeartbeat(t, r, "e2")
	mustAddTopic(t, r, "t1", "e1")
	mustAddTopic(t, r, "t1", "e2")
	mustTopicEdges(t, r, "t1", "e1", "e2")
	if _, hits := r.TopicStats(); hits != 0 {
		t.Fatalf("first TopicEdges: %d cache hits, want 0", hits)
	}
	for i := range 3 {
		mustTopicEdges(t, r, "t1", "e1", "e2")
		if reads, hits := r.TopicStats(); reads != uint64(i+2) || hits != uint64(i+1) {
			t.Fatalf("TopicEdges %d: %d reads, %d cache hits; want %d, %d: the topic and its edges' liveness should come from the client-side cache", i+2, reads, hits, i+2, i+1)
		}
	}
}

// TestRedisTopicInvalidation checks that another process's change of a topic
// reaches a cached TopicEdges through Redis' invalidation, long before
// CacheTTL.
func TestRedisTopicInvalidation(t *testing.T) {
	srv := mustRedisServer(t)
	reader := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	writer := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	mustHeartbeat(t, writer, "e1")
	mustHeartbeat(t, writer, "e2")
	mustAddTopic(t, writer, "t1", "e1")
	mustTopicEdges(t, reader, "t1", "e1")
	mustTopicEdges(t, reader, "t1", "e1")
	if _, hits := reader.TopicStats(); hits == 0 {
		t.Fatal("second TopicEdges was not a cache hit")
	}

	for _, step := range []struct {
		what   string
		change func()
		want   []string
	}{
		{"another edge added the topic", func() { mustAddTopic(t, writer, "t1", "e2") }, []string{"e1", "e2"}},
		{"an edge removed the topic", func() { mustRemoveTopic(t, writer, "t1", "e1") }, []string{"e2"}},
		{"an edge re-added its topics", func() { mustAddTopics(t, writer, "e1", "t0", "t1") }, []string{"e1", "e2"}},
		{"an edge was removed", func() {
			if err := writer.RemoveEdge(testContext(t), "e2"); err != nil {
				t.Fatalf("RemoveEdge: %v", err)
			}
		}, []string{"e1"}},
	} {
		step.change()
		eventually(t, "cached TopicEdges after "+step.what, func() error {
			return topicEdgesAre(t, reader, "t1", step.want...)
		})
	}
}

// TestRedisTopicPruneSparesReadded checks the race that pruning must lose: a
// reader saw an edge dead, and before its prune runs the edge comes back and
// adds the topic again. The prune must then leave the new membership, even if
// the edge's liveness key is missing again by the time it runs, and drop a
// membership only while the edge is still dead.
func TestRedisTopicPruneSparesReadded(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	ctx := testContext(t)
	key := srv.prefix + "topic:t1"
	stamps := func() map[string]string {
		t.Helper()
		m, err := admin.Do(ctx, admin.B().Hgetall().Key(key).Build()).AsStrMap()
		if err != nil {
			t.Fatalf("HGETALL: %v", err)
		}
		return m
	}
	killEdge := func() {
		t.Helper()
		if err := admin.Do(ctx, admin.B().Del().Key(srv.prefix+"edge:e1").Build()).Error(); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	mustHeartbeat(t, r, "e1")
	mustHeartbeat(t, r, "e2")
	mustAddTopic(t, r, "t1", "e1")
	mustAddTopic(t, r, "t1", "e2")

	seen := stamps() // what a reader read
	killEdge()
	mustAddTopic(t, r, "t1", "e1") // the edge came back and added it again
	r.pruneTopic(ctx, "t1", []string{"e1"}, seen)
	if got := stamps(); got["e1"] == "" {
		t.Fatal("prune with an old stamp dropped the edge's new membership")
	}

	seen = stamps()
	mustHeartbeat(t, r, "e1")
	r.pruneTopic(ctx, "t1", []string{"e1"}, seen)
	if got := stamps(); got["e1"] == "" {
		t.Fatal("prune dropped the membership of an edge that is live")
	}

	killEdge()
	r.pruneTopic(ctx, "t1", []string{"e1"}, seen)
	if got := slices.Sorted(maps.Keys(stamps())); !slices.Equal(got, []string{"e2"}) {
		t.Fatalf("edges after pruning a dead edge = %q, want [e2]", got)
	}
}

// TestRedisTopicScriptsReloaded checks that AddTopic and AddTopics still work
// after Redis lost its scripts, as after a restart or a failover.
func TestRedisTopicScriptsReloaded(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	ctx := testContext(t)
	mustHeartbeat(t, r, "e1")
	for _, add := range []struct {
		name string
		call func()
	}{
		{"AddTopic", func() { mustAddTopic(t, r, "t1", "e1") }},
		{"AddTopics", func() { mustAddTopics(t, r, "e1", "t2", "t3") }},
	} {
		if err := admin.Do(ctx, admin.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
		add.call()
	}
	for _, topic := range []string{"t1", "t2", "t3"} {
		mustTopicEdges(t, r, topic, "e1")
	}
}

// TestRedisTopicEdgeNeverHeartbeated checks that Redis, unlike Memory, does
// not list an edge without a liveness key, and that its membership is dropped.
func TestRedisTopicEdgeNeverHeartbeated(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	mustAddTopic(t, r, "t1", "silent")
	mustTopicEdges(t, r, "t1")
	n, err := admin.Do(testContext(t), admin.B().Exists().Key(srv.prefix+"topic:t1").Build()).AsInt64()
	if err != nil || n != 0 {
		t.Fatalf("EXISTS of the topic after TopicEdges = %d, %v; want 0: the silent edge's membership should be dropped", n, err)
	}
}
