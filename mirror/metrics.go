package mirror

import (
	"fmt"

	"github.com/heraldpush/herald/processor"
	"github.com/prometheus/client_golang/prometheus"
)

// The Prometheus metrics of a mirror, registered into Config.Metrics:
//
//	herald_mirror_records_total{topic}   counter: records copied to the target
//	    and acknowledged by it, by source topic (a batch copied again after a
//	    failure counts again)
//	herald_mirror_errors_total{op}       counter: failures by operation: fetch
//	    (from the source), topic (creating or growing a target topic),
//	    produce (to the target: the batch is tried again), commit (of the
//	    source offsets: the batch is copied again by the next owner)
//	herald_mirror_lag{topic}             gauge: records of the source topic not
//	    yet copied and committed by the mirror's consumer group, read from the
//	    source at scrape time while Run runs (lagCollector); a mirror whose
//	    registry already exports one (another mirror of the same group) does
//	    not export its own
//
// The topic label takes the source topics the filter matches: four with the
// default filter. Mirrors that share a registry add up in one series.
const (
	metricRecords = "herald_mirror_records_total"
	metricErrors  = "herald_mirror_errors_total"
	metricLag     = "herald_mirror_lag"
)

// The operations of herald_mirror_errors_total.
const (
	opFetch = iota
	opTopic
	opProduce
	opCommit
	numOps
)

var opNames = [numOps]string{"fetch", "topic", "produce", "commit"}

// metrics are a mirror's series; byTopic is used by Run's goroutine only.
type metrics struct {
	recordsVec *prometheus.CounterVec
	byTopic    map[string]prometheus.Counter
	errors     [numOps]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	records, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricRecords,
		Help: "Records copied to the target cluster and acknowledged by it, by source topic.",
	}, []string{"topic"}))
	if err != nil {
		return nil, err
	}
	errs, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricErrors,
		Help: "Failures of the mirror by operation: fetch, topic, produce, commit.",
	}, []string{"op"}))
	if err != nil {
		return nil, err
	}
	m := &metrics{recordsVec: records, byTopic: map[string]prometheus.Counter{}}
	for i, name := range opNames {
		m.errors[i] = errs.WithLabelValues(name)
	}
	return m, nil
}

// records returns the counter of a source topic.
func (m *metrics) records(topic string) prometheus.Counter {
	c, ok := m.byTopic[topic]
	if !ok {
		c = m.recordsVec.WithLabelValues(topic)
		m.byTopic[topic] = c
	}
	return c
}

// register is processor.RegisterShared, its error naming the mirror.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	c, err := processor.RegisterShared(reg, c)
	if err != nil {
		return c, fmt.Errorf("mirror: %w", err)
	}
	return c, nil
}
