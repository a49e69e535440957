package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/tracing"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the limits in Config.
const (
	DefaultMaxFrameBytes = 64 << 10
	DefaultPingInterval  = 30 * time.Second
	DefaultPongTimeout   = 15 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultSendQueue     = 64
	DefaultInboxPage     = 32
	DefaultMaxBadFrames  = 3
	DefaultMsgRate       = 50
	DefaultMsgBurst      = 100
	DefaultMaxRateHits   = 20
	// FrameRate and FrameBurst default to FrameBudgetFactor times MsgRate and
	// MsgBurst: room for the acks and hellos beside the messages.
	FrameBudgetFactor     = 4
	DefaultHelloRate      = 1
	DefaultHelloBurst     = 10
	DefaultErrorRate      = 20
	DefaultErrorBurst     = 100
	DefaultBadFrameWindow = time.Minute
	DefaultMaxInflight    = 32
	DefaultMaxTopics      = 100
	DefaultTopicCatchUp   = 100
	// DefaultTopicRefresh is a quarter of the registry's topic TTL.
	DefaultTopicRefresh      = registry.DefaultTopicTTL / 4
	DefaultMaxTargets        = 100
	DefaultAckTimeout        = 10 * time.Second
	DefaultRegistryTimeout   = 2 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultDeviceCache       = 100000
)

// Defaults of a connection's lifetime. Each connection draws its lifetime uniformly
// from [MinLifetime, MaxLifetime], so reconnects never come in lockstep.
const (
	DefaultMinLifetime    = 25 * time.Minute
	DefaultMaxLifetime    = 35 * time.Minute
	DefaultReconnectGrace = 10 * time.Second
)

// Verifier checks a device token.
type Verifier interface {
	Verify(raw string) (token.Claims, error)
}

// Registry records where devices are connected. Unregister is a compare-and-delete
// on the session.
type Registry interface {
	Register(ctx context.Context, account, device string, e registry.Entry) (registry.Entry, error)
	Unregister(ctx context.Context, account, device, session string) (bool, error)
}

// Liveness keeps an edge's liveness key, which makes its devices routable.
type Liveness interface {
	// Heartbeat refreshes the key; fresh reports that it had been missing.
	Heartbeat(ctx context.Context, edge, addr string) (fresh bool, err error)
	// RemoveEdge deletes the key on a clean shutdown.
	RemoveEdge(ctx context.Context, edge string) error
}

// DeviceList is the source of truth for the devices of an account: the targets a
// device may message.
type DeviceList interface {
	// IDs lists the account's devices.
	IDs(ctx context.Context, account string) ([]string, error)
	// Touch makes sure the device is listed, updating its metadata from info.
	Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error
	// Seen records, without blocking, that the device was seen at t.
	Seen(account, device string, t time.Time)
}

// DeviceTopics keeps the devices' persistent topics, which a backend set
// through the REST API (devicelist.Postgres and devicelist.Memory implement
// it). TopicDevices lists the devices of an account that have any, sorted:
// the edge keeps it with the account's cached device list, so that a device
// without persistent topics connects without a query for them; Topics reads
// one device's, sorted.
type DeviceTopics interface {
	Topics(ctx context.Context, account, device string) ([]string, error)
	TopicDevices(ctx context.Context, account string) ([]string, error)
}

// Versions tells when an account's device list changed, so cached copies are
// reloaded; BumpAccount announces a change.
type Versions interface {
	AccountVersion(ctx context.Context, account string) (int64, error)
	BumpAccount(ctx context.Context, account string) error
}

// Presencer carries presence news to the devices of an account held by another
// edge.
type Presencer interface {
	Presence(ctx context.Context, edge, account string, p *protocol.Presence) error
}

// Deliverer delivers a message to a device wherever it is connected. progress, if
// not nil, is called with the delivered result when the message was written and an
// ack is still awaited.
type Deliverer interface {
	Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result
}

// Replacer tells another edge that its connection of a device was replaced by a
// newer one here.
type Replacer interface {
	Replace(ctx context.Context, edge, account, device, session string) error
}

// Config configures a Server. Zero limits take the defaults above.
type Config struct {
	// ID names this edge in welcome frames and registrations. Required.
	ID string
	// Verifier checks device tokens. Required.
	Verifier Verifier
	// Registry records this edge's devices. Required.
	Registry Registry
	// Types validates device messages. Required.
	Types *protocol.Types
	// Devices is the device list that message targets are resolved against.
	// Required.
	Devices DeviceList
	// Versions invalidates the edge's cached device lists. Required.
	Versions Versions
	// DeviceTopics, when set, holds the devices' persistent topics: a
	// connecting device is subscribed to its own (devicetopics.go), and a
	// topics link frame makes the edge read them again for a connected one.
	DeviceTopics DeviceTopics
	// Locator and Presencer, when both are set, carry presence frames to sibling
	// devices on other edges.
	Locator   Locator
	Presencer Presencer
	// DeviceCache bounds the accounts whose device lists the edge caches.
	DeviceCache int
	// Router delivers device messages to their targets; nil delivers only to devices
	// held by this server.
	Router Deliverer
	// Inbox, when set, holds the messages stored for this edge's devices while
	// they were offline; a device gets them when it connects (inbox.go).
	Inbox Inbox
	// InboxPage is the most stored messages the edge reads and queues at once
	// for a device; it must be below SendQueue, which also holds the welcome.
	InboxPage int
	// Statuses, when set, records what becomes of stored messages here
	// (status.go): queued, delivered, acked, expired, collapsed, dropped.
	Statuses Statuses
	// Late, when set, passes the late acked receipt of a stored device msg
	// that its target acked here to its sender, wherever the sender is
	// connected (late.go); Router implements it. Without it a sender on this
	// edge still gets it.
	Late LateReceipts
	// Topics, when set, records in the registry which topics have
	// subscribers here (topicdir.go), so that publishes elsewhere reach them.
	// TopicRefresh is how often the heartbeat adds every topic again, below
	// the registry's topic TTL; default DefaultTopicRefresh.
	Topics       TopicDirectory
	TopicRefresh time.Duration
	// TopicLog, when set, is read for a device that subscribes with a cursor
	// (catchup.go): at most TopicCatchUp messages per topic and sub, default
	// DefaultTopicCatchUp.
	TopicLog     TopicLog
	TopicCatchUp int
	// Nudger, when set, tells the edge that holds a device to read its inbox
	// again after this edge put a device's msg there (nudge.go); without it a
	// msg stored while its target connects waits for the target's next
	// connection.
	Nudger Nudger
	// Replacer, when set, closes a device's older connection on another edge when
	// the device connects here (only the newest connection of a device lives).
	Replacer Replacer
	// AllowedOrigins lists the host patterns (path.Match syntax, e.g.
	// "*.example.com") of browser origins allowed besides the request's own host;
	// "*" allows any. Requests without an Origin header are not browsers and pass.
	AllowedOrigins []string

	// MaxFrameBytes is the largest frame a device may send; larger closes with 1009.
	MaxFrameBytes int64
	// PingInterval is how often the server pings each connection.
	PingInterval time.Duration
	// PongTimeout is how long a ping may go unanswered before the connection closes.
	PongTimeout time.Duration
	// WriteTimeout bounds one write to a connection; a slower peer is disconnected.
	WriteTimeout time.Duration
	// SendQueue is the number of frames waiting for one connection; a message for a
	// full queue is rejected with "send queue full" (the sender is never blocked).
	SendQueue int
	// MaxBadFrames undecodable frames (not a JSON object, binary) within
	// BadFrameWindow close the connection with 1003: a token bucket of
	// MaxBadFrames tokens that refills at MaxBadFrames per BadFrameWindow, so the
	// rule is a rate, not a streak that one good frame resets.
	MaxBadFrames   int
	BadFrameWindow time.Duration
	// MsgRate and MsgBurst bound the msg frames a device may send (a token bucket
	// per connection; a message takes one token per target); a msg over the rate
	// gets a rate_limited error.
	MsgRate  float64
	MsgBurst int
	// FrameRate and FrameBurst bound every frame a device sends, of any kind and
	// whether it decodes or not (a token bucket per connection); a frame over it
	// is dropped and answered rate_limited. Zero means FrameBudgetFactor times
	// MsgRate and MsgBurst (200 a second, 400 at once, by default).
	FrameRate  float64
	FrameBurst int
	// HelloRate and HelloBurst bound a device's hello frames (a token bucket per
	// connection); a hello over it is dropped and answered rate_limited. However
	// many hellos arrive, one device-list write per connection is in flight.
	HelloRate  float64
	HelloBurst int
	// ErrorRate and ErrorBurst bound the error frames sent to a connection in
	// reply to its frames; past them replies are not sent (and counted in
	// herald_edge_over_budget_total{budget="errors"}).
	ErrorRate  float64
	ErrorBurst int
	// MaxRateHits frames over a budget in a row close the connection with 1008.
	MaxRateHits int
	// PolicyBackoff, PolicyBackoffMax and PolicyBackoffDevices: a device closed
	// with 1008 is refused (429, Retry-After) on connect for PolicyBackoff,
	// doubled for each repeat within PolicyBackoffMax up to PolicyBackoffMax; the
	// edge remembers at most PolicyBackoffDevices devices (see penalty.go). A
	// negative PolicyBackoff turns the backoff off.
	PolicyBackoff        time.Duration
	PolicyBackoffMax     time.Duration
	PolicyBackoffDevices int
	// CloseWriteTimeout bounds the write of the close frame when the edge closes
	// a device for its own misbehaviour (1003, 1007, 1008, 1009), and CloseLinger
	// the wait for the device's answer before the TCP connection is closed
	// (closeprompt.go); other closes keep the whole close handshake.
	CloseWriteTimeout time.Duration
	CloseLinger       time.Duration
	// MaxInflight bounds a connection's messages being delivered at once; more get
	// a rate_limited error.
	MaxInflight int
	// MaxTargets bounds the targets of one device message.
	MaxTargets int
	// MaxTopics bounds the topics one connection is subscribed to at once, and
	// the topics of one sub or unsub frame (topics.go). Default
	// DefaultMaxTopics.
	MaxTopics int
	// AckTimeout bounds the wait for a target's ack of a device message.
	AckTimeout time.Duration
	// ClusterKeys authenticate incoming edge links; any of them is accepted, so
	// keys can be rotated (docs/security.md). Without any, LinkHandler refuses
	// every request.
	ClusterKeys []string
	// RegionKeys authenticate incoming region links (regions.go): the gateways
	// of other regions, which present one of them. Without any, this edge is no
	// gateway and refuses every region link.
	RegionKeys []string
	// RegionRouter delivers and locates, within this edge's region, what a
	// region link brings in; required with RegionKeys. It must not reach other
	// regions itself (a Router without Regions), so that a message crosses at
	// most one region boundary.
	RegionRouter RegionRouter
	// RegionNews, when set, is told of every device that registers here, so
	// that the other regions deliver what their inboxes hold for it
	// (regioninbox.go), and of every device this edge adds to its account's
	// list, so that their caches of the list reload; Regions implements it.
	RegionNews RegionNews
	// RegionInbox, when set, delivers what this region's inbox holds for a
	// device that a handover frame on a region link says connected in
	// another region.
	RegionInbox *RegionInbox
	// LinkQueue bounds the receipts waiting on one incoming link.
	LinkQueue int
	// LinkInflight bounds the deliveries one incoming link runs at once; more are
	// rejected with "edge busy".
	LinkInflight int
	// Liveness, when set, keeps this edge's liveness key fresh with InternalAddr
	// every HeartbeatInterval, and re-registers every held device when the key was
	// lost (the registry restarted or was unreachable).
	Liveness Liveness
	// InternalAddr is the address other edges dial for links.
	InternalAddr string
	// HeartbeatInterval is how often Liveness is refreshed.
	HeartbeatInterval time.Duration
	// RegistryTimeout bounds each registry call.
	RegistryTimeout time.Duration
	// MinLifetime and MaxLifetime bound a connection's lifetime, drawn uniformly
	// between them for each connection and sent in its welcome (lifetime_ms). When
	// it ends the edge sends reconnect (reason "lifetime"); a device that has not
	// closed ReconnectGrace later is closed with 4002. Setting only one of them
	// moves the other along when the default would contradict it.
	MinLifetime time.Duration
	MaxLifetime time.Duration
	// ReconnectGrace is how long a device may take to close after a reconnect
	// frame (lifetime or drain) before the edge closes it.
	ReconnectGrace time.Duration

	// MaxConnections bounds the device connections of the edge (counted from the
	// request until its session has been unregistered); a connection over it is
	// refused with 503 before the upgrade. 0 means unlimited.
	MaxConnections int
	// ConnectRate and ConnectBurst bound new device connections per second (a token
	// bucket per edge, taken before the token is verified); a connection over the
	// rate is refused with 503 and Retry-After before the upgrade. ConnectRate 0
	// means unlimited; ConnectBurst 0 means one second's worth (at least 1).
	ConnectRate  float64
	ConnectBurst int
	// MaxOutRate and MaxOutBurst bound the messages written to one device per
	// second (a token bucket per connection); a message over it is rejected with
	// the error "rate_limited", as a full send queue rejects. Frames other than
	// messages (receipts, errors, presence) are not counted. MaxOutRate 0 means
	// unlimited; MaxOutBurst 0 means one second's worth (at least 1).
	MaxOutRate  float64
	MaxOutBurst int

	// ReleaseMemoryAfterConns and ReleaseMemoryQuiet hand memory back to the OS
	// after a burst of new connections: once at least ReleaseMemoryAfterConns
	// connections were accepted since the last release and then ReleaseMemoryQuiet
	// passed with no more than a handful (10 a second on average), the edge forces
	// a GC and returns the freed pages (debug.FreeOSMemory), once. Each handshake
	// leaves about 17 KiB of garbage, which the runtime would keep in RSS up to its
	// heap goal after a reconnect storm. Zero takes the defaults; a negative
	// ReleaseMemoryQuiet turns the release off.
	ReleaseMemoryAfterConns int
	ReleaseMemoryQuiet      time.Duration

	// Metrics registers the edge's Prometheus metrics (herald_edge_*, herald_messages_total,
	// herald_delivery_latency_seconds, herald_frames_*); nil registers them in a
	// private registry, so nothing is exported.
	Metrics prometheus.Registerer
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Tracer traces the deliveries to this edge's devices and its devices'
	// messages (docs/design.md, "Tracing"); nil is tracing off.
	Tracer *tracing.Tracer
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// releaseMemory returns freed memory to the OS; tests observe it. nil means
	// debug.FreeOSMemory.
	releaseMemory func()
}

func (c *Config) setDefaults() error {
	if c.ID == "" {
		return errors.New("edge: config: ID is required")
	}
	if c.Verifier == nil || c.Registry == nil || c.Types == nil || c.Devices == nil || c.Versions == nil {
		return errors.New("edge: config: Verifier, Registry, Types, Devices and Versions are required")
	}
	if len(c.RegionKeys) > 0 && c.RegionRouter == nil {
		return errors.New("edge: config: RegionRouter is required with RegionKeys")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	defRate := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defRate(&c.MsgRate, DefaultMsgRate)
	defRate(&c.FrameRate, FrameBudgetFactor*c.MsgRate)
	defRate(&c.HelloRate, DefaultHelloRate)
	defRate(&c.ErrorRate, DefaultErrorRate)
	def(&c.HelloBurst, DefaultHelloBurst)
	def(&c.ErrorBurst, DefaultErrorBurst)
	defDur(&c.BadFrameWindow, DefaultBadFrameWindow)
	defDur(&c.PingInterval, DefaultPingInterval)
	defDur(&c.PongTimeout, DefaultPongTimeout)
	defDur(&c.WriteTimeout, DefaultWriteTimeout)
	defDur(&c.AckTimeout, DefaultAckTimeout)
	defDur(&c.RegistryTimeout, DefaultRegistryTimeout)
	def(&c.SendQueue, DefaultSendQueue)
	def(&c.InboxPage, min(DefaultInboxPage, c.SendQueue-1))
	def(&c.MaxBadFrames, DefaultMaxBadFrames)
	def(&c.MsgBurst, DefaultMsgBurst)
	def(&c.FrameBurst, FrameBudgetFactor*c.MsgBurst)
	def(&c.MaxRateHits, DefaultMaxRateHits)
	def(&c.MaxInflight, DefaultMaxInflight)
	def(&c.MaxTargets, DefaultMaxTargets)
	def(&c.MaxTopics, DefaultMaxTopics)
	def(&c.TopicCatchUp, DefaultTopicCatchUp)
	defDur(&c.TopicRefresh, DefaultTopicRefresh)
	def(&c.LinkQueue, DefaultLinkQueue)
	def(&c.DeviceCache, DefaultDeviceCache)
	def(&c.LinkInflight, DefaultLinkInflight)
	defDur(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	defDur(&c.CloseWriteTimeout, DefaultCloseWriteTimeout)
	defDur(&c.CloseLinger, DefaultCloseLinger)
	for name, v := range map[string]int64{
		"MaxFrameBytes": c.MaxFrameBytes, "SendQueue": int64(c.SendQueue), "MaxBadFrames": int64(c.MaxBadFrames),
		"MsgBurst": int64(c.MsgBurst), "MaxRateHits": int64(c.MaxRateHits), "MaxInflight": int64(c.MaxInflight),
		"MaxTargets": int64(c.MaxTargets), "MaxTopics": int64(c.MaxTopics), "TopicCatchUp": int64(c.TopicCatchUp), "LinkQueue": int64(c.LinkQueue), "DeviceCache": int64(c.DeviceCache), "LinkInflight": int64(c.LinkInflight), "HeartbeatInterval": int64(c.HeartbeatInterval), "PingInterval": int64(c.PingInterval), "PongTimeout": int64(c.PongTimeout),
		"FrameBurst": int64(c.FrameBurst), "HelloBurst": int64(c.HelloBurst), "ErrorBurst": int64(c.ErrorBurst), "BadFrameWindow": int64(c.BadFrameWindow),
		"WriteTimeout": int64(c.WriteTimeout), "AckTimeout": int64(c.AckTimeout), "RegistryTimeout": int64(c.RegistryTimeout), "TopicRefresh": int64(c.TopicRefresh),
		"CloseWriteTimeout": int64(c.CloseWriteTimeout), "CloseLinger": int64(c.CloseLinger),
	} {
		if v < 0 {
			return fmt.Errorf("edge: config: %s must not be negative", name)
		}
	}
	for name, v := range map[string]float64{"MsgRate": c.MsgRate, "FrameRate": c.FrameRate, "HelloRate": c.HelloRate, "ErrorRate": c.ErrorRate} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("edge: config: %s must be finite and not negative", name)
		}
	}
	if err := c.lifetimeDefaults(); err != nil {
		return err
	}
	if err := c.policyBackoffDefaults(); err != nil {
		return err
	}
	if c.MaxConnections < 0 {
		return errors.New("edge: config: MaxConnections must not be negative")
	}
	if c.InboxPage < 0 || (c.Inbox != nil && (c.InboxPage < 1 || c.InboxPage >= c.SendQueue)) {
		return fmt.Errorf("edge: config: InboxPage %d must be between 1 and SendQueue-1 (%d)", c.InboxPage, c.SendQueue-1)
	}
	var err error
	if c.ConnectBurst, err = bucketDefaults("Connect", c.ConnectRate, c.ConnectBurst); err != nil {
		return err
	}
	if c.MaxOutBurst, err = bucketDefaults("MaxOut", c.MaxOutRate, c.MaxOutBurst); err != nil {
		return err
	}
	if c.ReleaseMemoryAfterConns < 0 {
		return errors.New("edge: config: ReleaseMemoryAfterConns must not be negative")
	}
	def(&c.ReleaseMemoryAfterConns, DefaultReleaseMemoryAfterConns)
	defDur(&c.ReleaseMemoryQuiet, DefaultReleaseMemoryQuiet)
	if c.releaseMemory == nil {
		c.releaseMemory = debug.FreeOSMemory
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// lifetimeDefaults fills and checks MinLifetime, MaxLifetime and ReconnectGrace.
func (c *Config) lifetimeDefaults() error {
	switch {
	case c.MinLifetime == 0 && c.MaxLifetime == 0:
		c.MinLifetime, c.MaxLifetime = DefaultMinLifetime, DefaultMaxLifetime
	case c.MinLifetime == 0:
		c.MinLifetime = min(DefaultMinLifetime, c.MaxLifetime)
	case c.MaxLifetime == 0:
		c.MaxLifetime = max(DefaultMaxLifetime, c.MinLifetime)
	}
	if c.ReconnectGrace == 0 {
		c.ReconnectGrace = DefaultReconnectGrace
	}
	if c.MinLifetime < 0 || c.MaxLifetime < 0 || c.ReconnectGrace < 0 {
		return errors.New("edge: config: MinLifetime, MaxLifetime and ReconnectGrace must be positive")
	}
	if c.MinLifetime > c.MaxLifetime {
		return fmt.Errorf("edge: config: MinLifetime %v is more than MaxLifetime %v", c.MinLifetime, c.MaxLifetime)
	}
	return nil
}

// bucketDefaults checks a token bucket's rate and burst and returns the burst,
// defaulting to one second's worth of the rate.
func bucketDefaults(name string, rate float64, burst int) (int, error) {
	if rate < 0 || burst < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return 0, fmt.Errorf("edge: config: %sRate and %sBurst must be finite and not negative", name, name)
	}
	if rate > 0 && burst == 0 {
		burst = max(1, int(math.Ceil(rate)))
	}
	return burst, nil
}
