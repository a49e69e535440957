package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagTimeout bounds the Kafka requests of one scrape of a lag: a scrape must
// not hang on a cluster that is away.
const lagTimeout = 2 * time.Second

// GroupLags reads consumer groups' lag at scrape time, for the lag collectors
// of the processor and of the mirror (package mirror): through the client its
// owner attaches while it runs, nothing before Attach or after Detach.
// Partitions whose lag cannot be read are left out of the sums; a group that
// cannot be described or fetched is left out (and logged at most once a
// minute) rather than failing the whole scrape.
type GroupLags struct {
	log    *slog.Logger
	warned atomic.Int64 // Unix seconds of the last warning

	mu  sync.RWMutex // guards adm; Read holds it for reading while it asks Kafka
	adm *kadm.Client // nil while detached
}

// NewGroupLags returns a detached GroupLags logging to log.
func NewGroupLags(log *slog.Logger) *GroupLags { return &GroupLags{log: log} }

// Attach makes g ask Kafka through cl.
func (g *GroupLags) Attach(cl *kgo.Client) {
	g.mu.Lock()
	g.adm = kadm.NewClient(cl)
	g.mu.Unlock()
}

// Detach stops g, waiting for a read in progress, so that the client can be
// closed.
func (g *GroupLags) Detach() {
	g.mu.Lock()
	g.adm = nil
	g.mu.Unlock()
}

// Read returns, for each of groups that could be read, its lag per topic,
// summed over the partitions; nil while detached.
func (g *GroupLags) Read(groups ...string) map[string]map[string]int64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.adm == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	// A copy: Lag reuses the slice it is given, and scrapes may run at once.
	lags, err := g.adm.Lag(ctx, slices.Clone(groups)...)
	if err != nil {
		g.warn("reading the consumer lag failed", "err", err)
		return nil
	}
	out := make(map[string]map[string]int64, len(groups))
	for _, group := range groups {
		l, ok := lags[group]
		if !ok {
			continue
		}
		if err := l.Error(); err != nil {
			g.warn("reading the consumer lag failed", "group", group, "err", err)
			continue
		}
		byTopic := make(map[string]int64, len(l.Lag))
		for topic, parts := range l.Lag {
			var total int64
			for _, pl := range parts {
				if pl.Err == nil && pl.Lag > 0 {
					total += pl.Lag
				}
			}
			byTopic[topic] = total
		}
		out[group] = byTopic
	}
	return out
}

// warn logs at most once a minute: a scrape every few seconds while Kafka is
// away must not flood the log.
func (g *GroupLags) warn(msg string, args ...any) {
	now := time.Now().Unix()
	last := g.warned.Load()
	if now-last < 60 || !g.warned.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn(msg, args...)
}

// RegisterShared registers c into reg, or returns the collector reg already
// has in its place, so that two users of one registry (two processors, two
// mirrors, a processor and a materializer) share the series.
func RegisterShared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("metrics: %w", err)
}
