package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// lookups is a LookupCounter with fixed figures.
type lookups struct{}

func (lookups) LookupStats() (uint64, uint64) { return 7, 5 }

func TestListenerHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterNodeMetrics(reg, lookups{}, nil)
	var ready atomic.Bool
	ready.Store(true)
	drains := 0
	console := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "console") })
	h := ListenerHandler(ListenerConfig{Metrics: reg, Ready: ready.Load, Drain: func() { drains++; ready.Store(false) }, Console: console})
	do := func(method, path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"healthz", "GET", "/healthz", 200, "ok\n"},
		{"readyz", "GET", "/readyz", 200, "ready\n"},
		{"console", "GET", "/console/", 200, "console"},
		{"admin api", "GET", "/admin/v1/node", 200, "console"},
		{"lookups", "GET", "/metrics", 200, "herald_registry_lookups_total 7"},
		{"cache hits", "GET", "/metrics", 200, "herald_registry_cache_hits_total 5"},
		{"runtime", "GET", "/metrics", 200, "go_goroutines"},
		{"drain", "POST", "/drain", 202, "draining\n"},
		{"readyz after the drain", "GET", "/readyz", 503, "not ready\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := do(c.method, c.path)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Fatalf("%s %s: %d %q, want %d with %q", c.method, c.path, code, body, c.code, c.body)
			}
		})
	}
	if drains != 1 {
		t.Errorf("%d drains, want 1", drains)
	}
}

func TestListenerHandlerWithoutConsole(t *testing.T) {
	h := ListenerHandler(ListenerConfig{Metrics: prometheus.NewRegistry(), Ready: func() bool { return true }, Drain: func() {}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("/console/ without a console: %d, want 404", rec.Code)
	}
}

func TestInternalListenerHandler(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) })
	}
	h := InternalListenerHandler(named("links"), named("admin"))
	for path, want := range map[string]string{
		"/internal/v1/admin/node":    "admin",
		"/internal/v1/admin/session": "admin",
		"/internal/v1/link":          "links",
		"/internal/v1/adminx":        "links",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Body.String() != want {
			t.Errorf("%s served by %s, want %s", path, rec.Body.String(), want)
		}
	}
}
