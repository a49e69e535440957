package admin

import (
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// LookupCounter is a registry that counts its lookups and client-side cache
// hits.
type LookupCounter interface {
	LookupStats() (lookups, cacheHits uint64)
}

var _ LookupCounter = (*registry.Redis)(nil)

// RegisterNodeMetrics adds a node's own collectors to its registry, beside the
// metrics that the edge, the API and the processor register themselves: the Go
// runtime and the process, registry lookups and the client-side cache (when
// lookups is not nil), the links (when links is not nil), whose series the
// fleet view reads (Link). They read plain atomic counters at scrape time, so
// nothing is added to the hot paths.
func RegisterNodeMetrics(reg prometheus.Registerer, lookups LookupCounter, links *edge.Links) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if lookups != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_registry_lookups_total",
				Help: "Registry lookups of a device's edge.",
			}, func() float64 { l, _ := lookups.LookupStats(); return float64(l) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_registry_cache_hits_total",
				Help: "Registry lookups answered from the client-side cache; the hit ratio is this over herald_registry_lookups_total.",
			}, func() float64 { _, h := lookups.LookupStats(); return float64(h) }),
		)
	}
	if links != nil {
		reg.MustRegister(linkCollector{links})
	}
}

// linkCollector exports the state of every edge link.
type linkCollector struct{ links *edge.Links }

var (
	linkUpDesc      = prometheus.NewDesc(metricLinkUp, "1 when the link to the edge is connected.", []string{"edge"}, nil)
	linkQueueDesc   = prometheus.NewDesc(metricLinkQueue, "Frames waiting to be written on the link.", []string{"edge"}, nil)
	linkPendingDesc = prometheus.NewDesc(metricLinkPending, "Deliveries waiting for their outcome over the link.", []string{"edge"}, nil)
)

func (linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- linkUpDesc
	ch <- linkQueueDesc
	ch <- linkPendingDesc
}

func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.links.Stats() {
		up := 0.0
		if st.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(linkUpDesc, prometheus.GaugeValue, up, st.Edge)
		ch <- prometheus.MustNewConstMetric(linkQueueDesc, prometheus.GaugeValue, float64(st.Queue), st.Edge)
		ch <- prometheus.MustNewConstMetric(linkPendingDesc, prometheus.GaugeValue, float64(st.Pending), st.Edge)
	}
}
