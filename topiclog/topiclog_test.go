package topiclog

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/redis/rueidis"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// log is what the contract tests use of an implementation.
type log interface {
	Append(ctx context.Context, topic string, frame []byte, expires time.Time) (uint64, error)
	After(ctx context.Context, topic string, after uint64, limit int) ([]Entry, error)
}

// clock is a settable clock for the contract: both implementations judge
// expiry by it, not by Redis' clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var implementations = []struct {
	name string
	new  func(tb testing.TB, lim Limits, now func() time.Time) log
}{
	{"memory", func(tb testing.TB, lim Limits, now func() time.Time) log {
		m, err := NewMemory(lim, now)
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}},
	{"redis", func(tb testing.TB, lim Limits, now func() time.Time) log {
		client, prefix := testenv.RedisClient(tb)
		r, err := NewRedis(RedisConfig{Client: client, Prefix: prefix, Limits: lim, Now: now})
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}},
	{"redis cluster", func(tb testing.TB, lim Limits, now func() time.Time) log {
		srv := testenv.StartRedisWith(tb, testenv.RedisOptions{Cluster: true})
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(client.Close)
		r, err := NewRedis(RedisConfig{Client: client, Prefix: "t:", Limits: lim, Now: now})
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}},
	// A real cluster: topics hash to slots of three masters.
	{"redis cluster of 3 masters", func(tb testing.TB, lim Limits, now func() time.Time) log {
		c := testenv.StartRedisCluster(tb, testenv.ClusterOptions{Masters: 3, Replicas: 1})
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.Masters[0].Addr}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(client.Close)
		r, err := NewRedis(RedisConfig{Client: client, Prefix: "t:", Limits: lim, Now: now})
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}},
}

func frame(i int) []byte {
	return []byte(`{"t":"msg","id":"m` + strconv.Itoa(i) + `","type":"a.v1","topic":"news","payload":{}}`)
}

func seqs(es []Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestContract(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Now()}
			l := impl.new(t, Limits{MaxEntries: 5, MaxTTL: time.Hour}, clk.now)

			t.Run("order and cursor", func(t *testing.T) {
				var got []uint64
				for i := range 3 {
					s, err := l.Append(ctx, "news", frame(i), clk.now().Add(time.Minute))
					if err != nil {
						t.Fatal(err)
					}
					if len(got) > 0 && s <= got[len(got)-1] {
						t.Fatalf("seq %d after %d: not increasing", s, got[len(got)-1])
					}
					if s < uint64(clk.now().UnixMilli())*1000 {
						t.Fatalf("seq %d below the floor of its append", s)
					}
					got = append(got, s)
				}
				es, err := l.After(ctx, "news", 0, 10)
				if err != nil || len(es) != 3 || string(es[1].Frame) != string(frame(1)) {
					t.Fatalf("After(0) = %v %v, want the three in order", es, err)
				}
				es, _ = l.After(ctx, "news", got[0], 10)
				if s := seqs(es); len(s) != 2 || s[0] != got[1] || s[1] != got[2] {
					t.Fatalf("After(first) = %v, want %v", s, got[1:])
				}
				if es, _ := l.After(ctx, "news", got[0], 1); len(es) != 1 || es[0].Seq != got[1] {
					t.Fatalf("After with limit 1 = %v", seqs(es))
				}
				if es, _ := l.After(ctx, "other", 0, 10); len(es) != 0 {
					t.Fatalf("another topic holds %v", seqs(es))
				}
			})

			t.Run("expiry and MaxTTL", func(t *testing.T) {
				s1, _ := l.Append(ctx, "exp", frame(1), clk.now().Add(time.Minute))
				s2, _ := l.Append(ctx, "exp", frame(2), time.Time{})                 // none: MaxTTL
				s3, _ := l.Append(ctx, "exp", frame(3), clk.now().Add(48*time.Hour)) // cut to MaxTTL
				clk.advance(2 * time.Minute)
				es, err := l.After(ctx, "exp", 0, 10)
				if s := seqs(es); err != nil || len(s) != 2 || s[0] != s2 || s[1] != s3 {
					t.Fatalf("after the first expired: %v %v, want %d %d (not %d)", s, err, s2, s3, s1)
				}
				if !es[1].Expires.Equal(es[0].Expires) {
					t.Errorf("expiries %v and %v: a later one is cut to MaxTTL", es[0].Expires, es[1].Expires)
				}
				clk.advance(time.Hour)
				if es, _ := l.After(ctx, "exp", 0, 10); len(es) != 0 {
					t.Fatalf("past MaxTTL: %v", seqs(es))
				}
			})

			t.Run("MaxEntries drops the oldest", func(t *testing.T) {
				var all []uint64
				for i := range 7 {
					s, _ := l.Append(ctx, "full", frame(i), clk.now().Add(time.Minute))
					all = append(all, s)
				}
				es, _ := l.After(ctx, "full", 0, 10)
				if s := seqs(es); len(s) != 5 || s[0] != all[2] {
					t.Fatalf("log holds %v, want the newest five of %v", s, all)
				}
			})

			t.Run("invalid", func(t *testing.T) {
				if _, err := l.Append(ctx, "bad..topic", frame(1), time.Time{}); !errors.Is(err, ErrInvalid) {
					t.Errorf("Append to an invalid topic: %v", err)
				}
				if _, err := l.Append(ctx, "news", nil, time.Time{}); !errors.Is(err, ErrInvalid) {
					t.Errorf("Append of nothing: %v", err)
				}
				if _, err := l.After(ctx, "news.*", 0, 1); !errors.Is(err, ErrInvalid) {
					t.Errorf("After of a pattern: %v", err)
				}
			})

			t.Run("concurrent appends", func(t *testing.T) {
				var wg sync.WaitGroup
				var mu sync.Mutex
				seen := map[uint64]bool{}
				for w := range 4 {
					wg.Go(func() {
						for i := range 10 {
							s, err := l.Append(ctx, "busy", frame(w*10+i), time.Time{})
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							if seen[s] {
								t.Errorf("seq %d given twice", s)
							}
							seen[s] = true
							mu.Unlock()
						}
					})
				}
				wg.Wait()
			})
		})
	}
}

// TestRedisUnavailable checks that a Redis that does not answer is
// ErrUnavailable, never a hang.
func TestRedisUnavailable(t *testing.T) {
	srv := testenv.StartRedis(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r, err := NewRedis(RedisConfig{Client: client, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := r.Append(context.Background(), "news", frame(1), time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Append with Redis down: %v", err)
	}
	if _, err := r.After(context.Background(), "news", 0, 1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("After with Redis down: %v", err)
	}
}
