package registry

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// benchRegistry returns a Redis registry with one live edge, or skips the
// benchmark when no Redis is configured.
func benchRegistry(b *testing.B, cfg RedisConfig) *Redis {
	b.Helper()
	r := mustRedisServer(b).registry(b, cfg)
	mustHeartbeat(b, r, "e1")
	return r
}

// BenchmarkLookupCached looks up the same device again and again: after the
// first, every lookup is answered from the client-side cache.
func BenchmarkLookupCached(b *testing.B) {
	r := benchRegistry(b, RedisConfig{})
	mustRegister(b, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1", Since: time.Now()})
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "a1", "tv1"); err != nil {
		b.Fatal(err)
	}
	hits := r.lookupHits.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "a1", "tv1"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if r.lookupHits.Load() == hits {
		b.Fatal("no lookup was a cache hit")
	}
}

// BenchmarkLookupCachedParallel is BenchmarkLookupCached from GOMAXPROCS
// goroutines, as an API process serving many pushes would.
func BenchmarkLookupCachedParallel(b *testing.B) {
	r := benchRegistry(b, RedisConfig{})
	mustRegister(b, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1", Since: time.Now()})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Lookup(ctx, "a1", "tv1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Lookup(ctx, "a1", "tv1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookupUncached looks up through a client with client-side caching
// disabled: two round trips to Redis per lookup, the cost of every cache miss.
func BenchmarkLookupUncached(b *testing.B) {
	srv := mustRedisServer(b)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.addr}, DisableCache: true, PipelineMultiplex: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	r, err := NewRedis(RedisConfig{Client: client, Prefix: srv.prefix})
	if err != nil {
		b.Fatal(err)
	}
	mustHeartbeat(b, r, "e1")
	mustRegister(b, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1", Since: time.Now()})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "a1", "tv1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegister registers devices of one account in turn, each with a new
// session: one script round trip per connection.
func BenchmarkRegister(b *testing.B) {
	r := benchRegistry(b, RedisConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		n := strconv.Itoa(i)
		if _, err := r.Register(ctx, "a1", "d"+strconv.Itoa(i%100), Entry{Edge: "e1", Session: n, Since: time.Now()}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTopicEdges reads the edges of a topic that three live edges have
// subscribers of, as every publish does: from a Memory registry, from Redis
// through the client-side cache (after the first read, no round trip), and
// from Redis without it (two round trips: the topic, then the edges'
// liveness), the cost of every read after a change of the topic or of an
// edge's liveness.
func BenchmarkTopicEdges(b *testing.B) {
	edges := []string{"e1", "e2", "e3"}
	uncached := func(b *testing.B) topicsAndEdges {
		srv := mustRedisServer(b)
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.addr}, DisableCache: true, PipelineMultiplex: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(client.Close)
		r, err := NewRedis(RedisConfig{Client: client, Prefix: srv.prefix})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	for _, impl := range []struct {
		name string
		new  func(b *testing.B) topicsAndEdges
	}{
		{"memory", func(*testing.B) topicsAndEdges { return NewMemory() }},
		{"redis cached", func(b *testing.B) topicsAndEdges { return mustRedisServer(b).registry(b, RedisConfig{}) }},
		{"redis uncached", uncached},
	} {
		b.Run(impl.name, func(b *testing.B) {
			reg := impl.new(b)
			for _, e := range edges {
				mustHeartbeat(b, reg, e)
				mustAddTopic(b, reg, "news.sport", e)
			}
			mustTopicEdges(b, reg, "news.sport", edges...)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if got, err := reg.TopicEdges(ctx, "news.sport"); err != nil || len(got) != len(edges) {
					b.Fatalf("TopicEdges = %v, %v", got, err)
				}
			}
			b.StopTimer()
			if r, ok := reg.(*Redis); ok && impl.name == "redis cached" {
				if _, hits := r.TopicStats(); hits == 0 {
					b.Fatal("no TopicEdges was a cache hit")
				}
			}
		})
	}
}

// topicsAndEdges is what BenchmarkTopicEdges uses of a registry.
type topicsAndEdges interface {
	topics
	edges
}

// BenchmarkAddTopics re-adds 1,000 topics of one edge, as the edge does every
// TopicTTL/4 and after its registry data was lost: four round trips of 256
// topics.
func BenchmarkAddTopics(b *testing.B) {
	r := benchRegistry(b, RedisConfig{})
	all := make([]string, 1000)
	for i := range all {
		all[i] = "room." + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.AddTopics(ctx, "e1", all); err != nil {
			b.Fatal(err)
		}
	}
}
