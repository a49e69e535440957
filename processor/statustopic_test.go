package processor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldpush/herald/protocol"
)

// TestStatusTopicCarriesEvents runs one scenario of each outcome through a
// processor and reads the status topic back: every event the processor wrote
// before its events were batched per poll and encoded by hand is there, once,
// and each record's value is byte for byte what encoding/json writes for it;
// and the status API's store, which the materializer fills from the topic,
// tells each message's events as the topic does.
func TestStatusTopicCarriesEvents(t *testing.T) {
	rec := newRecorder("a1/tv1", "a1/phone1", "a2/tv2")
	rec.ackDelay = 10 * time.Millisecond
	rec.broken = map[string]bool{"a3/tv3": true}
	p := startPipeline(t, rec, false)
	old := time.Now().Add(-time.Minute).UnixMilli()

	type want struct {
		id, account, device string
		status              Outcome
		prio                protocol.Priority
		errPrefix           string
	}
	var wants []want
	add := func(m *Message, device string, status Outcome, errPrefix string) {
		wants = append(wants, want{m.ID, m.Account, device, status, m.Priority, errPrefix})
	}
	queued := func(m *Message) { add(m, "", Queued, "") }

	one := p.send(t, Message{Account: "a1", Device: "tv1"})
	queued(one)
	add(one, "tv1", Delivered, "")
	acked := p.send(t, Message{Account: "a2", Device: "tv2", Ack: true, Priority: protocol.PriorityHigh})
	queued(acked)
	add(acked, "tv2", Delivered, "")
	add(acked, "tv2", Acked, "")
	all := p.send(t, Message{Account: "a1", Priority: protocol.PriorityLow})
	queued(all)
	add(all, "tv1", Delivered, "")
	add(all, "phone1", Delivered, "")
	off := p.send(t, Message{Account: "a1", Device: "nope"})
	queued(off)
	add(off, "nope", Offline, "")
	nobody := p.send(t, Message{Account: "a9"})
	queued(nobody)
	add(nobody, "", Offline, "")
	expired := p.send(t, Message{Account: "a1", Device: "tv1", Accepted: old, Expires: old + 1000})
	queued(expired)
	add(expired, "tv1", Expired, "")
	first := p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "score"})
	queued(first)
	add(first, "tv1", Collapsed, "")
	second := p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "score"})
	queued(second)
	add(second, "tv1", Delivered, "")
	broken := p.send(t, Message{Account: "a3", Device: "tv3"})
	queued(broken)
	add(broken, "tv3", Failed, "unavailable")
	bad := &kgo.Record{Topic: p.topics.Messages(protocol.PriorityNormal), Key: []byte("a1"), Value: []byte(`{"id":"bad1","account":"a1","device":"tv1"}`)}
	if err := p.prod.Produce(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{"bad1", "a1", "tv1", Failed, protocol.PriorityNormal, `"type" is required`})
	p.start(t)

	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(p.topics.Status()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, p.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []Event
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(wants) && time.Now().Before(deadline) {
		fetches := cl.PollFetches(t.Context())
		for _, r := range fetches.Records() {
			var e Event
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Fatalf("status record %s: %v", r.Value, err)
			}
			v, _ := json.Marshal(e)
			if !bytes.Equal(v, r.Value) {
				t.Errorf("status record\n %s\nis not what encoding/json writes for it:\n %s", r.Value, v)
			}
			if string(r.Key) != e.ID {
				t.Errorf("status record key %q, event id %q", r.Key, e.ID)
			}
			got = append(got, e)
		}
	}
	// Every event is there once (a record produced twice would show up
	// once more than expected).
	key := func(id, device string, s Outcome) string { return fmt.Sprintf("%s/%s/%s", id, device, s) }
	seen := map[string]int{}
	for _, e := range got {
		seen[key(e.ID, e.Device, e.Status)]++
	}
	for _, w := range wants {
		k := key(w.id, w.device, w.status)
		if seen[k] != 1 {
			t.Errorf("event %s seen %d times, want once", k, seen[k])
		}
		i := slices.IndexFunc(got, func(e Event) bool { return key(e.ID, e.Device, e.Status) == k })
		if i < 0 {
			continue
		}
		e := got[i]
		if e.Account != w.account || e.Priority != w.prio || !strings.HasPrefix(e.Error, w.errPrefix) || (w.errPrefix == "") != (e.Error == "") || e.At <= 0 {
			t.Errorf("event %s = %+v, want account %q, priority %q, error starting %q, a time", k, e, w.account, w.prio, w.errPrefix)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("%d events on the status topic, want %d: %+v", len(got), len(wants), got)
	}

	// The status API's store, fed by the materializer from the same topic,
	// tells the same events: each message's accepted time is its queued
	// event's, and each device's history holds exactly its events.
	var diff string
	defer func() {
		if diff != "" {
			t.Logf("the status store and the topic differ: %s", diff)
		}
	}()
	waitFor(t, "the status store to tell the topic's events", func() bool {
		diff = storeDiff(t, p.store, got)
		return diff == ""
	})
}

// storeDiff reports how store's statuses differ from the status topic's
// events, or "" when each message's accepted time and each device's history
// are the events, no more and no fewer.
func storeDiff(t *testing.T, store *MemoryStatus, events []Event) string {
	t.Helper()
	type step struct {
		id, device string
		s          Step
	}
	want := map[step]int{}
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.ID] = true
		if e.Status == Queued {
			want[step{e.ID, "", Step{Status: Queued, At: e.At}}]++
			continue
		}
		want[step{e.ID, e.Device, Step{Status: e.Status, At: e.At, Error: e.Error}}]++
	}
	got := map[step]int{}
	for id := range ids {
		st, err := store.Get(t.Context(), id)
		if err != nil {
			return fmt.Sprintf("%s: %v", id, err)
		}
		if st == nil {
			return id + ": not in the store"
		}
		if st.Accepted != 0 {
			got[step{id, "", Step{Status: Queued, At: st.Accepted}}]++
		}
		for _, d := range st.Devices {
			for _, h := range d.History {
				if h.Status != Queued {
					got[step{id, d.Device, h}]++
				}
			}
		}
	}
	if !maps.Equal(want, got) {
		return fmt.Sprintf("\n topic: %v\n store: %v", want, got)
	}
	return ""
}
