package processor

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagTimeout bounds the Kafka requests of one scrape of the lag: a scrape must
// not hang on a cluster that is away.
const lagTimeout = 2 * time.Second

// lagCollector exports herald_processor_lag: per priority, the records of its
// topics (the local one and the mirrored ones consumed) that the priority's consumer group has not committed, summed over the
// partitions. It asks Kafka at scrape time, through the client Run produces
// status events with, so it reports only while Run runs: Run registers it at
// start and unregisters and detaches it before closing the client.
//
// Partitions whose lag cannot be read are left out of the sum; a priority whose
// group cannot be described or fetched is left out of the scrape (and logged at
// most once a minute) rather than failing the whole scrape. A group without
// members (between restarts) counts only the partitions it has committed to.
type lagCollector struct {
	desc   *prometheus.Desc
	groups []string                     // the groups, in the order of Priorities
	prio   map[string]protocol.Priority // group -> priority
	topics map[string][]string          // group -> its topics
	log    *slog.Logger
	warned atomic.Int64 // Unix seconds of the last warning

	mu  sync.RWMutex // guards adm; Collect holds it for reading while it asks Kafka
	adm *kadm.Client // nil while Run does not run
}

var _ prometheus.Collector = (*lagCollector)(nil)

func newLagCollector(group string, topics Topics, mirrored []string, log *slog.Logger) *lagCollector {
	c := &lagCollector{
		desc: prometheus.NewDesc(metricLag,
			"Records of the priority's message topic not yet committed by its consumer group.",
			[]string{"priority"}, nil),
		prio:   make(map[string]protocol.Priority, len(Priorities)),
		topics: make(map[string][]string, len(Priorities)),
		log:    log,
	}
	for _, p := range Priorities {
		g := group + "." + string(p)
		c.groups = append(c.groups, g)
		c.prio[g] = p
		c.topics[g] = messageTopics(topics, mirrored, p)
	}
	return c
}

// attach makes the collector ask Kafka through cl; detach stops it, waiting for
// a scrape in progress, so that cl can be closed.
func (c *lagCollector) attach(cl *kgo.Client) {
	c.mu.Lock()
	c.adm = kadm.NewClient(cl)
	c.mu.Unlock()
}

func (c *lagCollector) detach() {
	c.mu.Lock()
	c.adm = nil
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.adm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	// A copy: Lag reuses the slice it is given, and scrapes may run at once.
	lags, err := c.adm.Lag(ctx, slices.Clone(c.groups)...)
	if err != nil {
		c.warn("reading the consumer lag failed", "err", err)
		return
	}
	for _, g := range c.groups {
		l, ok := lags[g]
		if !ok {
			continue
		}
		if err := l.Error(); err != nil {
			c.warn("reading the consumer lag failed", "group", g, "err", err)
			continue
		}
		var total int64
		for _, topic := range c.topics[g] {
			for _, pl := range l.Lag[topic] {
				if pl.Err == nil && pl.Lag > 0 {
					total += pl.Lag
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(total), string(c.prio[g]))
	}
}

// warn logs at most once a minute: a scrape every few seconds while Kafka is
// away must not flood the log.
func (c *lagCollector) warn(msg string, args ...any) {
	now := time.Now().Unix()
	last := c.warned.Load()
	if now-last < 60 || !c.warned.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(msg, args...)
}
