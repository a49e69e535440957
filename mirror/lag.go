package mirror

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagTimeout bounds the Kafka requests of one scrape of the lag: a scrape must
// not hang on a source cluster that is away.
const lagTimeout = 2 * time.Second

// lagCollector exports herald_mirror_lag{topic}: per source topic, the records
// the mirror's consumer group has not committed yet, that is, not yet copied
// and acknowledged by the target, summed over the partitions. It asks the
// source cluster at scrape time, through Run's source client, so it reports
// only while Run runs: Run registers and attaches it at start, and
// unregisters and detaches it before closing the client.
//
// Partitions whose lag cannot be read are left out of the sum; a group that
// cannot be described is left out of the scrape (and logged at most once a
// minute) rather than failing the whole scrape.
type lagCollector struct {
	desc   *prometheus.Desc
	group  string
	log    *slog.Logger
	warned atomic.Int64 // Unix seconds of the last warning

	mu  sync.RWMutex // guards adm; Collect holds it for reading while it asks Kafka
	adm *kadm.Client // nil while Run does not run
}

var _ prometheus.Collector = (*lagCollector)(nil)

func newLagCollector(group string, log *slog.Logger) *lagCollector {
	return &lagCollector{
		desc:  prometheus.NewDesc(metricLag, "Records of a source topic that the mirror has not copied and committed yet.", []string{"topic"}, nil),
		group: group,
		log:   log,
	}
}

// attach makes the collector ask the source through cl; detach stops it,
// waiting for a scrape in progress, so that cl can be closed.
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
	lags, err := c.adm.Lag(ctx, c.group)
	if err != nil {
		c.warn("reading the mirror's lag failed", "err", err)
		return
	}
	l, ok := lags[c.group]
	if !ok {
		return
	}
	if err := l.Error(); err != nil {
		c.warn("reading the mirror's lag failed", "group", c.group, "err", err)
		return
	}
	for topic, parts := range l.Lag {
		var total int64
		for _, pl := range parts {
			if pl.Err == nil && pl.Lag > 0 {
				total += pl.Lag
			}
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(total), topic)
	}
}

// warn logs at most once a minute: a scrape every few seconds while the
// source is away must not flood the log.
func (c *lagCollector) warn(msg string, args ...any) {
	now := time.Now().Unix()
	last := c.warned.Load()
	if now-last < 60 || !c.warned.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn(msg, args...)
}
