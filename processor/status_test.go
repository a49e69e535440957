package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// statusSubject is a StatusStore under test and the way to let time pass for
// it: the memory store's clock moves, Redis is waited for.
type statusSubject struct {
	StatusStore
	advance func(d time.Duration)
	now     func() time.Time
}

// statusImplementations are the status stores the shared contract runs
// against. setup runs once per implementation, in the test of all its cases,
// and returns new, which returns a store keeping messages for ttl that no
// other test sees.
var statusImplementations = []struct {
	name  string
	setup func(tb testing.TB) (new func(tb testing.TB, ttl time.Duration) statusSubject)
}{
	{"memory", func(testing.TB) func(testing.TB, time.Duration) statusSubject {
		return func(_ testing.TB, ttl time.Duration) statusSubject {
			clock := newFakeClock()
			m := NewMemoryStatus(ttl, 0)
			m.now = clock.now
			return statusSubject{StatusStore: m, advance: clock.advance, now: clock.now}
		}
	}},
	{"redis", func(testing.TB) func(testing.TB, time.Duration) statusSubject {
		return func(tb testing.TB, ttl time.Duration) statusSubject {
			client, prefix := mustRedis(tb)
			return statusSubject{StatusStore: NewRedisStatus(client, prefix, ttl), advance: time.Sleep, now: time.Now}
		}
	}},
	{"redis cluster of 3 masters", func(tb testing.TB) func(testing.TB, time.Duration) statusSubject {
		client := mustRedisCluster(tb)
		return func(tb testing.TB, ttl time.Duration) statusSubject {
			return statusSubject{StatusStore: NewRedisStatus(client, "t:"+tb.Name()+":", ttl), advance: time.Sleep, now: time.Now}
		}
	}},
}

// statusTTL is the ttl of the expiry tests: short, since Redis is waited for, and
// long enough that the margins below (at least 0.3 ttl) hold on a busy machine.
const statusTTL = 400 * time.Millisecond

// fakeClock is a clock that moves only when told, for the memory stores.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// storeContext returns a context that bounds one test's calls to a store.
func storeContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func mustRecord(tb testing.TB, s StatusStore, events ...Event) {
	tb.Helper()
	for _, e := range events {
		if err := s.Record(storeContext(tb), e); err != nil {
			tb.Fatalf("Record(%+v): %v", e, err)
		}
	}
}

// mustRecordAll records events with one RecordAll.
func mustRecordAll(tb testing.TB, s StatusStore, events ...Event) {
	tb.Helper()
	if err := s.RecordAll(storeContext(tb), events); err != nil {
		tb.Fatalf("RecordAll(%+v): %v", events, err)
	}
}

// wantStatus checks that Get(id) returns want, or ErrNotFound when want is nil.
func wantStatus(tb testing.TB, s StatusStore, id string, want *MessageStatus) {
	tb.Helper()
	got, err := s.Get(storeContext(tb), id)
	if want == nil {
		if !errors.Is(err, ErrNotFound) {
			tb.Fatalf("Get(%s) = %+v, %v; want ErrNotFound", id, got, err)
		}
		return
	}
	if err != nil {
		tb.Fatalf("Get(%s): %v", id, err)
	}
	// The contract tests state the latest outcome of each device; the
	// history has a test of its own (TestStatusHistory).
	cmp := *got
	cmp.Devices = slices.Clone(got.Devices)
	for i := range cmp.Devices {
		cmp.Devices[i].History = nil
	}
	if !reflect.DeepEqual(&cmp, want) {
		tb.Fatalf("Get(%s)\n got %+v\nwant %+v", id, &cmp, want)
	}
	// A message nobody processed yet still lists its devices as [] in JSON.
	b, err := json.Marshal(got)
	if err != nil {
		tb.Fatalf("marshal %+v: %v", got, err)
	}
	if !strings.Contains(string(b), `"devices":[`) {
		tb.Fatalf("Get(%s) as JSON is %s; want a devices array", id, b)
	}
}

// Events of the contract tests: message m1 to account a1, accepted at 1000.
func queued(id string) Event {
	return Event{ID: id, Account: "a1", Status: Queued, Priority: protocol.PriorityHigh, At: 1000}
}

func outcome(id, device string, o Outcome, at int64) Event {
	return Event{ID: id, Account: "a1", Device: device, Status: o, Priority: protocol.PriorityHigh, At: at}
}

// processed returns the status of m1 after queued with the given devices.
func processed(status Outcome, devices ...DeviceStatus) *MessageStatus {
	if devices == nil {
		devices = []DeviceStatus{}
	}
	return &MessageStatus{ID: "m1", Account: "a1", Priority: protocol.PriorityHigh, Status: status, Accepted: 1000, Devices: devices}
}

// topicEvent is an event of message t1, to topic news.sports.
func topicEvent(o Outcome, at int64, res *protocol.PublishResult, errText string) Event {
	return Event{ID: "t1", Topic: "news.sports", Status: o, Priority: protocol.PriorityNormal, At: at, Published: res, Error: errText}
}

// topicStatus is the status of t1, accepted at 1000, with its outcome at at.
func topicStatus(o Outcome, at int64, res *protocol.PublishResult, errText string) *MessageStatus {
	return &MessageStatus{ID: "t1", Topic: "news.sports", Priority: protocol.PriorityNormal, Status: o, Accepted: 1000,
		Devices: []DeviceStatus{}, At: at, Published: res, Error: errText}
}

func publishCounts() *protocol.PublishResult {
	return &protocol.PublishResult{Edges: 1, Devices: 2, Dropped: 1, Failed: []protocol.EdgeFailure{{Edge: "edge-2", Error: "no answer from edge-2 in time"}}}
}

func TestStatusContract(t *testing.T) {
	cases := []struct {
		name   string
		events []Event
		id     string // default m1
		want   *MessageStatus
	}{
		{name: "unknown id", id: "nope", want: nil},
		{
			name:   "queued",
			events: []Event{queued("m1")},
			want:   processed(Queued),
		},
		{
			name:   "other messages are apart",
			events: []Event{queued("m1"), outcome("m2", "tv1", Delivered, 2000)},
			want:   processed(Queued),
		},
		{
			name:   "one device delivered",
			events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 2000)},
			want:   processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 2000}),
		},
		{
			name:   "delivered then acked",
			events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 2000), outcome("m1", "tv1", Acked, 3000)},
			want:   processed(Acked, DeviceStatus{Device: "tv1", Status: Acked, At: 3000}),
		},
		{
			name:   "acked then a redelivered delivered stays acked",
			events: []Event{queued("m1"), outcome("m1", "tv1", Acked, 3000), outcome("m1", "tv1", Delivered, 2000)},
			want:   processed(Acked, DeviceStatus{Device: "tv1", Status: Acked, At: 3000}),
		},
		{
			name:   "offline then delivered",
			events: []Event{queued("m1"), outcome("m1", "tv1", Offline, 2000), outcome("m1", "tv1", Delivered, 3000)},
			want:   processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 3000}),
		},
		{
			name:   "delivered then a late offline stays delivered",
			events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 3000), outcome("m1", "tv1", Offline, 2000)},
			want:   processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 3000}),
		},
		{
			name: "failed keeps its error",
			events: []Event{queued("m1"), func() Event {
				e := outcome("m1", "tv1", Failed, 2000)
				e.Error = "rejected: too big"
				return e
			}()},
			want: processed(Failed, DeviceStatus{Device: "tv1", Status: Failed, Error: "rejected: too big", At: 2000}),
		},
		{
			name: "failed then delivered drops the error",
			events: []Event{queued("m1"), func() Event {
				e := outcome("m1", "tv1", Failed, 2000)
				e.Error = "unavailable"
				return e
			}(), outcome("m1", "tv1", Delivered, 3000)},
			want: processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 3000}),
		},
		{
			name:   "an equal rank replaces",
			events: []Event{queued("m1"), outcome("m1", "tv1", Offline, 2000), outcome("m1", "tv1", Failed, 3000)},
			want:   processed(Failed, DeviceStatus{Device: "tv1", Status: Failed, At: 3000}),
		},
		{
			name:   "a device's queued keeps the accepted time",
			events: []Event{queued("m1"), outcome("m1", "tv1", Queued, 2000)},
			want:   processed(Queued, DeviceStatus{Device: "tv1", Status: Queued, At: 2000}),
		},
		{
			name:   "queued beats a late offline and failed",
			events: []Event{queued("m1"), outcome("m1", "tv1", Queued, 2000), outcome("m1", "tv1", Offline, 3000), outcome("m1", "tv1", Failed, 4000)},
			want:   processed(Queued, DeviceStatus{Device: "tv1", Status: Queued, At: 2000}),
		},
		{
			name:   "delivered and expired beat queued",
			events: []Event{queued("m1"), outcome("m1", "tv1", Queued, 2000), outcome("m1", "tv1", Delivered, 3000), outcome("m1", "tv2", Queued, 2000), outcome("m1", "tv2", Expired, 5000), outcome("m1", "tv2", Queued, 6000)},
			want:   processed(Mixed, DeviceStatus{Device: "tv1", Status: Delivered, At: 3000}, DeviceStatus{Device: "tv2", Status: Expired, At: 5000}),
		},
		{
			name:   "acked beats a late expired",
			events: []Event{queued("m1"), outcome("m1", "tv1", Acked, 3000), outcome("m1", "tv1", Expired, 4000)},
			want:   processed(Acked, DeviceStatus{Device: "tv1", Status: Acked, At: 3000}),
		},
		{
			name:   "collapsed",
			events: []Event{queued("m1"), outcome("m1", "tv1", Collapsed, 2000)},
			want:   processed(Collapsed, DeviceStatus{Device: "tv1", Status: Collapsed, At: 2000}),
		},
		{
			name:   "all devices the same",
			events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 2000), outcome("m1", "phone", Delivered, 2001)},
			want: processed(Delivered,
				DeviceStatus{Device: "phone", Status: Delivered, At: 2001},
				DeviceStatus{Device: "tv1", Status: Delivered, At: 2000}),
		},
		{
			name:   "devices differ",
			events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 2000), outcome("m1", "phone", Offline, 2001)},
			want: processed(Mixed,
				DeviceStatus{Device: "phone", Status: Offline, At: 2001},
				DeviceStatus{Device: "tv1", Status: Delivered, At: 2000}),
		},
		{
			name:   "devices converge",
			events: []Event{queued("m1"), outcome("m1", "tv1", Acked, 2000), outcome("m1", "phone", Delivered, 2001), outcome("m1", "phone", Acked, 2002)},
			want: processed(Acked,
				DeviceStatus{Device: "phone", Status: Acked, At: 2002},
				DeviceStatus{Device: "tv1", Status: Acked, At: 2000}),
		},
		{
			name: "devices sorted by name",
			events: []Event{queued("m1"),
				outcome("m1", "tv2", Delivered, 2000), outcome("m1", "a-phone", Delivered, 2001),
				outcome("m1", "tv10", Delivered, 2002), outcome("m1", "tv1", Delivered, 2003)},
			want: processed(Delivered,
				DeviceStatus{Device: "a-phone", Status: Delivered, At: 2001},
				DeviceStatus{Device: "tv1", Status: Delivered, At: 2003},
				DeviceStatus{Device: "tv10", Status: Delivered, At: 2002},
				DeviceStatus{Device: "tv2", Status: Delivered, At: 2000}),
		},
		{
			name:   "whole account with no device connected",
			events: []Event{queued("m1"), outcome("m1", "", Offline, 2000)},
			want:   processed(Offline, DeviceStatus{Device: "", Status: Offline, At: 2000}),
		},
		{
			name:   "device event before queued",
			events: []Event{outcome("m1", "tv1", Delivered, 2000), queued("m1")},
			want:   processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 2000}),
		},
		{
			name:   "topic message queued",
			events: []Event{topicEvent(Queued, 1000, nil, "")},
			want:   topicStatus(Queued, 0, nil, ""),
		},
		{
			name:   "topic message published with counts and failed edges",
			events: []Event{topicEvent(Queued, 1000, nil, ""), topicEvent(Published, 2000, publishCounts(), "")},
			want:   topicStatus(Published, 2000, publishCounts(), ""),
		},
		{
			name:   "topic outcome before queued",
			events: []Event{topicEvent(Published, 2000, publishCounts(), ""), topicEvent(Queued, 1000, nil, "")},
			want:   topicStatus(Published, 2000, publishCounts(), ""),
		},
		{
			name:   "topic message failed keeps its error",
			events: []Event{topicEvent(Queued, 1000, nil, ""), topicEvent(Failed, 2000, nil, "unavailable: no directory")},
			want:   topicStatus(Failed, 2000, nil, "unavailable: no directory"),
		},
		{
			name:   "topic message published then a redelivery that failed stays published",
			events: []Event{topicEvent(Queued, 1000, nil, ""), topicEvent(Published, 2000, publishCounts(), ""), topicEvent(Failed, 3000, nil, "unavailable")},
			want:   topicStatus(Published, 2000, publishCounts(), ""),
		},
		{
			name: "topic message published again takes the newer counts",
			events: []Event{topicEvent(Queued, 1000, nil, ""), topicEvent(Published, 2000, publishCounts(), ""),
				topicEvent(Published, 3000, &protocol.PublishResult{Edges: 3, Devices: 7}, "")},
			want: topicStatus(Published, 3000, &protocol.PublishResult{Edges: 3, Devices: 7}, ""),
		},
		{
			name:   "topic message expired",
			events: []Event{topicEvent(Queued, 1000, nil, ""), topicEvent(Expired, 2000, nil, "")},
			want:   topicStatus(Expired, 2000, nil, ""),
		},
		{
			name:   "device events only",
			events: []Event{outcome("m1", "tv1", Delivered, 2000)},
			want: &MessageStatus{ID: "m1", Account: "a1", Priority: protocol.PriorityHigh, Status: Delivered,
				Devices: []DeviceStatus{{Device: "tv1", Status: Delivered, At: 2000}}},
		},
	}
	// Each case runs with its events recorded one by one (Record) and all
	// at once (RecordAll), which must come to the same status.
	for _, impl := range statusImplementations {
		t.Run(impl.name, func(t *testing.T) {
			newStore := impl.setup(t)
			for _, tc := range cases {
				for _, via := range []struct {
					name   string
					record func(testing.TB, StatusStore, ...Event)
				}{{"Record", mustRecord}, {"RecordAll", mustRecordAll}} {
					t.Run(tc.name+"/"+via.name, func(t *testing.T) {
						s := newStore(t, 0)
						via.record(t, s, tc.events...)
						id := tc.id
						if id == "" {
							id = "m1"
							if len(tc.events) > 0 && tc.events[0].Topic != "" {
								id = "t1"
							}
						}
						wantStatus(t, s, id, tc.want)
					})
				}
			}
		})
	}
}

// TestStatusContractTTL checks expiry against both stores; each step lets the
// given fraction of the ttl pass, then records events, then checks m1.
func TestStatusContractTTL(t *testing.T) {
	type step struct {
		wait   float64 // in ttls
		stored float64 // when above 0: m1 queued for tv1, stored for this many ttls
		events []Event
		want   *MessageStatus // checked unless nil
		gone   bool           // m1 must be ErrNotFound
	}
	delivered := DeviceStatus{Device: "tv1", Status: Delivered, At: 2000}
	storedTV1 := DeviceStatus{Device: "tv1", Status: Queued, At: 1500}
	deliveredTV2 := DeviceStatus{Device: "tv2", Status: Delivered, At: 2000}
	cases := []struct {
		name  string
		steps []step
	}{
		{
			name: "expires ttl after the last event",
			steps: []step{
				{events: []Event{queued("m1"), outcome("m1", "tv1", Delivered, 2000)}, want: processed(Delivered, delivered)},
				{wait: 0.5, want: processed(Delivered, delivered)},
				{wait: 1, gone: true},
			},
		},
		{
			name: "each event renews the ttl",
			steps: []step{
				{events: []Event{queued("m1")}, want: processed(Queued)},
				{wait: 0.7, events: []Event{outcome("m1", "tv1", Delivered, 2000)}, want: processed(Delivered, delivered)},
				{wait: 0.7, want: processed(Delivered, delivered)},
				{wait: 0.6, gone: true},
			},
		},
		{
			// A message stored for 28 days must still have a status when it is
			// delivered: the queued of a stored message keeps the record
			// until the message expires, and the ttl after; a later event of
			// another device does not cut that short.
			name: "a stored message's status lives until its expiry and the ttl after",
			steps: []step{
				{events: []Event{queued("m1")}, stored: 2, want: processed(Queued, storedTV1)},
				{wait: 1.5, events: []Event{outcome("m1", "tv2", Delivered, 2000)}, want: processed(Mixed, storedTV1, deliveredTV2)},
				{wait: 1.0, want: processed(Mixed, storedTV1, deliveredTV2)},
				{wait: 0.8, gone: true},
			},
		},
		{
			// m0 is seen before m1 and outlives it, so that the memory store
			// still holds m1 when its late event arrives.
			name: "an event after expiry starts afresh",
			steps: []step{
				{events: []Event{queued("m0"), queued("m1"), outcome("m1", "tv1", Acked, 2000)}},
				{wait: 0.7, events: []Event{outcome("m0", "tv1", Delivered, 2000)}},
				{wait: 0.7, events: []Event{outcome("m1", "tv1", Delivered, 2000)}, want: &MessageStatus{
					ID: "m1", Account: "a1", Priority: protocol.PriorityHigh, Status: Delivered, Devices: []DeviceStatus{delivered},
				}},
			},
		},
	}
	for _, impl := range statusImplementations {
		t.Run(impl.name, func(t *testing.T) {
			newStore := impl.setup(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					s := newStore(t, statusTTL)
					for _, st := range tc.steps {
						s.advance(time.Duration(st.wait * float64(statusTTL)))
						mustRecord(t, s, st.events...)
						if st.stored > 0 {
							e := outcome("m1", "tv1", Queued, 1500)
							e.Expires = s.now().Add(time.Duration(st.stored * float64(statusTTL))).UnixMilli()
							mustRecord(t, s, e)
						}
						if st.want != nil || st.gone {
							wantStatus(t, s, "m1", st.want)
						}
					}
				})
			}
		})
	}
}

func TestMemoryStatusBound(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "m" + string(rune('a'+i))
		}
		return out
	}
	cases := []struct {
		name       string
		maxEntries int
		record     []string // queued, in this order
		gone, kept []string
	}{
		{name: "under the bound", maxEntries: 3, record: ids(3), kept: ids(3)},
		{name: "one over", maxEntries: 3, record: ids(4), gone: ids(1), kept: ids(4)[1:]},
		{name: "many over", maxEntries: 2, record: ids(6), gone: ids(4), kept: ids(6)[4:]},
		{name: "bound of one", maxEntries: 1, record: ids(3), gone: ids(2), kept: ids(3)[2:]},
		{
			name: "an event for a kept message adds none", maxEntries: 2,
			record: []string{"ma", "mb", "ma", "mb", "ma"}, kept: []string{"ma", "mb"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemoryStatus(time.Hour, tc.maxEntries)
			for _, id := range tc.record {
				mustRecord(t, m, Event{ID: id, Account: "a1", Status: Queued, At: 1000})
			}
			for _, id := range tc.gone {
				wantStatus(t, m, id, nil)
			}
			for _, id := range tc.kept {
				wantStatus(t, m, id, &MessageStatus{ID: id, Account: "a1", Status: Queued, Accepted: 1000, Devices: []DeviceStatus{}})
			}
			m.mu.Lock()
			held, order := len(m.msgs), len(m.order)
			m.mu.Unlock()
			if held > tc.maxEntries || held != order {
				t.Fatalf("holds %d messages in a %d-long order; want at most %d in both", held, order, tc.maxEntries)
			}
		})
	}
}

// TestMemoryStatusDropsExpired checks that expired messages do not stay in
// memory until the bound pushes them out.
func TestMemoryStatusDropsExpired(t *testing.T) {
	clock := newFakeClock()
	m := NewMemoryStatus(time.Minute, 100)
	m.now = clock.now
	for _, id := range []string{"m1", "m2", "m3"} {
		mustRecord(t, m, queued(id))
	}
	clock.advance(time.Minute)
	wantStatus(t, m, "m1", nil)
	mustRecord(t, m, queued("m4"))
	m.mu.Lock()
	held, order := len(m.msgs), len(m.order)
	m.mu.Unlock()
	if held != 1 || order != 1 {
		t.Fatalf("after expiry holds %d messages in a %d-long order; want 1", held, order)
	}
}

// TestMemoryStatusGetCopies checks that a returned status is the caller's: its
// devices are not the store's, and sorting them did not reorder the store's.
func TestMemoryStatusGetCopies(t *testing.T) {
	m := NewMemoryStatus(0, 0)
	mustRecord(t, m, queued("m1"), outcome("m1", "tv2", Delivered, 2000), outcome("m1", "tv1", Delivered, 2001))
	got, err := m.Get(storeContext(t), "m1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got.Devices[0].Status = Failed
	mustRecord(t, m, outcome("m1", "tv3", Delivered, 2002))
	wantStatus(t, m, "m1", processed(Delivered,
		DeviceStatus{Device: "tv1", Status: Delivered, At: 2001},
		DeviceStatus{Device: "tv2", Status: Delivered, At: 2000},
		DeviceStatus{Device: "tv3", Status: Delivered, At: 2002}))
}

func TestStatusSummarize(t *testing.T) {
	d := func(name string, o Outcome) DeviceStatus { return DeviceStatus{Device: name, Status: o} }
	cases := []struct {
		name    string
		devices []DeviceStatus
		want    Outcome
		order   []string
	}{
		{name: "none", devices: []DeviceStatus{}, want: Queued, order: []string{}},
		{name: "one", devices: []DeviceStatus{d("tv1", Offline)}, want: Offline, order: []string{"tv1"}},
		{name: "same", devices: []DeviceStatus{d("b", Acked), d("a", Acked)}, want: Acked, order: []string{"a", "b"}},
		{name: "different", devices: []DeviceStatus{d("c", Acked), d("a", Acked), d("b", Delivered)}, want: Mixed, order: []string{"a", "b", "c"}},
		{name: "differs last", devices: []DeviceStatus{d("a", Acked), d("b", Acked), d("c", Expired)}, want: Mixed, order: []string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := MessageStatus{Devices: tc.devices}
			s.summarize()
			if s.Status != tc.want {
				t.Errorf("Status = %q, want %q", s.Status, tc.want)
			}
			order := []string{}
			for _, d := range s.Devices {
				order = append(order, d.Device)
			}
			if !reflect.DeepEqual(order, tc.order) {
				t.Errorf("devices in order %q, want %q", order, tc.order)
			}
		})
	}
}

// TestStatusHistory checks each device's history: every outcome once, the
// first time it was seen, in the order a message goes (rank, then time),
// whatever the order the events arrive in, at most MaxHistory steps.
func TestStatusHistory(t *testing.T) {
	for _, impl := range statusImplementations {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.setup(t)(t, time.Hour)
			failed := outcome("m1", "tv2", Offline, 2100)
			failed.Error = "not connected\nat all"
			mustRecord(t, s, queued("m1"),
				outcome("m1", "tv1", Queued, 1500),
				outcome("m1", "tv1", Acked, 1990), // before delivered, in time and on the topic: the edge's clock
				outcome("m1", "tv1", Delivered, 2000),
				outcome("m1", "tv1", Delivered, 2500), // a repeat: its first time stays
				failed)
			got, err := s.Get(storeContext(t), "m1")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]Step{
				"tv1": {{Status: Queued, At: 1500}, {Status: Delivered, At: 2000}, {Status: Acked, At: 1990}},
				"tv2": {{Status: Offline, At: 2100, Error: "not connected at all"}},
			}
			for _, d := range got.Devices {
				if !reflect.DeepEqual(d.History, want[d.Device]) {
					t.Errorf("%s: history %+v, want %+v", d.Device, d.History, want[d.Device])
				}
			}
			if got.Devices[0].Status != Acked {
				t.Errorf("tv1's status %s, want acked", got.Devices[0].Status)
			}
		})
	}
}

func TestAddStepBound(t *testing.T) {
	var h []Step
	for i := range MaxHistory + 5 {
		h = addStep(h, Step{Status: Outcome(fmt.Sprint("s", i)), At: int64(i)})
	}
	if len(h) != MaxHistory {
		t.Fatalf("%d steps, want MaxHistory", len(h))
	}
}

// TestStatusRecordAll records more events than one Redis pipeline takes
// (recordChunk), each message's queued event and then its device's outcome,
// with one RecordAll into a Redis that has no scripts loaded, and checks every
// message; an event the store refuses is named in the error, and the events
// around it are recorded all the same.
func TestStatusRecordAll(t *testing.T) {
	for _, impl := range statusImplementations {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.setup(t)(t, time.Hour)
			n := recordChunk + recordChunk/2
			var events []Event
			for i := range n {
				id := fmt.Sprintf("m%d", i)
				events = append(events, queued(id), outcome(id, "tv1", Delivered, 2000))
			}
			// A status that is not an outcome is refused.
			events = slices.Insert(events, recordChunk-1, outcome("bad", "tv1", "sent", 2000))
			if rs, ok := s.StatusStore.(*RedisStatus); ok {
				// A Redis without the script (restarted, flushed) answers
				// the pipeline's calls NOSCRIPT, and RecordAll sends them
				// again with the script.
				for _, n := range rs.client.Nodes() {
					if err := n.Do(storeContext(t), n.B().ScriptFlush().Build()).Error(); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := s.RecordAll(storeContext(t), events)
			if err == nil || !strings.Contains(err.Error(), `"sent"`) {
				t.Errorf("RecordAll with a status that is not an outcome: error %v, want one naming it", err)
			}
			if err := s.Record(storeContext(t), outcome("bad", "tv1", "sent", 2000)); err == nil {
				t.Error("Record of a status that is not an outcome: no error")
			}
			wantStatus(t, s, "bad", nil)
			for i := range n {
				id := fmt.Sprintf("m%d", i)
				want := processed(Delivered, DeviceStatus{Device: "tv1", Status: Delivered, At: 2000})
				want.ID = id
				wantStatus(t, s, id, want)
			}
		})
	}
}
