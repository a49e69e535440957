package processor

import (
	"log/slog"

	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
	lags   *GroupLags
}

var _ prometheus.Collector = (*lagCollector)(nil)

func newLagCollector(group string, topics Topics, mirrored []string, log *slog.Logger) *lagCollector {
	c := &lagCollector{
		desc: prometheus.NewDesc(metricLag,
			"Records of the priority's message topic not yet committed by its consumer group.",
			[]string{"priority"}, nil),
		prio:   make(map[string]protocol.Priority, len(Priorities)),
		topics: make(map[string][]string, len(Priorities)),
		lags:   NewGroupLags(log),
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
func (c *lagCollector) attach(cl *kgo.Client) { c.lags.Attach(cl) }

func (c *lagCollector) detach() { c.lags.Detach() }

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	lags := c.lags.Read(c.groups...)
	for _, g := range c.groups {
		byTopic, ok := lags[g]
		if !ok {
			continue
		}
		var total int64
		for _, topic := range c.topics[g] {
			total += byTopic[topic]
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(total), string(c.prio[g]))
	}
}
