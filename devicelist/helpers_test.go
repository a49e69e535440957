package devicelist

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// store is what the edge and the API use of a device list.
type store interface {
	Put(ctx context.Context, d Device) (Device, bool, error)
	Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error
	Get(ctx context.Context, account, device string) (Device, error)
	List(ctx context.Context, account string) ([]Device, error)
	IDs(ctx context.Context, account string) ([]string, error)
	Delete(ctx context.Context, account, device string) (bool, error)
	Owners(ctx context.Context, device string) ([]string, error)
	Seen(account, device string, t time.Time)
	SeenDropped() uint64
	AddTopic(ctx context.Context, account, device, topic string, max int) (bool, error)
	RemoveTopic(ctx context.Context, account, device, topic string) (bool, error)
	Topics(ctx context.Context, account, device string) ([]string, error)
	TopicDevices(ctx context.Context, account string) ([]string, error)
	Close()
}

var (
	_ store = (*Memory)(nil)
	_ store = (*Postgres)(nil)
)

// implementations are the stores the shared behaviour runs against; each
// returns an empty store that no other test sees, reading time from clock.
var implementations = []struct {
	name string
	new  func(tb testing.TB, clock *clock) store
}{
	{"memory", func(_ testing.TB, clock *clock) store {
		m := NewMemory()
		m.now = clock.Now
		return m
	}},
	{"postgres", func(tb testing.TB, clock *clock) store {
		p := mustPostgres(tb, PostgresConfig{URL: testenv.Postgres(tb), SeenFlush: time.Hour})
		p.now = clock.Now
		return p
	}},
}

// mustPostgres opens a Postgres store, closed at the end of the test.
func mustPostgres(tb testing.TB, cfg PostgresConfig) *Postgres {
	tb.Helper()
	p, err := OpenPostgres(testContext(tb), cfg)
	if err != nil {
		tb.Fatalf("OpenPostgres: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// flushSeen makes the Seen calls so far visible: Postgres writes them in a flush.
func flushSeen(tb testing.TB, s store) {
	tb.Helper()
	if p, ok := s.(*Postgres); ok {
		if err := p.flush(testContext(tb)); err != nil {
			tb.Fatalf("flush: %v", err)
		}
	}
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// clock is a clock the test moves by hand, so that timestamps are exact.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

// newClock returns a clock at a fixed instant with sub-microsecond digits, to
// show that the stores keep microseconds.
func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)}
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d and returns the new time as stored.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return timestamp(c.t)
}

func mustPut(tb testing.TB, s store, d Device) (Device, bool) {
	tb.Helper()
	got, created, err := s.Put(testContext(tb), d)
	if err != nil {
		tb.Fatalf("Put(%s/%s): %v", d.Account, d.ID, err)
	}
	return got, created
}

func mustTouch(tb testing.TB, s store, account, device string, info *protocol.DeviceInfo) {
	tb.Helper()
	if err := s.Touch(testContext(tb), account, device, info); err != nil {
		tb.Fatalf("Touch(%s/%s): %v", account, device, err)
	}
}

func mustGet(tb testing.TB, s store, account, device string) Device {
	tb.Helper()
	d, err := s.Get(testContext(tb), account, device)
	if err != nil {
		tb.Fatalf("Get(%s/%s): %v", account, device, err)
	}
	return d
}
