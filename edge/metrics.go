package edge

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values that index the metric arrays below.
const (
	transportWS  = 0
	transportSSE = 1

	dirIn  = 0
	dirOut = 1

	dropQueueFull = 0
	dropOutRate   = 1
)

// refusal is why a connection was refused before the upgrade.
type refusal uint8

// The refusals, values of herald_edge_connections_refused_total's reason.
const (
	refusedMaxConnections refusal = iota
	refusedRateLimited
	refusedDraining
	refusedShutdown
	refusedUnauthorized
	refusedOrigin
	refusedPolicyBackoff
	numRefusals
)

var refusalLabel = [numRefusals]string{"max_connections", "rate_limited", "draining", "shutdown", "unauthorized", "origin", "policy_backoff"}

// The per-connection budgets, values of herald_edge_over_budget_total's budget.
const (
	budgetFrames    = 0 // FrameRate: every inbound frame
	budgetHellos    = 1 // HelloRate: hello frames
	budgetErrors    = 2 // ErrorRate: error frames sent in reply
	budgetBadFrames = 3 // MaxBadFrames per BadFrameWindow: undecodable frames
	numBudgets      = 4
)

var budgetLabel = [numBudgets]string{"frames", "hellos", "errors", "bad_frames"}

// Message paths: a device's message to a device, or a delivery from a service
// (Deliver: sync push, asynchronous processor).
const (
	pathD2D  = 0
	pathPush = 1
)

var pathLabel = [2]string{"d2d", "push"}

// Statuses of incoming device messages.
const (
	inAccepted    = 0 // valid, handed to the fan-out
	inRejected    = 1 // refused with an error frame (bad, unknown type, invalid, forbidden, ...)
	inRateLimited = 2 // over MsgRate or MaxInflight
	numIn         = 3
)

var inLabel = [numIn]string{"accepted", "rejected", "rate_limited"}

// The kinds of link frames an edge reads, for herald_edge_link_frames_total:
// what a publish costs the cluster is one publish frame per edge with
// subscribers, against one msg frame per device for pushes.
const (
	linkMsg = iota
	linkPublish
	linkCount
	linkReplace
	linkNudge
	linkLate
	linkPresence
	linkLocate
	linkOther
	numLinkKinds
)

var linkKindLabel = [numLinkKinds]string{"msg", "publish", "count", "replace", "nudge", "late", "presence", "locate", "other"}

// outStatuses are the outcomes of a message written to a device held here.
var outStatuses = [...]protocol.Status{protocol.StatusDelivered, protocol.StatusAcked, protocol.StatusOffline,
	protocol.StatusRejected, protocol.StatusTimeout, protocol.StatusQueued}

// msgSlots is the number of herald_messages_total children per type: the incoming
// statuses, then the outgoing ones per path.
const msgSlots = numIn + len(pathLabel)*len(outStatuses)

// otherType is the type label of messages of a type this edge does not know,
// which keeps the label's cardinality bounded by the registry.
const otherType = "other"

// latencyBuckets span 100 µs to 10 s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics are the edge's Prometheus metrics. Every child on a hot path is resolved
// once (here, or lazily per message type), so counting a message allocates nothing.
type metrics struct {
	connections   prometheus.Gauge
	connects      [2]prometheus.Counter // by transport
	disconnects   *prometheus.CounterVec
	refused       [numRefusals]prometheus.Counter
	messages      *prometheus.CounterVec
	latency       prometheus.Observer              // path d2d
	rateLimited   [2]prometheus.Counter            // by direction
	dropped       [2]prometheus.Counter            // by reason
	memReleases   prometheus.Counter               // returns of freed memory to the OS
	storedOut     prometheus.Counter               // stored messages written to their device on connect
	topicSubs     prometheus.Gauge                 // topic subscriptions of the edge's sessions
	topicOut      prometheus.Counter               // topic messages queued for subscribers
	topicCaughtUp prometheus.Counter               // topic messages queued from the log for a device catching up
	linkFrames    [numLinkKinds]prometheus.Counter // frames read from incoming links, by linkKindLabel
	overBudget    [numBudgets]prometheus.Counter
	refreshes     prometheus.Counter // device tokens refreshed on live connections
	nudges        *NudgeCounters     // herald_inbox_nudges_total: read, ignored

	types sync.Map // type name -> *typeCounters
	other *typeCounters
}

// typeCounters holds herald_messages_total's children of one type, created on
// first use so that combinations that never happen are not exported.
type typeCounters struct {
	name string
	c    [msgSlots]atomic.Pointer[counterRef]
}

type counterRef struct{ prometheus.Counter }

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	connections := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_edge_connections",
		Help: "Open device connections on this edge: the autoscaling signal.",
	})
	connects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_edge_connects_total",
		Help: "Device connections accepted, by transport (ws, sse).",
	}, []string{"transport"})
	disconnects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_edge_disconnects_total",
		Help: "Device connections ended, by reason and close code.",
	}, []string{"reason", "code"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_edge_connections_refused_total",
		Help: "Device connections refused before the upgrade, by reason.",
	}, []string{"reason"})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_messages_total",
		Help: "Messages at the edge: in from devices, out to devices; by path (d2d, push), type (registered names, else other) and status.",
	}, []string{"path", "direction", "type", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herald_delivery_latency_seconds",
		Help:    "From a device message's arrival to its write to each target, measured at the sending edge.",
		Buckets: latencyBuckets,
	}, []string{"path"})
	rateLimited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_frames_rate_limited_total",
		Help: "Messages refused by a per-connection rate limit: in (MsgRate, MaxInflight), out (MaxOutRate).",
	}, []string{"direction"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_frames_dropped_total",
		Help: "Frames not queued for a device, by reason (queue_full, out_rate).",
	}, []string{"reason"})
	overBudget := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_edge_over_budget_total",
		Help: "Inbound frames refused, and error replies not sent, by the per-connection budget they exceeded (frames, hellos, errors, bad_frames).",
	}, []string{"budget"})
	memoryReleases := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_edge_memory_releases_total",
		Help: "Times the edge returned freed memory to the OS after a burst of new connections (ReleaseMemoryAfterConns).",
	})
	storedOut := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_edge_stored_delivered_total",
		Help: "Messages from devices' inboxes (store-and-forward) written to the device when it connected, and removed from the inbox.",
	})
	topicSubs := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_edge_topic_subscriptions",
		Help: "Topic subscriptions of the devices connected to the edge.",
	})
	topicOut := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_edge_topic_messages_total",
		Help: "Messages published to topics, queued for the edge's subscribers (one per subscriber).",
	})
	topicCaughtUp := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_edge_topic_caught_up_total",
		Help: "Messages of topics' logs queued for devices that subscribed with a cursor (catch-up).",
	})
	refreshes := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_edge_token_refreshes_total",
		Help: "Device tokens refreshed on a live connection (refresh frame, POST /v1/refresh), each moving the connection's expiry to the new token's.",
	})
	linkFrames := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_edge_link_frames_total",
		Help: "Frames read from the edge's incoming links (other edges and API processes), by kind: msg (one device or account), publish (one topic message, whatever its subscribers here), count, replace, nudge, late, presence, locate (a region link asking for a device), other (refused).",
	}, []string{"kind"})
	for _, c := range []prometheus.Collector{connections, connects, disconnects, refused, messages, latency, rateLimited, dropped, overBudget, memoryReleases, storedOut, topicSubs, topicOut, topicCaughtUp, linkFrames, refreshes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("edge: register metrics: %w", err)
		}
	}
	nudges, err := NewNudgeCounters(reg)
	if err != nil {
		return nil, err
	}
	m := &metrics{
		nudges:        nudges,
		connections:   connections,
		storedOut:     storedOut,
		topicSubs:     topicSubs,
		topicOut:      topicOut,
		topicCaughtUp: topicCaughtUp,
		refreshes:     refreshes,
		connects:      [2]prometheus.Counter{connects.WithLabelValues("ws"), connects.WithLabelValues("sse")},
		disconnects:   disconnects,
		messages:      messages,
		latency:       latency.WithLabelValues(pathLabel[pathD2D]),
		rateLimited:   [2]prometheus.Counter{rateLimited.WithLabelValues("in"), rateLimited.WithLabelValues("out")},
		dropped:       [2]prometheus.Counter{dropped.WithLabelValues("queue_full"), dropped.WithLabelValues("out_rate")},
		memReleases:   memoryReleases,
		other:         &typeCounters{name: otherType},
	}
	for i, l := range refusalLabel {
		m.refused[i] = refused.WithLabelValues(l)
	}
	for i, l := range budgetLabel {
		m.overBudget[i] = overBudget.WithLabelValues(l)
	}
	for i, l := range linkKindLabel {
		m.linkFrames[i] = linkFrames.WithLabelValues(l)
	}
	return m, nil
}

// disconnected counts an ended connection.
func (m *metrics) disconnected(c cause, code websocket.StatusCode) {
	m.disconnects.WithLabelValues(c.label(), codeLabel(code)).Inc()
}

// typ returns the counters of a message type: its own when the registry knows the
// type, else the shared "other".
func (m *metrics) typ(types *protocol.Types, name string) *typeCounters {
	if v, ok := m.types.Load(name); ok {
		return v.(*typeCounters)
	}
	t, ok := types.Lookup(name)
	if !ok {
		return m.other
	}
	v, _ := m.types.LoadOrStore(t.Name, &typeCounters{name: t.Name})
	return v.(*typeCounters)
}

// in counts an incoming device message with one of the in* statuses.
func (m *metrics) in(types *protocol.Types, typ string, status int) {
	m.typ(types, typ).inc(m.messages, status, pathLabel[pathD2D], "in", inLabel[status])
}

// out counts the outcome of a message written (or not) to a device held here.
func (m *metrics) out(types *protocol.Types, msg *protocol.Msg, st protocol.Status) {
	path := pathPush
	if msg.From != nil && msg.From.Device != "" {
		path = pathD2D
	}
	for i, s := range outStatuses {
		if s == st {
			m.typ(types, msg.Type).inc(m.messages, numIn+path*len(outStatuses)+i, pathLabel[path], "out", string(s))
			return
		}
	}
}

// inc increments the child in slot i, resolving it with the labels the first time.
func (tc *typeCounters) inc(vec *prometheus.CounterVec, i int, path, dir, status string) {
	c := tc.c[i].Load()
	if c == nil {
		c = &counterRef{vec.WithLabelValues(path, dir, tc.name, status)}
		if !tc.c[i].CompareAndSwap(nil, c) {
			c = tc.c[i].Load()
		}
	}
	c.Inc()
}
