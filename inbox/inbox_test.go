package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/redis/rueidis"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Redis client a test opens must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// store is what the edge, the API and the processor will use of an inbox.
type store interface {
	Put(ctx context.Context, m Message) (PutResult, error)
	Pending(ctx context.Context, account, device string, after uint64, limit int) (Page, error)
	Remove(ctx context.Context, account, device string, ids ...string) (int, error)
	Stats(ctx context.Context, account, device string) (Stats, error)
}

var (
	_ store = (*Memory)(nil)
	_ store = (*Redis)(nil)
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// implementations are the inboxes the contract runs against. setup runs once
// per implementation, in the test of all its behaviours, and returns new,
// which returns an inbox with the given limits and clock that no other test
// sees.
var implementations = []struct {
	name  string
	setup func(tb testing.TB) (new func(tb testing.TB, lim Limits, now func() time.Time) store)
}{
	{"memory", func(testing.TB) func(testing.TB, Limits, func() time.Time) store {
		return func(tb testing.TB, lim Limits, now func() time.Time) store {
			s, err := NewMemory(Config{Limits: lim, Now: now})
			if err != nil {
				tb.Fatalf("NewMemory: %v", err)
			}
			return s
		}
	}},
	{"redis", func(tb testing.TB) func(testing.TB, Limits, func() time.Time) store {
		return func(tb testing.TB, lim Limits, now func() time.Time) store {
			client, prefix := testenv.RedisClient(tb)
			return mustRedis(tb, RedisConfig{Client: client, Prefix: prefix, Limits: lim, Now: now})
		}
	}},
	{"redis cluster", func(tb testing.TB) func(testing.TB, Limits, func() time.Time) store {
		srv := testenv.StartRedisWith(tb, testenv.RedisOptions{Cluster: true})
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
		if err != nil {
			tb.Fatalf("connect to the cluster %s: %v", srv.Addr, err)
		}
		tb.Cleanup(client.Close)
		if got := client.Mode(); got != rueidis.ClientModeCluster {
			tb.Fatalf("the client is %s, want %s", got, rueidis.ClientModeCluster)
		}
		return func(tb testing.TB, lim Limits, now func() time.Time) store {
			return mustRedis(tb, RedisConfig{Client: client, Prefix: "t:" + tb.Name() + ":", Limits: lim, Now: now})
		}
	}},
	// A real cluster: the devices' inboxes hash to slots of three masters.
	{"redis cluster of 3 masters", func(tb testing.TB) func(testing.TB, Limits, func() time.Time) store {
		c := testenv.StartRedisCluster(tb, testenv.ClusterOptions{Masters: 3, Replicas: 1})
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.Masters[0].Addr}})
		if err != nil {
			tb.Fatalf("connect to the cluster: %v", err)
		}
		tb.Cleanup(client.Close)
		return func(tb testing.TB, lim Limits, now func() time.Time) store {
			return mustRedis(tb, RedisConfig{Client: client, Prefix: "t:" + tb.Name() + ":", Limits: lim, Now: now})
		}
	}},
}

func mustRedis(tb testing.TB, cfg RedisConfig) *Redis {
	tb.Helper()
	r, err := NewRedis(cfg)
	if err != nil {
		tb.Fatalf("NewRedis: %v", err)
	}
	return r
}

// TestContract runs every behaviour against every implementation.
func TestContract(t *testing.T) {
	behaviours := []struct {
		name string
		run  func(t *testing.T, new func(tb testing.TB, lim Limits, now func() time.Time) store)
	}{
		{"order", testOrder},
		{"resume", testResume},
		{"expiry", testExpiry},
		{"max ttl", testMaxTTL},
		{"collapse", testCollapse},
		{"max messages", testMaxMessages},
		{"max collapse keys", testMaxCollapseKeys},
		{"max bytes", testMaxBytes},
		{"ack removal", testRemove},
		{"duplicate id", testDuplicate},
		{"invalid", testInvalid},
		{"concurrent writers", testConcurrentWriters},
	}
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			new := impl.setup(t)
			for _, b := range behaviours {
				t.Run(b.name, func(t *testing.T) { b.run(t, new) })
			}
		})
	}
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// msg returns a message for a1/d1 with the given id and collapse key.
func msg(id, collapse string) Message {
	return Message{
		ID: id, Account: "a1", Device: "d1", Type: "chat.message.v1", From: "phone1",
		Payload: []byte(`{"id":"` + id + `"}`), Priority: protocol.PriorityNormal, CollapseKey: collapse,
	}
}

func mustPut(tb testing.TB, s store, m Message) PutResult {
	tb.Helper()
	res, err := s.Put(testContext(tb), m)
	if err != nil {
		tb.Fatalf("Put(%s): %v", m.ID, err)
	}
	return res
}

func mustPending(tb testing.TB, s store, after uint64, limit int) Page {
	tb.Helper()
	p, err := s.Pending(testContext(tb), "a1", "d1", after, limit)
	if err != nil {
		tb.Fatalf("Pending(after %d, limit %d): %v", after, limit, err)
	}
	return p
}

// ids returns the ids of ms, in order.
func ids(ms []Message) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// wantPending checks the ids pending after 0 and that their sequences
// increase.
func wantPending(tb testing.TB, s store, want ...string) []Message {
	tb.Helper()
	p := mustPending(tb, s, 0, 0)
	if got := ids(p.Messages); !slices.Equal(got, want) {
		tb.Fatalf("pending %v, want %v", got, want)
	}
	for i := 1; i < len(p.Messages); i++ {
		if p.Messages[i].Seq <= p.Messages[i-1].Seq {
			tb.Fatalf("seq %d after %d", p.Messages[i].Seq, p.Messages[i-1].Seq)
		}
	}
	return p.Messages
}

func wantList(tb testing.TB, what string, got []string, want ...string) {
	tb.Helper()
	got = slices.Clone(got)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		tb.Fatalf("%s %v, want %v", what, got, want)
	}
}

func testOrder(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	c := newClock()
	s := new(t, Limits{}, c.Now)
	first := msg("m0", "")
	first.Priority, first.Ack, first.Enqueued = protocol.PriorityHigh, true, c.Now().Add(-time.Second)
	first.Expires = c.Now().Add(time.Hour)
	first.Payload = []byte("{\"a\":\"line\\n\"}\n\x00")
	var seqs []uint64
	res := mustPut(t, s, first)
	seqs = append(seqs, res.Seq)
	if !res.Expires.Equal(first.Expires) || res.Duplicate || res.Replaced != "" || res.Dropped != nil || res.Expired != nil {
		t.Fatalf("first Put = %+v", res)
	}
	for i := 1; i < 5; i++ {
		seqs = append(seqs, mustPut(t, s, msg("m"+strconv.Itoa(i), "")).Seq)
	}
	got := wantPending(t, s, "m0", "m1", "m2", "m3", "m4")
	for i, m := range got {
		if m.Seq != seqs[i] {
			t.Fatalf("message %d: seq %d, Put said %d", i, m.Seq, seqs[i])
		}
	}
	g := got[0]
	if g.Account != "a1" || g.Device != "d1" || g.Type != first.Type || g.From != first.From ||
		string(g.Payload) != string(first.Payload) || g.Priority != protocol.PriorityHigh || !g.Ack ||
		!g.Enqueued.Equal(first.Enqueued) || !g.Expires.Equal(first.Expires) || g.CollapseKey != "" {
		t.Fatalf("read back %+v, put %+v", g, first)
	}
	if got[1].Ack || !got[1].Enqueued.IsZero() {
		t.Fatalf("second message read back with ack %v, enqueued %v", got[1].Ack, got[1].Enqueued)
	}
	if p := mustPending(t, s, 0, 2); !slices.Equal(ids(p.Messages), []string{"m0", "m1"}) {
		t.Fatalf("Pending limit 2 = %v", ids(p.Messages))
	}
	if st, err := s.Stats(testContext(t), "a1", "d1"); err != nil || st.Messages != 5 || st.Bytes != int64(len(first.Payload)+4*len(msg("m1", "").Payload)) {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if p := mustPending(t, s, 0, 0); p.Expired != nil {
		t.Fatalf("expired %v", p.Expired)
	}
	// Another device's inbox is its own.
	if p, err := s.Pending(testContext(t), "a1", "d2", 0, 0); err != nil || len(p.Messages) != 0 {
		t.Fatalf("Pending of another device = %+v, %v", p, err)
	}
}

func testResume(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{}, time.Now)
	for i := range 5 {
		mustPut(t, s, msg("m"+strconv.Itoa(i), ""))
	}
	all := wantPending(t, s, "m0", "m1", "m2", "m3", "m4")
	tests := []struct {
		name  string
		after uint64
		limit int
		want  []string
	}{
		{"from the start", 0, 0, []string{"m0", "m1", "m2", "m3", "m4"}},
		{"after the third", all[2].Seq, 0, []string{"m3", "m4"}},
		{"after the third, one", all[2].Seq, 1, []string{"m3"}},
		{"after the last", all[4].Seq, 0, nil},
		{"past the last", all[4].Seq + 1000, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(mustPending(t, s, tt.after, tt.limit).Messages); !slices.Equal(got, tt.want) {
				t.Fatalf("Pending(after %d, limit %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
			}
		})
	}
}

func testExpiry(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	c := newClock()
	s := new(t, Limits{}, c.Now)
	short := msg("short", "")
	short.Expires = c.Now().Add(10 * time.Second)
	long := msg("long", "")
	long.Expires = c.Now().Add(time.Hour)
	mustPut(t, s, short)
	mustPut(t, s, long)

	c.Add(10*time.Second - time.Millisecond)
	wantPending(t, s, "short", "long")
	c.Add(time.Millisecond) // the expiry itself: gone
	if st, err := s.Stats(testContext(t), "a1", "d1"); err != nil || st.Messages != 1 {
		t.Fatalf("Stats = %+v, %v; want 1 live message", st, err)
	}
	p := mustPending(t, s, 0, 0)
	wantList(t, "expired", p.Expired, "short")
	wantList(t, "pending", ids(p.Messages), "long")
	if p := mustPending(t, s, 0, 0); p.Expired != nil {
		t.Fatalf("expired reported twice: %v", p.Expired)
	}

	dead := msg("dead", "")
	dead.Expires = c.Now()
	if res := mustPut(t, s, dead); res.Seq != 0 || !slices.Equal(res.Expired, []string{"dead"}) {
		t.Fatalf("Put of an expired message = %+v", res)
	}

	c.Add(time.Hour)
	res := mustPut(t, s, msg("next", ""))
	wantList(t, "expired by Put", res.Expired, "long")
	wantPending(t, s, "next")
}

func testMaxTTL(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	c := newClock()
	s := new(t, Limits{MaxTTL: time.Hour}, c.Now)
	tests := []struct {
		name    string
		expires time.Time
		want    time.Time
	}{
		{"none", time.Time{}, c.Now().Add(time.Hour)},
		{"below", c.Now().Add(time.Hour - time.Millisecond), c.Now().Add(time.Hour - time.Millisecond)},
		{"at", c.Now().Add(time.Hour), c.Now().Add(time.Hour)},
		{"above", c.Now().Add(time.Hour + time.Millisecond), c.Now().Add(time.Hour)},
		{"far above", c.Now().Add(100 * 24 * time.Hour), c.Now().Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msg(tt.name, "")
			m.Expires = tt.expires
			if res := mustPut(t, s, m); !res.Expires.Equal(tt.want) {
				t.Fatalf("Put expires %v, want %v", res.Expires, tt.want)
			}
			p := mustPending(t, s, 0, 0)
			i := slices.IndexFunc(p.Messages, func(g Message) bool { return g.ID == tt.name })
			if i < 0 || !p.Messages[i].Expires.Equal(tt.want) {
				t.Fatalf("stored %+v, want expiry %v", p.Messages, tt.want)
			}
		})
	}
	c.Add(time.Hour)
	if p := mustPending(t, s, 0, 0); len(p.Messages) != 0 || len(p.Expired) != len(tests) {
		t.Fatalf("after MaxTTL: %d pending, %d expired", len(p.Messages), len(p.Expired))
	}
}

func testCollapse(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{}, time.Now)
	first := mustPut(t, s, msg("score1", "score"))
	mustPut(t, s, msg("chat1", ""))
	mustPut(t, s, msg("other1", "other"))
	res := mustPut(t, s, msg("score2", "score"))
	if res.Replaced != "score1" || res.Dropped != nil || res.Seq <= first.Seq {
		t.Fatalf("Put of score2 = %+v, want score1 replaced and a later seq", res)
	}
	got := wantPending(t, s, "chat1", "other1", "score2")
	if got[2].CollapseKey != "score" || string(got[2].Payload) != `{"id":"score2"}` {
		t.Fatalf("collapsed message read back as %+v", got[2])
	}
	// A device that received score1 (its cursor) still gets score2.
	if p := mustPending(t, s, first.Seq, 0); !slices.Contains(ids(p.Messages), "score2") {
		t.Fatalf("after score1's seq: %v", ids(p.Messages))
	}
	// Removing the replaced id is a no-op; removing the live one frees the key.
	if n, err := s.Remove(testContext(t), "a1", "d1", "score1"); err != nil || n != 0 {
		t.Fatalf("Remove(score1) = %d, %v", n, err)
	}
	if n, err := s.Remove(testContext(t), "a1", "d1", "score2"); err != nil || n != 1 {
		t.Fatalf("Remove(score2) = %d, %v", n, err)
	}
	if res := mustPut(t, s, msg("score3", "score")); res.Replaced != "" {
		t.Fatalf("Put of score3 after score2's removal replaced %q", res.Replaced)
	}
	wantPending(t, s, "chat1", "other1", "score3")
}

func testMaxMessages(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	for _, n := range []int{1, 3, DefaultMaxMessages} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			lim := Limits{}
			if n != DefaultMaxMessages {
				lim.MaxMessages = n
			}
			s := new(t, lim, time.Now)
			mustPut(t, s, msg("collapsible", "k")) // not counted
			var want []string
			for i := range n {
				id := "m" + strconv.Itoa(i)
				if res := mustPut(t, s, msg(id, "")); res.Dropped != nil {
					t.Fatalf("Put %d of %d dropped %v", i+1, n, res.Dropped)
				}
				want = append(want, id)
			}
			res := mustPut(t, s, msg("over", ""))
			if !slices.Equal(res.Dropped, []string{"m0"}) {
				t.Fatalf("Put %d dropped %v, want [m0]", n+1, res.Dropped)
			}
			wantPending(t, s, append(append([]string{"collapsible"}, want[1:]...), "over")...)
		})
	}
}

func testMaxCollapseKeys(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	for _, k := range []int{1, 2, DefaultMaxCollapseKeys} {
		t.Run(strconv.Itoa(k), func(t *testing.T) {
			lim := Limits{}
			if k != DefaultMaxCollapseKeys {
				lim.MaxCollapseKeys = k
			}
			s := new(t, lim, time.Now)
			mustPut(t, s, msg("plain", "")) // not counted
			var want []string
			for i := range k {
				id := "k" + strconv.Itoa(i)
				if res := mustPut(t, s, msg(id, id)); res.Dropped != nil {
					t.Fatalf("key %d of %d dropped %v", i+1, k, res.Dropped)
				}
				want = append(want, id)
			}
			if res := mustPut(t, s, msg("k0-again", "k0")); res.Dropped != nil || res.Replaced != "k0" {
				t.Fatalf("a held key again = %+v, want k0 replaced and nothing dropped", res)
			}
			want = append(want[1:], "k0-again")
			res := mustPut(t, s, msg("over", "over"))
			wantDrop := "k1"
			if k == 1 {
				wantDrop = "k0-again"
			}
			if !slices.Equal(res.Dropped, []string{wantDrop}) {
				t.Fatalf("key %d dropped %v, want [%s] (the oldest collapsible)", k+1, res.Dropped, wantDrop)
			}
			want = append(slices.DeleteFunc(want, func(id string) bool { return id == wantDrop }), "over")
			wantPending(t, s, append([]string{"plain"}, want...)...)
		})
	}
	s := new(t, Limits{MaxCollapseKeys: 2, MaxMessages: 1}, time.Now)
	mustPut(t, s, msg("a1", "a"))
	mustPut(t, s, msg("plain", ""))
	if res := mustPut(t, s, msg("b1", "b")); res.Dropped != nil {
		t.Fatalf("second key dropped %v", res.Dropped)
	}
	if res := mustPut(t, s, msg("a2", "a")); res.Replaced != "a1" || res.Dropped != nil {
		t.Fatalf("a2 = %+v, want a1 replaced and nothing dropped", res)
	}
	res := mustPut(t, s, msg("c1", "c"))
	if !slices.Equal(res.Dropped, []string{"b1"}) || res.Replaced != "" {
		t.Fatalf("third key = %+v, want b1 (the oldest collapsible) dropped", res)
	}
	wantPending(t, s, "plain", "a2", "c1")
}

func testMaxBytes(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{MaxBytes: 10}, time.Now)
	put := func(id string, size int) (PutResult, error) {
		m := msg(id, "")
		m.Payload = make([]byte, size)
		return s.Put(testContext(t), m)
	}
	tests := []struct {
		name    string
		size    int
		dropped []string
		pending []string
	}{
		{"a", 4, nil, []string{"a"}},
		{"b", 6, nil, []string{"a", "b"}}, // exactly MaxBytes
		{"c", 1, []string{"a"}, []string{"b", "c"}},
		{"d", 10, []string{"b", "c"}, []string{"d"}},
		{"e", 0, nil, []string{"d", "e"}},
	}
	for _, tt := range tests {
		res, err := put(tt.name, tt.size)
		if err != nil {
			t.Fatalf("Put %s: %v", tt.name, err)
		}
		if !slices.Equal(res.Dropped, tt.dropped) {
			t.Fatalf("Put %s dropped %v, want %v", tt.name, res.Dropped, tt.dropped)
		}
		wantPending(t, s, tt.pending...)
	}
	if st, err := s.Stats(testContext(t), "a1", "d1"); err != nil || st.Bytes != 10 {
		t.Fatalf("Stats = %+v, %v; want 10 bytes", st, err)
	}
	if _, err := put("huge", 11); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 11 bytes = %v, want ErrTooLarge", err)
	}
	wantPending(t, s, "d", "e")
}

func testRemove(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{}, time.Now)
	ctx := testContext(t)
	var last uint64
	for _, id := range []string{"m0", "m1", "m2"} {
		last = mustPut(t, s, msg(id, "")).Seq
	}
	if n, err := s.Remove(ctx, "a1", "d1", "m0", "m2", "unknown"); err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v; want 2", n, err)
	}
	wantPending(t, s, "m1")
	if n, err := s.Remove(ctx, "a1", "d1", "m1", "m1"); err != nil || n != 1 {
		t.Fatalf("Remove of the last = %d, %v; want 1", n, err)
	}
	if n, err := s.Remove(ctx, "a1", "d9"); err != nil || n != 0 {
		t.Fatalf("Remove of nothing = %d, %v", n, err)
	}
	wantPending(t, s)
	if st, err := s.Stats(ctx, "a1", "d1"); err != nil || st != (Stats{}) {
		t.Fatalf("Stats of an emptied inbox = %+v, %v", st, err)
	}
	// The emptied inbox remembers its sequence: a device resuming from the
	// last one it received gets the next message.
	if res := mustPut(t, s, msg("m3", "")); res.Seq <= last {
		t.Fatalf("seq %d after an emptied inbox's %d", res.Seq, last)
	}
	if got := ids(mustPending(t, s, last, 0).Messages); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after %d: %v", last, got)
	}
}

func testDuplicate(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{}, time.Now)
	first := mustPut(t, s, msg("m0", ""))
	again := msg("m0", "k")
	again.Payload = []byte(`"changed"`)
	res := mustPut(t, s, again)
	if !res.Duplicate || res.Seq != first.Seq || !res.Expires.Equal(first.Expires) {
		t.Fatalf("second Put = %+v, first %+v", res, first)
	}
	if got := wantPending(t, s, "m0"); string(got[0].Payload) != `{"id":"m0"}` {
		t.Fatalf("payload %s after a duplicate", got[0].Payload)
	}
}

func testInvalid(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	s := new(t, Limits{}, time.Now)
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"empty id", func(m *Message) { m.ID = "" }},
		{"empty account", func(m *Message) { m.Account = "" }},
		{"empty device", func(m *Message) { m.Device = "" }},
		{"brace in account", func(m *Message) { m.Account = "a{1" }},
		{"slash in account", func(m *Message) { m.Account = "a/1" }},
		{"newline in type", func(m *Message) { m.Type = "a\nb" }},
		{"newline in from", func(m *Message) { m.From = "a\nb" }},
		{"newline in collapse key", func(m *Message) { m.CollapseKey = "a\nb" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msg("m0", "")
			tt.change(&m)
			if _, err := s.Put(testContext(t), m); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Put = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := s.Pending(testContext(t), "a{", "d1", 0, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Pending = %v, want ErrInvalid", err)
	}
}

// testConcurrentWriters puts from many goroutines to one device: every put is
// either pending or reported dropped, sequences are unique, each writer's own
// messages get increasing sequences, and the limit holds.
func testConcurrentWriters(t *testing.T, new func(testing.TB, Limits, func() time.Time) store) {
	const writers, each, limit = 8, 40, 100
	s := new(t, Limits{MaxMessages: limit}, time.Now)
	ctx := testContext(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		dropped []string
		seqs    = map[uint64]string{}
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var last uint64
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				res, err := s.Put(ctx, msg(id, ""))
				if err != nil {
					errs <- err
					return
				}
				if res.Seq <= last {
					errs <- fmt.Errorf("writer %d: seq %d after its own %d", w, res.Seq, last)
					return
				}
				last = res.Seq
				mu.Lock()
				dropped = append(dropped, res.Dropped...)
				if other, ok := seqs[res.Seq]; ok {
					errs <- fmt.Errorf("seq %d given to %s and %s", res.Seq, other, id)
				}
				seqs[res.Seq] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pending := wantPending(t, s, ids(mustPending(t, s, 0, 0).Messages)...)
	if len(pending) != limit {
		t.Fatalf("%d pending, want the limit %d", len(pending), limit)
	}
	if len(dropped) != writers*each-limit {
		t.Fatalf("%d dropped, want %d", len(dropped), writers*each-limit)
	}
	all := append(ids(pending), dropped...)
	slices.Sort(all)
	if len(slices.Compact(all)) != writers*each {
		t.Fatalf("%d distinct ids pending or dropped, want %d", len(all), writers*each)
	}
	for _, m := range pending {
		if seqs[m.Seq] != m.ID {
			t.Fatalf("%s pending with seq %d, which Put gave to %q", m.ID, m.Seq, seqs[m.Seq])
		}
	}
}
