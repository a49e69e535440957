package processor

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicsMirrored checks the names of another region's topics as
// mirrored into this cluster: <region>.<topic>.
func TestTopicsMirrored(t *testing.T) {
	for _, tt := range []struct {
		topics       Topics
		status, high string
	}{
		{Topics{}, "eu.herald.status", "eu.herald.messages.high"},
		{Topics{Prefix: "acme-"}, "eu.acme-status", "eu.acme-messages.high"},
	} {
		m := tt.topics.Mirrored("eu")
		if m.Status() != tt.status || m.Messages(protocol.PriorityHigh) != tt.high {
			t.Errorf("prefix %q: %s and %s, want %s and %s", tt.topics.Prefix, m.Status(), m.Messages(protocol.PriorityHigh), tt.status, tt.high)
		}
	}
}

func TestTopicsWithMirrored(t *testing.T) {
	got := Topics{}.WithMirrored([]string{"eu", "us"}, []string{"ap"})
	want := []string{"herald.messages.high", "herald.messages.normal", "herald.messages.low", "herald.status",
		"eu.herald.status", "us.herald.status",
		"ap.herald.messages.high", "ap.herald.messages.normal", "ap.herald.messages.low"}
	if !slices.Equal(got, want) {
		t.Errorf("WithMirrored = %q, want %q", got, want)
	}
	if got := (Topics{}).WithMirrored(nil, nil); !slices.Equal(got, Topics{}.All()) {
		t.Errorf("WithMirrored without mirrors = %q, want All", got)
	}
}

// TestProcessorReadsMirrored runs a processor with Mirrored and a
// materializer with StatusMirrors: a message on a mirrored topic is delivered
// with its topic's priority, and an outcome on a mirrored status topic is
// stored beside the local ones.
func TestProcessorReadsMirrored(t *testing.T) {
	rec := newRecorder("a1/tv1", "a1/phone1")
	p := startPipeline(t, rec, false)
	eu := p.topics.Mirrored("eu")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, p.prod.Client(), eu.All(), TopicSpec{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p.adjust = func(c *Config) { c.Mirrored = []string{"eu"} }
	p.statusMirrors = []string{"eu"}
	p.start(t)

	m := Message{ID: "from-eu", Account: "a1", Device: "tv1", Type: "notification.v1", Payload: json.RawMessage(`{}`),
		Priority: protocol.PriorityHigh, Accepted: time.Now().UnixMilli()}
	v, _ := json.Marshal(m)
	ev, _ := json.Marshal(Event{ID: "from-eu", Account: "a1", Device: "phone1", Status: Acked, At: time.Now().UnixMilli()})
	if err := p.prod.Produce(ctx,
		&kgo.Record{Topic: eu.Messages(protocol.PriorityHigh), Key: m.Key(), Value: v},
		&kgo.Record{Topic: eu.Status(), Key: []byte(m.ID), Value: ev}); err != nil {
		t.Fatal(err)
	}
	p.waitStatus(t, m.ID, "tv1", Delivered)
	p.waitStatus(t, m.ID, "phone1", Acked)
	st, err := p.store.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Priority != protocol.PriorityHigh {
		t.Errorf("priority %q, want high: a mirrored high topic is consumed as a high one", st.Priority)
	}
}

// TestMirroredRegionNames checks that the regions of Mirrored and
// StatusMirrors must be region names.
func TestMirroredRegionNames(t *testing.T) {
	opts := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}
	rec := newRecorder()
	if _, err := New(Config{Kafka: opts, Deliverer: rec, Directory: rec, Mirrored: []string{"eu", "EU"}}); err == nil || !strings.Contains(err.Error(), `"EU" is not a region name`) {
		t.Errorf("New with Mirrored EU: %v", err)
	}
	err := RunMaterializer(t.Context(), MaterializerConfig{Kafka: opts, Store: NewMemoryStatus(0, 0), StatusMirrors: []string{"eu.west"}})
	if err == nil || !strings.Contains(err.Error(), `"eu.west" is not a region name`) {
		t.Errorf("RunMaterializer with StatusMirrors eu.west: %v", err)
	}
}
