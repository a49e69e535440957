package admin

import (
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// The metrics a node's figures are read from: its own Prometheus registry,
// the one /metrics serves.
const (
	metricConnections = "herald_edge_connections"
	metricConnects    = "herald_edge_connects_total"
	metricDisconnects = "herald_edge_disconnects_total"
	metricLinkUp      = "herald_link_up"
	metricLinkQueue   = "herald_link_queue_depth"
	metricLinkPending = "herald_link_pending"
	metricLag         = "herald_processor_lag"
)

// Node is one node's figures, as GET /admin/v1/node answers and the fleet
// lists them. Counters are totals since the node started: the console shows
// their rates as the difference of two refreshes.
type Node struct {
	// Node is the node's name: its edge id for an edge.
	Node string `json:"node"`
	// Region is the node's region, "" in one region.
	Region string   `json:"region,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	// Ready is the node's /readyz: false while it drains.
	Ready bool `json:"ready"`
	// Connections are the open device connections (herald_edge_connections).
	Connections int64 `json:"connections"`
	// Connects and Disconnects count connections accepted and ended since the
	// start (herald_edge_connects_total, herald_edge_disconnects_total).
	Connects    int64 `json:"connects_total"`
	Disconnects int64 `json:"disconnects_total"`
	// Links are the node's links to other edges.
	Links []Link `json:"links"`
	// Lag is the processor's lag per priority (herald_processor_lag), empty
	// without the processor role.
	Lag map[string]int64 `json:"lag,omitempty"`
	// At is when the figures were read, Unix milliseconds.
	At int64 `json:"at"`
	// Error says why an edge's figures could not be fetched (fleet only);
	// the other fields are then empty.
	Error string `json:"error,omitempty"`
}

// Link is the state of one edge link (herald_link_up, herald_link_queue_depth,
// herald_link_pending).
type Link struct {
	Edge    string `json:"edge"`
	Up      bool   `json:"up"`
	Queue   int64  `json:"queue"`
	Pending int64  `json:"pending"`
}

// localNode reads this node's figures from its metrics.
func (s *Server) localNode() (Node, error) {
	n := Node{Node: s.cfg.Node, Region: s.cfg.Region, Roles: s.cfg.Roles, Ready: s.cfg.Ready(), Links: []Link{}, At: s.cfg.Now().UnixMilli()}
	mfs, err := s.cfg.Metrics.Gather()
	if err != nil {
		return n, err
	}
	links := map[string]*Link{}
	link := func(m *dto.Metric) *Link {
		e := label(m, "edge")
		if links[e] == nil {
			links[e] = &Link{Edge: e}
		}
		return links[e]
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := value(m)
			switch mf.GetName() {
			case metricConnections:
				n.Connections += int64(v)
			case metricConnects:
				n.Connects += int64(v)
			case metricDisconnects:
				n.Disconnects += int64(v)
			case metricLinkUp:
				link(m).Up = v == 1
			case metricLinkQueue:
				link(m).Queue = int64(v)
			case metricLinkPending:
				link(m).Pending = int64(v)
			case metricLag:
				if n.Lag == nil {
					n.Lag = map[string]int64{}
				}
				n.Lag[label(m, "priority")] = int64(v)
			}
		}
	}
	for _, l := range links {
		n.Links = append(n.Links, *l)
	}
	slices.SortFunc(n.Links, func(a, b Link) int {
		switch {
		case a.Edge < b.Edge:
			return -1
		case a.Edge > b.Edge:
			return 1
		}
		return 0
	})
	return n, nil
}

// value is a sample's value, whatever its type.
func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// label is the value of a sample's label, "" without it.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// node answers GET /admin/v1/node: this node's figures.
func (s *Server) node(w http.ResponseWriter, _ *http.Request) {
	n, err := s.localNode()
	if err != nil {
		s.unavailable(w, "the node's metrics", err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}
