package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// dashboardFile is the Grafana dashboard of docs/deploy.
const dashboardFile = "../../docs/deploy/grafana/herald.json"

// metricName finds the metric names in a PromQL expression: Herald's own and
// those of the Go and process collectors.
var metricName = regexp.MustCompile(`\b(?:herald|go|process)_[a-z0-9_]+\b`)

// dashboardExprs returns every PromQL expression of the dashboard's panels.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// scrapeFamilies reads the metric families of a /metrics page: name -> type.
func scrapeFamilies(t *testing.T, admin string, into map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			into[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// exposed reports whether name is a metric of families: a family itself, or
// a histogram's _bucket, _sum or _count series.
func exposed(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && (families[base] == "histogram" || families[base] == "summary") {
			return true
		}
	}
	return false
}

func TestExposed(t *testing.T) {
	fams := map[string]string{"herald_a_seconds": "histogram", "herald_b_total": "counter"}
	for name, want := range map[string]bool{
		"herald_a_seconds": true, "herald_a_seconds_bucket": true, "herald_a_seconds_count": true,
		"herald_b_total": true, "herald_b_total_bucket": false, "herald_c": false,
	} {
		if got := exposed(fams, name); got != want {
			t.Errorf("exposed(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestGrafanaDashboard checks that every metric the Grafana dashboard of
// docs/deploy queries is exposed by a running cluster: two edges, an API and
// processor process, real Postgres and Redis, Kafka in process, with traffic
// on every path the dashboard shows so that each vector has a series.
func TestGrafanaDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries; did its layout change?", len(exprs))
	}
	topics := processor.Topics{Prefix: "grafana-test."}
	kafka := testenv.Kafka(t, 1, topics.All()...)
	pg := testenv.Postgres(t)
	rd, prefix := testenv.Redis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd, "--redis-prefix", prefix, "--cluster-key", clusterKey,
		"--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--kafka-topic-prefix", topics.Prefix,
		"--kafka-session-timeout", "2s", "--kafka-produce-timeout", "2s"}
	e1 := startProc(t, "edge-1", append([]string{"--roles=edge", "--edge-id", "edge-1", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--roles=edge", "--edge-id", "edge-2", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	api := startProc(t, "api", append([]string{"--roles=api,processor", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)

	tv := dialDevice(t, e1.addr, "a1", "tv")
	phone := dialDevice(t, e2.addr, "a1", "phone")
	// A sync push over a link to each edge, an async message, a device
	// message across the edges, a push to an offline device, a disconnect.
	for _, d := range []string{"tv", "phone"} {
		if r := push(t, api.addr, "a1", d); r.Status != protocol.StatusDelivered {
			t.Fatalf("push to %s: %+v", d, r)
		}
	}
	tv.next(t)
	phone.next(t)
	id := mustSend(t, api.addr, asyncBody("a1", "tv", ""))
	waitOutcome(t, api.addr, id, "tv", processor.Delivered)
	tv.next(t)
	push(t, api.addr, "a1", "nobody")
	_ = phone.c.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the disconnect to be counted", func() bool {
		fams := map[string]string{}
		scrapeFamilies(t, e2.admin, fams)
		_, ok := fams["herald_edge_disconnects_total"]
		return ok
	})

	families := map[string]string{}
	for _, p := range []*proc{e1, e2, api} {
		scrapeFamilies(t, p.admin, families)
	}
	checked := map[string]bool{}
	for _, expr := range exprs {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("query %q names no metric", expr)
		}
		for _, name := range names {
			checked[name] = true
			if !exposed(families, name) {
				t.Errorf("the dashboard queries %s (in %q), which no process exposes", name, expr)
			}
		}
	}
	var names []string
	for n := range checked {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("checked %d metrics: %s", len(names), strings.Join(names, " "))
}
