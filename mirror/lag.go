package mirror

import (
	"log/slog"

	"github.com/heraldpush/herald/processor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
	desc  *prometheus.Desc
	group string
	lags  *processor.GroupLags
}

var _ prometheus.Collector = (*lagCollector)(nil)

func newLagCollector(group string, log *slog.Logger) *lagCollector {
	return &lagCollector{
		desc:  prometheus.NewDesc(metricLag, "Records of a source topic that the mirror has not copied and committed yet.", []string{"topic"}, nil),
		group: group,
		lags:  processor.NewGroupLags(log),
	}
}

// attach makes the collector ask the source through cl; detach stops it,
// waiting for a scrape in progress, so that cl can be closed.
func (c *lagCollector) attach(cl *kgo.Client) { c.lags.Attach(cl) }

func (c *lagCollector) detach() { c.lags.Detach() }

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for topic, total := range c.lags.Read(c.group)[c.group] {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(total), topic)
	}
}
