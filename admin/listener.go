package admin

import (
	"io"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ListenerConfig is what a node's admin listener serves.
type ListenerConfig struct {
	// Metrics is the node's Prometheus registry, served at /metrics.
	Metrics *prometheus.Registry
	// Ready says whether /readyz answers 200; false from the start of a drain.
	Ready func() bool
	// Drain starts the node's drain and shutdown, as SIGTERM does.
	Drain func()
	// Console, when not nil, serves the admin API (/admin/) and the console
	// (/console): Server.Handler.
	Console http.Handler
}

// ListenerHandler serves a node's admin listener: /metrics, /healthz, /readyz,
// POST /drain and pprof, and the admin API and console when cfg.Console is set.
// Keep it off the public network. /readyz answers 503 from the start of a
// drain; POST /drain starts one, as SIGTERM does, and the process exits when
// it is done.
func ListenerHandler(cfg ListenerConfig) http.Handler {
	mux := http.NewServeMux()
	if cfg.Console != nil {
		mux.Handle("/admin/", cfg.Console)
		mux.Handle("/console/", cfg.Console)
		mux.Handle("/console", cfg.Console)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !cfg.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, _ *http.Request) {
		cfg.Drain()
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

// InternalListenerHandler serves a node's internal listener: the admin API's
// internal endpoints under /internal/v1/admin/ (internal, from
// Server.InternalHandler), the edge links otherwise (links). Both require a
// cluster key.
func InternalListenerHandler(links, internal http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/v1/admin/") {
			internal.ServeHTTP(w, r)
			return
		}
		links.ServeHTTP(w, r)
	})
}
