package main

import (
	"io"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// lookupCounter is a registry that counts its lookups and client-side cache hits.
type lookupCounter interface {
	LookupStats() (lookups, cacheHits uint64)
}

var _ lookupCounter = (*registry.Redis)(nil)

// registerMetrics adds the node's own collectors to its registry, beside the
// metrics that the edge, the API and the processor register themselves: the Go
// runtime and the process, registry lookups and the client-side cache, the links.
// They read plain atomic counters at scrape time, so nothing is added to the hot
// paths.
func registerMetrics(n *node) {
	reg := n.metrics
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if lc, ok := n.registry.(lookupCounter); ok {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_registry_lookups_total",
				Help: "Registry lookups of a device's edge.",
			}, func() float64 { l, _ := lc.LookupStats(); return float64(l) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_registry_cache_hits_total",
				Help: "Registry lookups answered from the client-side cache; the hit ratio is this over herald_registry_lookups_total.",
			}, func() float64 { _, h := lc.LookupStats(); return float64(h) }),
		)
	}
	if n.links != nil {
		reg.MustRegister(linkCollector{n.links})
	}
}

// linkCollector exports the state of every edge link.
type linkCollector struct{ links *edge.Links }

var (
	linkUpDesc      = prometheus.NewDesc("herald_link_up", "1 when the link to the edge is connected.", []string{"edge"}, nil)
	linkQueueDesc   = prometheus.NewDesc("herald_link_queue_depth", "Frames waiting to be written on the link.", []string{"edge"}, nil)
	linkPendingDesc = prometheus.NewDesc("herald_link_pending", "Deliveries waiting for their outcome over the link.", []string{"edge"}, nil)
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

// adminHandler serves /metrics, /healthz, /readyz, POST /drain and pprof: keep it
// off the public network. /readyz answers 503 from the start of a drain; drain
// starts one, as SIGTERM does, and the process exits when it is done. console,
// when not nil, serves the admin API (/admin/) and the console (/console).
func adminHandler(metrics *prometheus.Registry, ready *atomic.Bool, drain func(), console http.Handler) http.Handler {
	mux := http.NewServeMux()
	if console != nil {
		mux.Handle("/admin/", console)
		mux.Handle("/console/", console)
		mux.Handle("/console", console)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		drain()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "draining\n")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
