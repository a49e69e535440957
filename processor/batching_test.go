package processor

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
)

// burst is how many records the batching tests send, gap apart: with a wait
// longer than the burst they gather in at most two fetches (the burst may
// straddle the end of one wait), and without one each goes alone, well within
// the gap on kfake.
const (
	burst    = 5
	burstGap = 20 * time.Millisecond
)

// TestBatchingWaitBounds checks which fetch waits the configs take: 0 (off),
// or between the least franz-go allows and the most.
func TestBatchingWaitBounds(t *testing.T) {
	opts := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}
	rec := newRecorder()
	fetchWaits := []struct {
		name string
		wait time.Duration
		ok   bool
	}{
		{"off", 0, true},
		{"negative", -time.Millisecond, false},
		{"below franz-go's least", MinFetchWait - time.Millisecond, false},
		{"least", MinFetchWait, true},
		{"most", MaxFetchWait, true},
		{"above the most", MaxFetchWait + time.Millisecond, false},
	}
	for _, tt := range fetchWaits {
		t.Run("processor "+tt.name, func(t *testing.T) {
			_, err := New(Config{Kafka: opts, Deliverer: rec, Directory: rec, FetchWait: tt.wait})
			if (err == nil) != tt.ok {
				t.Errorf("FetchWait %v: error %v, want ok %v", tt.wait, err, tt.ok)
			}
		})
		if tt.ok {
			continue // RunMaterializer with a valid config runs
		}
		t.Run("materializer "+tt.name, func(t *testing.T) {
			err := RunMaterializer(t.Context(), MaterializerConfig{Kafka: opts, Store: NewMemoryStatus(0, 0), FetchWait: tt.wait})
			if err == nil {
				t.Errorf("FetchWait %v: no error", tt.wait)
			}
		})
	}
}

// TestProcessorFetchWait checks that with a fetch wait the messages that
// arrive within it are delivered in one batch (or two, when they straddle the
// end of a wait), and without one each in its own.
func TestProcessorFetchWait(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		minBatches float64
		maxBatches float64
	}{
		{name: "off", wait: 0, minBatches: 3, maxBatches: burst},
		{name: "on", wait: 500 * time.Millisecond, minBatches: 1, maxBatches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder("a1/tv1")
			p := startPipeline(t, rec, false)
			p.adjust = func(c *Config) { c.FetchWait = tt.wait }
			p.start(t)
			// The first message is delivered once the member has joined
			// its group and fetches: the burst is then consumed as it
			// arrives.
			p.send(t, Message{Account: "a1", Device: "tv1"})
			waitFor(t, "the first delivery", func() bool { return len(rec.delivered()) == 1 })
			before := value(t, p.reg, metricBatches, "priority", "normal")
			for i := range burst {
				if i > 0 {
					time.Sleep(burstGap)
				}
				p.send(t, Message{Account: "a1", Device: "tv1"})
			}
			waitFor(t, "the burst's deliveries", func() bool { return len(rec.delivered()) == 1+burst })
			n := value(t, p.reg, metricBatches, "priority", "normal") - before
			if n < tt.minBatches || n > tt.maxBatches {
				t.Errorf("%d messages %v apart came in %v batches, want %v to %v", burst, burstGap, n, tt.minBatches, tt.maxBatches)
			}
		})
	}
}

// TestMaterializerFetchWait checks that with a fetch wait the status events
// still reach the store, those that arrive within it in one poll (or two),
// and without one each in its own.
func TestMaterializerFetchWait(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		minBatches float64
		maxBatches float64
	}{
		{name: "off", wait: 0, minBatches: 3, maxBatches: burst},
		{name: "on", wait: 500 * time.Millisecond, minBatches: 1, maxBatches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPipeline(t, newRecorder(), false)
			p.statusFetchWait = tt.wait
			p.start(t)
			report := func(id string) {
				p.prod.Report(Event{ID: id, Account: "a1", Device: "tv1", Status: Delivered, Priority: protocol.PriorityNormal})
			}
			stored := func(id string) bool {
				st, err := p.store.Get(t.Context(), id)
				return err == nil && st.Status == Delivered
			}
			report(tt.name + "-first")
			waitFor(t, "the first event stored", func() bool { return stored(tt.name + "-first") })
			before := value(t, p.reg, metricMatBatches)
			var ids []string
			for i := range burst {
				if i > 0 {
					time.Sleep(burstGap)
				}
				ids = append(ids, fmt.Sprintf("%s-%d", tt.name, i))
				report(ids[i])
			}
			waitFor(t, "the burst's events stored", func() bool {
				for _, id := range ids {
					if !stored(id) {
						return false
					}
				}
				return true
			})
			n := value(t, p.reg, metricMatBatches) - before
			if n < tt.minBatches || n > tt.maxBatches {
				t.Errorf("%d events %v apart came in %v polls, want %v to %v", burst, burstGap, n, tt.minBatches, tt.maxBatches)
			}
		})
	}
}

// waitFor waits up to 15 s for done, polling every 5 ms.
func waitFor(tb testing.TB, what string, done func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
