package settings

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald/admin"
	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/topiclog"
)

// The development defaults of `herald dev`. They are public, so `serve` refuses them.
const (
	DevTokenSecret = "herald-dev-token-secret-not-for-production"
	DevAPIKey      = "dev-api-key"
	// DevAdminKey is the admin key of herald dev's console.
	DevAdminKey = "dev-admin-key-not-for-production"
)

// Server is the configuration of `herald serve` and `herald dev`. Each field is
// the setting of the flag of the same name (Flags gives each its help); cmd/herald
// turns it into the Config of each package it wires.
type Server struct {
	Addr           string
	Roles          List
	EdgeID         string
	TokenSecrets   List
	TokenKeys      TokenKeys // RS256 keys, JWKS file, clock skew
	APIKeys        List
	SchemasDir     string
	AllowedOrigins List
	LogFormat      string
	LogLevel       string
	ConfigFile     string

	// Connection lifecycle and shutdown.
	MinLifetime    time.Duration
	MaxLifetime    time.Duration
	ReconnectGrace time.Duration
	DrainWindow    time.Duration
	ShutdownGrace  time.Duration

	// Limits per edge.
	MaxConnections int
	ConnectRate    float64
	ConnectBurst   int
	MaxOutRate     float64
	MaxOutBurst    int

	// Memory of an edge.
	ReleaseMemoryAfterConns int
	ReleaseMemoryQuiet      time.Duration

	PostgresURL   string
	RedisAddrs    List
	RedisPassword string
	RedisTLSCA    string
	RedisPrefix   string
	InternalAddr  string
	AdvertiseAddr string
	ClusterKeys   List
	TLS           TLS
	AdminAddr     string
	// AdminKeys are the admin keys of the admin API and the console, plain or
	// sha256:HEX; Console serves them on the admin listener.
	AdminKeys List
	Console   bool
	// Limits of the admin API: each call to a store or another edge, the body
	// of a test push, the edges of one fleet call and how many are asked at once.
	AdminTimeout          time.Duration
	AdminMaxBodyBytes     int64
	AdminMaxFleet         int
	AdminFleetConcurrency int
	// AdminTraceURL links a message of the console to its trace: a URL with
	// {id} for the message id; "" without tracing.
	AdminTraceURL string
	EdgeTTL       time.Duration
	Heartbeat     time.Duration
	// TopicTTL is how long the registry keeps an edge in a topic's entry
	// after its last add; the edge adds its topics again every quarter of it.
	TopicTTL time.Duration

	MaxFrameBytes int64
	PingInterval  time.Duration
	PongTimeout   time.Duration
	WriteTimeout  time.Duration
	SendQueue     int
	// InboxMaxMessages, InboxMaxBytes: each device's inbox limits
	// (inbox.Limits); InboxPage: stored messages an edge queues at once.
	InboxMaxMessages int
	InboxMaxBytes    int64
	InboxPage        int
	// MaxTopics: the topics one connection may subscribe to at once.
	// TopicLogMaxEntries, TopicLogMaxTTL: each topic's catch-up log
	// (topiclog.Limits); TopicCatchUp: what one sub replays at most.
	MaxTopics int
	// The edge's bounds on device messages, links and its caches
	// (edge.Config's MaxRateHits, MaxInflight, MaxTargets, AckTimeout (--msg-ack-timeout),
	// LinkQueue, LinkInflight, DeviceCache, RegistryTimeout).
	MaxRateHits     int
	MaxInflight     int
	MaxMsgTargets   int
	MsgAckTimeout   time.Duration
	LinkQueue       int
	LinkInflight    int
	DeviceCache     int
	RegistryTimeout time.Duration
	// Links: this process's links to other edges; LinkPongTimeout how long
	// one waits for its ping's pong.
	Links              LinkBounds
	LinkPongTimeout    time.Duration
	TopicLogMaxEntries int
	TopicLogMaxTTL     time.Duration
	TopicCatchUp       int
	MsgRate            float64
	FrameRate          float64
	FrameBurst         int
	HelloRate          float64
	HelloBurst         int
	ErrorRate          float64
	ErrorBurst         int
	MaxBadFrames       int
	BadFrameWin        time.Duration

	// PolicyBackoff 0 turns the backoff after a 1008 off (see EdgePolicyBackoff).
	PolicyBackoff        time.Duration
	PolicyBackoffMax     time.Duration
	PolicyBackoffDevices int

	CloseWriteTimeout time.Duration
	CloseLinger       time.Duration
	MsgBurst          int
	MaxBodyBytes      int64
	PushTimeout       time.Duration
	// The REST API's bounds on a push and a batch (api.Config's fields of the
	// same names).
	MaxPushTimeout time.Duration
	MaxTargets     int
	MaxBatch       int
	LookupTimeout  time.Duration
	IdempotencyTTL time.Duration
	KeyConcurrency int
	REST           RESTLimits // header, JSON depth and API key rate limits

	Kafka Kafka
	// Mirror is the mirror role's source cluster and the mirrored topics the
	// processor role reads (serve only).
	Mirror Mirror

	// Region places the process in a deployment of several regions.
	Region Region
	// Tracing turns OpenTelemetry tracing on (serve only).
	Tracing Tracing
	// DevRegions is the number of regions `herald dev` runs in one process
	// (--regions), each on ports of its own.
	DevRegions int

	// Demo serves the demo web app and its dev-only endpoints at /demo/ (see
	// package demo): `herald dev` sets it, no flag does.
	Demo bool
}

// Defaults of the shutdown settings. `herald dev` drains for a shorter window, so
// that Ctrl-C stops it quickly.
const (
	defaultDrainWindow    = 30 * time.Second
	defaultDevDrainWindow = 2 * time.Second
	DefaultShutdownGrace  = 10 * time.Second
)

// Flags defines the settings of `herald serve` (dev false) or `herald dev` on fs.
// Each is also read from HERALD_<NAME> and the --config file (see Parse).
func (c *Server) Flags(fs *flag.FlagSet, dev bool) {
	addr, roles, drain := ":8080", "edge,api", defaultDrainWindow
	if dev {
		addr, drain = "127.0.0.1:8080", defaultDevDrainWindow
	}
	c.Roles = List(strings.Split(roles, ","))
	host, _ := os.Hostname()
	fs.StringVar(&c.ConfigFile, ConfigFlag, "", "a YAML or JSON file of settings, keys as the flag names (drain-window: 30s); flags and HERALD_* variables win over it")
	fs.StringVar(&c.Addr, "addr", addr, "listen address for devices and the REST API")
	if !dev {
		fs.Var(&c.Roles, "roles", "roles of this process, comma-separated: edge, api, processor, mirror")
		fs.Var(&c.TokenSecrets, "token-secret", "HS256 device-token secrets, comma-separated, as kid:secret or secret (at least 32 bytes); the first signs")
	}
	c.TokenKeys.Flags(fs, dev)
	if !dev {
		fs.Var(&c.APIKeys, "api-keys", "API keys, comma-separated, as name:sha256:HEX[:scopes=send+devices+types][:rate=100/s][:burst=N] (herald apikey new prints one); name:secret is still read, with a warning")
	}
	fs.StringVar(&c.EdgeID, "edge-id", "edge-"+host, "this edge's id")
	fs.StringVar(&c.PostgresURL, "postgres-url", "", "Postgres connection string for the device list; empty: in-memory, one process only")
	fs.Var(&c.RedisAddrs, "redis-addr", "Redis for the registry: host:port or redis://[user[:password]@]host[:port][/db] (rediss:// for TLS), comma-separated for Redis Cluster seeds (add ?master_set=NAME to Sentinel addresses); empty: in-memory, one process only")
	fs.StringVar(&c.RedisPassword, "redis-password", "", "Redis password, when --redis-addr holds none (keeps it out of the address list)")
	fs.StringVar(&c.RedisTLSCA, "redis-tls-ca", "", "PEM CA bundle that verifies the certificates of rediss:// servers (default: the system roots); read at start")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "herald:", "prefix of every Redis key")
	fs.DurationVar(&c.EdgeTTL, "edge-ttl", registry.DefaultEdgeTTL, "how long an edge stays live without a heartbeat; a crashed edge's devices are offline after it")
	fs.DurationVar(&c.TopicTTL, "topic-ttl", registry.DefaultTopicTTL, "how long the registry keeps an edge among a topic's subscribers after the edge last added the topic; an edge adds its topics again every quarter of it, at a heartbeat (at least four times --heartbeat-interval)")
	fs.DurationVar(&c.Heartbeat, "heartbeat-interval", edge.DefaultHeartbeatInterval, "how often an edge refreshes its liveness; well within --edge-ttl")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9090", "listen address for /metrics, /healthz, /readyz, pprof and, with --console, the admin API and console; empty disables it")
	if !dev {
		fs.Var(&c.AdminKeys, "admin-key", fmt.Sprintf("admin keys of the admin API and console, comma-separated: at least %d characters each, or sha256:HEX of one (herald apikey hash --name x prints name:sha256:HEX; give sha256:HEX)", admin.MinKeyLength))
		fs.BoolVar(&c.Console, "console", false, "serve the admin API (/admin/v1/) and the console (/console/) on the admin listener; needs --admin-key")
	}
	fs.DurationVar(&c.AdminTimeout, "admin-timeout", admin.DefaultTimeout, "admin API: bound on each call to a store or another edge")
	fs.Int64Var(&c.AdminMaxBodyBytes, "admin-max-body-bytes", admin.DefaultMaxBodyBytes, "admin API: largest body of a test push")
	fs.IntVar(&c.AdminMaxFleet, "admin-max-fleet", admin.DefaultMaxFleet, "admin API: most edges one fleet call lists")
	fs.StringVar(&c.AdminTraceURL, "admin-trace-url", "", "admin API and console: the URL of a message's trace in the tracing UI, {id} replaced by the message id; empty: no link")
	fs.IntVar(&c.AdminFleetConcurrency, "admin-fleet-concurrency", admin.DefaultFleetConcurrency, "admin API: most edges one fleet call asks at once")
	if !dev {
		fs.StringVar(&c.InternalAddr, "internal-addr", "127.0.0.1:8081", "listen address for edge links (keep it off the public network)")
		fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "the address other processes dial for links to this edge (default: the internal listener's address, 127.0.0.1 when its host is unspecified)")
		fs.Var(&c.ClusterKeys, "cluster-key", "cluster keys, comma-separated: the first is the one this process presents on its links, any of them is accepted from others (rotation: docs/security.md)")
		c.Region.Flags(fs)
		c.Tracing.Flags(fs)
		c.TLS.Flags(fs)
	} else {
		fs.IntVar(&c.DevRegions, "regions", 1, fmt.Sprintf("regions to run, each with its own registry, inbox, Kafka and ports (--addr's port and up), sharing one device list; at most %d", MaxDevRegions))
	}
	fs.StringVar(&c.SchemasDir, "schemas-dir", "", "a directory of extra message-type schemas (<type>.json), reloaded on SIGHUP")
	fs.Var(&c.AllowedOrigins, "allowed-origins", "browser origins allowed to connect besides the server's own host, as host patterns (*.example.com), or *")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.MinLifetime, "min-lifetime", edge.DefaultMinLifetime, "shortest connection lifetime: each connection's is drawn uniformly from [--min-lifetime, --max-lifetime], then the edge sends reconnect (lifetime)")
	fs.DurationVar(&c.MaxLifetime, "max-lifetime", edge.DefaultMaxLifetime, "longest connection lifetime")
	fs.DurationVar(&c.ReconnectGrace, "reconnect-grace", edge.DefaultReconnectGrace, "how long a device may take to close after a reconnect frame before the edge closes it (4002 after a lifetime)")
	fs.DurationVar(&c.DrainWindow, "drain-window", drain, "on SIGTERM, SIGINT or POST /drain: the window over which an edge spreads its reconnect (drain) frames; 0 sends them all at once")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", DefaultShutdownGrace, "how long shutdown waits, after the drain window, for connections to close, requests to finish and processors to commit")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "open connections an edge holds at most; more are refused with 503 before the upgrade (0: no limit)")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "new connections per second an edge accepts; more are refused with 503 (0: no limit)")
	fs.IntVar(&c.ConnectBurst, "connect-burst", 0, "burst of new connections above --connect-rate (0: one second's worth of the rate)")
	fs.Float64Var(&c.MaxOutRate, "max-out-rate", 0, "messages per second an edge writes to one connection; more are rejected (rate_limited) and counted (0: no limit)")
	fs.IntVar(&c.MaxOutBurst, "max-out-burst", 0, "burst of messages to one connection above --max-out-rate (0: one second's worth of the rate)")
	fs.IntVar(&c.ReleaseMemoryAfterConns, "release-memory-after-conns", edge.DefaultReleaseMemoryAfterConns, "new connections that make a burst: after one, once --release-memory-quiet passes with a handful at most, an edge returns freed memory to the OS")
	fs.DurationVar(&c.ReleaseMemoryQuiet, "release-memory-quiet", edge.DefaultReleaseMemoryQuiet, "how long new connections must stay at a handful (10 a second) after a burst before an edge returns freed memory to the OS; 0 never does")
	fs.Int64Var(&c.MaxFrameBytes, "max-frame-bytes", edge.DefaultMaxFrameBytes, "largest frame a device may send; larger closes with 1009")
	fs.DurationVar(&c.PingInterval, "ping-interval", edge.DefaultPingInterval, "how often each connection is pinged")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", edge.DefaultPongTimeout, "how long a ping may go unanswered")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", edge.DefaultWriteTimeout, "bound on one write to a device")
	fs.IntVar(&c.SendQueue, "send-queue", edge.DefaultSendQueue, "frames that may wait for one connection; more are rejected")
	fs.IntVar(&c.InboxMaxMessages, "inbox-max-messages", inbox.DefaultMaxMessages, "messages without a collapse key a device's inbox holds while it is offline; a push beyond drops the oldest")
	fs.Int64Var(&c.InboxMaxBytes, "inbox-max-bytes", inbox.DefaultMaxBytes, "payload bytes a device's inbox holds while it is offline; a push beyond drops the oldest until it fits")
	fs.IntVar(&c.InboxPage, "inbox-page", 0, "stored messages an edge reads and queues at once for a device that connects, below --send-queue (0: 32, or --send-queue minus 1 when that is less)")
	fs.IntVar(&c.MaxRateHits, "max-rate-hits", edge.DefaultMaxRateHits, "frames over a budget in a row, with none within every budget between them, that close a connection with 1008")
	fs.IntVar(&c.MaxInflight, "max-inflight", edge.DefaultMaxInflight, "a connection's device messages being delivered at once; more are answered rate_limited")
	fs.IntVar(&c.MaxMsgTargets, "max-msg-targets", edge.DefaultMaxTargets, "targets of one device message; more are answered too_large")
	fs.DurationVar(&c.MsgAckTimeout, "msg-ack-timeout", edge.DefaultAckTimeout, "how long a device message with ack waits for each target's ack before its receipt says timeout")
	c.Links.Flags(fs, "link-", "link-send-queue", "another edge", edge.DefaultLinkPingInterval)
	fs.DurationVar(&c.LinkPongTimeout, "link-pong-timeout", edge.DefaultLinkPongTimeout, "how long a link waits for its ping's pong before it takes the other edge as lost")
	fs.IntVar(&c.LinkQueue, "link-queue", edge.DefaultLinkQueue, "receipts waiting to go back on one incoming edge link")
	fs.IntVar(&c.LinkInflight, "link-inflight", edge.DefaultLinkInflight, "deliveries one incoming edge link runs at once; more are rejected with \"edge busy\"")
	fs.IntVar(&c.DeviceCache, "device-cache", edge.DefaultDeviceCache, "accounts whose device lists an edge caches")
	fs.DurationVar(&c.RegistryTimeout, "registry-timeout", edge.DefaultRegistryTimeout, "an edge's bound on each registry call")
	fs.IntVar(&c.MaxTopics, "max-topics", edge.DefaultMaxTopics, "topics one connection may subscribe to at once, and list in one sub frame (a sub beyond is answered limit); also the persistent topics one device may have in the device list")
	fs.IntVar(&c.TopicLogMaxEntries, "topic-log-max-entries", topiclog.DefaultMaxEntries, "messages each topic's catch-up log keeps; a publish beyond drops the oldest")
	fs.DurationVar(&c.TopicLogMaxTTL, "topic-log-max-ttl", topiclog.DefaultMaxTTL, "longest a topic's catch-up log keeps a message (its own ttl, when shorter, applies)")
	fs.IntVar(&c.TopicCatchUp, "topic-catch-up", edge.DefaultTopicCatchUp, "most messages of one topic an edge replays for a device that subscribes with a cursor")
	fs.Float64Var(&c.MsgRate, "msg-rate", edge.DefaultMsgRate, "messages per second a device may send")
	fs.IntVar(&c.MsgBurst, "msg-burst", edge.DefaultMsgBurst, "burst of messages a device may send")
	fs.Float64Var(&c.FrameRate, "frame-rate", 0, "frames of any kind per second a device may send; more are dropped and answered rate_limited (0: 4 times --msg-rate)")
	fs.IntVar(&c.FrameBurst, "frame-burst", 0, "burst of frames a device may send above --frame-rate (0: 4 times --msg-burst)")
	fs.Float64Var(&c.HelloRate, "hello-rate", edge.DefaultHelloRate, "hello frames per second a device may send")
	fs.IntVar(&c.HelloBurst, "hello-burst", edge.DefaultHelloBurst, "burst of hello frames a device may send above --hello-rate")
	fs.Float64Var(&c.ErrorRate, "error-rate", edge.DefaultErrorRate, "error frames per second sent to a device in reply to its frames; more are not sent")
	fs.IntVar(&c.ErrorBurst, "error-burst", edge.DefaultErrorBurst, "burst of error frames above --error-rate")
	fs.IntVar(&c.MaxBadFrames, "max-bad-frames", edge.DefaultMaxBadFrames, "undecodable frames within --bad-frame-window that close a connection with 1003")
	fs.DurationVar(&c.BadFrameWin, "bad-frame-window", edge.DefaultBadFrameWindow, "the window of --max-bad-frames")
	fs.DurationVar(&c.PolicyBackoff, "policy-backoff", edge.DefaultPolicyBackoff, "how long a device closed with 1008 is refused on connect (429, Retry-After), doubled for each repeat (0: no backoff)")
	fs.DurationVar(&c.PolicyBackoffMax, "policy-backoff-max", edge.DefaultPolicyBackoffMax, "the longest --policy-backoff; a device quiet this long after its backoff is forgotten")
	fs.IntVar(&c.PolicyBackoffDevices, "policy-backoff-devices", edge.DefaultPolicyBackoffDevices, "devices an edge remembers in policy backoff; at the bound one is dropped to make room")
	fs.DurationVar(&c.CloseWriteTimeout, "close-write-timeout", edge.DefaultCloseWriteTimeout, "closing a device for its own misbehaviour (1003, 1007, 1008, 1009): the bound on writing the close frame")
	fs.DurationVar(&c.CloseLinger, "close-linger", edge.DefaultCloseLinger, "closing a device for its own misbehaviour: how long the edge waits for the device's close frame before it closes the TCP connection")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", api.DefaultMaxBodyBytes, "largest REST request body")
	fs.DurationVar(&c.PushTimeout, "push-timeout", api.DefaultPushTimeout, "default wait of a sync push")
	fs.DurationVar(&c.MaxPushTimeout, "max-push-timeout", api.DefaultMaxPushTimeout, "longest timeout_ms a sync push may ask for; longer gets 400 (at least --push-timeout)")
	fs.IntVar(&c.MaxTargets, "max-targets", api.DefaultMaxTargets, "devices one push reaches, and the deliveries one POST /v1/push/batch runs at once; more devices get 413")
	fs.IntVar(&c.MaxBatch, "max-batch", api.DefaultMaxBatch, "messages of one POST /v1/push/batch or POST /v1/messages/batch; more get 413")
	fs.DurationVar(&c.LookupTimeout, "lookup-timeout", api.DefaultLookupTimeout, "bound on each store or registry call of a REST request (an account's devices, device lists, topics, message statuses)")
	fs.DurationVar(&c.IdempotencyTTL, "idempotency-ttl", api.DefaultIdempotencyTTL, "how long an Idempotency-Key (and a message's idempotency_key) is remembered (at least 1ms)")
	fs.IntVar(&c.KeyConcurrency, "key-concurrency", api.DefaultKeyConcurrency, "idempotency keys of one POST /v1/messages/batch claimed, and settled, at once, with the keys in Redis (1: one after the other, as they always are in memory)")
	c.REST.Flags(fs)
	c.Kafka.Flags(fs, dev)
	if !dev {
		c.Mirror.Flags(fs)
	}
}

// Validate checks the configuration and says clearly what is wrong.
func (c *Server) Validate(dev bool) error {
	for _, r := range c.Roles {
		if r != "edge" && r != "api" && r != "processor" && r != "mirror" {
			return Usagef("--roles: unknown role %q (want edge, api, processor, mirror)", r)
		}
	}
	if len(c.Roles) == 0 {
		return Usagef("--roles: at least one role is required")
	}
	if c.EdgeID == "" {
		return Usagef("--edge-id must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return Usagef("--addr %q: %v", c.Addr, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return Usagef("--log-format %q: want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return Usagef("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.Tracing.Mode != "" {
		if err := c.Tracing.Validate(os.Getenv); err != nil {
			return err
		}
	}
	if err := c.Region.Validate(c.HasRole("edge")); err != nil {
		return err
	}
	if dev && (c.DevRegions < 1 || c.DevRegions > MaxDevRegions) {
		return Usagef("--regions must be from 1 to %d, got %d", MaxDevRegions, c.DevRegions)
	}
	if err := c.Mirror.Validate(&c.Kafka, c.HasRole("mirror"), c.HasRole("processor")); err != nil {
		return err
	}
	if err := c.validateLifecycle(); err != nil {
		return err
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	if err := c.REST.Validate(); err != nil {
		return err
	}
	if err := c.TokenKeys.Validate(); err != nil {
		return err
	}
	if err := c.validateRedis(); err != nil {
		return err
	}
	if c.SchemasDir != "" {
		if st, err := os.Stat(c.SchemasDir); err != nil || !st.IsDir() {
			return Usagef("--schemas-dir %q is not a directory", c.SchemasDir)
		}
	}
	if dev {
		return nil
	}
	if c.HasRole("processor") && len(c.Kafka.Brokers) == 0 {
		return Usagef("--kafka-brokers (or HERALD_KAFKA_BROKERS) is required for the processor role")
	}
	if len(c.Kafka.Brokers) > 0 && len(c.RedisAddrs) == 0 && c.HasRole("api") != c.HasRole("processor") {
		return Usagef("--redis-addr is required when the api and processor roles run in separate processes: message statuses are shared through Redis")
	}
	if c.HasRole("edge") {
		if len(c.TokenSecrets) == 0 && !c.TokenKeys.Any() {
			return Usagef("--token-secret (or HERALD_TOKEN_SECRET), --token-rsa-key or --token-jwks is required for the edge role")
		}
		for _, s := range c.TokenSecrets {
			if strings.Contains(s, DevTokenSecret) {
				return Usagef("--token-secret: the public development secret must not be used by serve")
			}
		}
		if _, err := c.TokenKeys.Verifier(c.TokenSecrets, nil); err != nil {
			return err
		}
	}
	if c.Heartbeat <= 0 || c.EdgeTTL < 2*c.Heartbeat {
		return Usagef("--edge-ttl (%v) must be at least twice --heartbeat-interval (%v)", c.EdgeTTL, c.Heartbeat)
	}
	if c.TopicTTL < 4*c.Heartbeat {
		return Usagef("--topic-ttl (%v) must be at least four times --heartbeat-interval (%v): an edge adds its topics again every quarter of it, at a heartbeat", c.TopicTTL, c.Heartbeat)
	}
	if len(c.RedisAddrs) > 0 && c.PostgresURL == "" {
		return Usagef("--postgres-url (or HERALD_POSTGRES_URL) is required with --redis-addr: the processes of a cluster share one device list")
	}
	if len(c.RedisAddrs) > 0 && len(c.ClusterKeys) == 0 {
		return Usagef("--cluster-key (or HERALD_CLUSTER_KEY) is required with --redis-addr: edges and API processes link to each other")
	}
	for _, k := range c.ClusterKeys {
		if len(k) < 16 {
			return Usagef("--cluster-key: every key needs at least 16 characters")
		}
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if c.HasRole("api") {
		if len(c.APIKeys) == 0 {
			return Usagef("--api-keys (or HERALD_API_KEYS) is required for the api role, as name:sha256:HEX (herald apikey new prints one)")
		}
		keys, _, err := ParseAPIKeys(c.APIKeys)
		if err != nil {
			return err
		}
		devHash := api.HashSecret(DevAPIKey)
		for _, k := range keys {
			if k.Hash == devHash {
				return Usagef("--api-keys: key %q is the public development key, which serve must not accept", k.Name)
			}
		}
	}
	return nil
}

// validateAdmin checks the settings of the admin API and console: a console
// needs the admin listener and a key, which must not be the public
// development key.
func (c *Server) validateAdmin() error {
	if c.AdminTimeout <= 0 || c.AdminMaxBodyBytes <= 0 || c.AdminMaxFleet <= 0 || c.AdminFleetConcurrency <= 0 {
		return Usagef("--admin-timeout, --admin-max-body-bytes, --admin-max-fleet and --admin-fleet-concurrency must be positive")
	}
	if c.AdminTraceURL != "" && !strings.Contains(c.AdminTraceURL, "{id}") {
		return Usagef("--admin-trace-url must contain {id}, where the message id goes")
	}
	if _, err := admin.ParseKeys(c.AdminKeys); err != nil {
		return Usagef("--admin-key: %v", err)
	}
	if !c.Console {
		return nil
	}
	if c.AdminAddr == "" {
		return Usagef("--console needs the admin listener: give --admin-addr")
	}
	if len(c.AdminKeys) == 0 {
		return Usagef("--console needs --admin-key (or HERALD_ADMIN_KEY): the admin API and console are refused without one")
	}
	devHash := sha256.Sum256([]byte(DevAdminKey))
	keys, _ := admin.ParseKeys(c.AdminKeys)
	for _, k := range keys {
		if k == devHash {
			return Usagef("--admin-key: the public development admin key must not be used by serve")
		}
	}
	return nil
}

// validateLifecycle checks the settings of connection lifetimes and shutdown.
func (c *Server) validateLifecycle() error {
	switch {
	case c.MinLifetime <= 0:
		return Usagef("--min-lifetime must be positive, got %v", c.MinLifetime)
	case c.MaxLifetime < c.MinLifetime:
		return Usagef("--max-lifetime (%v) must not be shorter than --min-lifetime (%v): lifetimes are drawn from that range", c.MaxLifetime, c.MinLifetime)
	case c.ReconnectGrace <= 0:
		return Usagef("--reconnect-grace must be positive, got %v: it is how long a device has to close after reconnect", c.ReconnectGrace)
	case c.DrainWindow < 0:
		return Usagef("--drain-window must not be negative, got %v (0 sends every reconnect at once)", c.DrainWindow)
	case c.ShutdownGrace <= 0:
		return Usagef("--shutdown-grace must be positive, got %v", c.ShutdownGrace)
	case c.ReleaseMemoryQuiet < 0:
		return Usagef("--release-memory-quiet must not be negative, got %v (0 never returns memory)", c.ReleaseMemoryQuiet)
	}
	if err := positive(durSetting{"--ping-interval", c.PingInterval}, durSetting{"--pong-timeout", c.PongTimeout}, durSetting{"--write-timeout", c.WriteTimeout},
		durSetting{"--push-timeout", c.PushTimeout}, durSetting{"--close-write-timeout", c.CloseWriteTimeout}, durSetting{"--close-linger", c.CloseLinger},
		durSetting{"--max-push-timeout", c.MaxPushTimeout}, durSetting{"--lookup-timeout", c.LookupTimeout}, durSetting{"--msg-ack-timeout", c.MsgAckTimeout},
		durSetting{"--registry-timeout", c.RegistryTimeout}, durSetting{"--link-pong-timeout", c.LinkPongTimeout}); err != nil {
		return err
	}
	return c.validateBounds()
}

// validateBounds checks the REST API's bounds on a push and a batch, and
// the edge's on device messages, links and caches: each must be at least 1.
func (c *Server) validateBounds() error {
	switch {
	case c.MaxPushTimeout < c.PushTimeout:
		return Usagef("--max-push-timeout (%v) must not be shorter than --push-timeout (%v)", c.MaxPushTimeout, c.PushTimeout)
	case c.IdempotencyTTL < time.Millisecond:
		return Usagef("--idempotency-ttl must be at least 1ms, got %v", c.IdempotencyTTL)
	}
	if err := atLeast1(intSetting{"--max-targets", c.MaxTargets}, intSetting{"--max-batch", c.MaxBatch}, intSetting{"--key-concurrency", c.KeyConcurrency},
		intSetting{"--max-rate-hits", c.MaxRateHits}, intSetting{"--max-inflight", c.MaxInflight}, intSetting{"--max-msg-targets", c.MaxMsgTargets},
		intSetting{"--link-queue", c.LinkQueue}, intSetting{"--link-inflight", c.LinkInflight}, intSetting{"--device-cache", c.DeviceCache}); err != nil {
		return err
	}
	return c.Links.Validate("link-", "link-send-queue")
}

// validateLimits checks the limits: none may be negative, zero means none (or
// the default, as each flag's help says).
func (c *Server) validateLimits() error {
	for _, l := range []struct {
		name string
		v    float64
	}{
		{"--max-connections", float64(c.MaxConnections)},
		{"--connect-rate", c.ConnectRate},
		{"--connect-burst", float64(c.ConnectBurst)},
		{"--max-out-rate", c.MaxOutRate},
		{"--max-out-burst", float64(c.MaxOutBurst)},
		{"--msg-rate", c.MsgRate},
		{"--msg-burst", float64(c.MsgBurst)},
		{"--frame-rate", c.FrameRate},
		{"--frame-burst", float64(c.FrameBurst)},
		{"--hello-rate", c.HelloRate},
		{"--hello-burst", float64(c.HelloBurst)},
		{"--error-rate", c.ErrorRate},
		{"--error-burst", float64(c.ErrorBurst)},
		{"--max-bad-frames", float64(c.MaxBadFrames)},
		{"--bad-frame-window", float64(c.BadFrameWin)},
		{"--policy-backoff", float64(c.PolicyBackoff)},
		{"--policy-backoff-max", float64(c.PolicyBackoffMax)},
		{"--send-queue", float64(c.SendQueue)},
		{"--inbox-max-messages", float64(c.InboxMaxMessages)},
		{"--inbox-max-bytes", float64(c.InboxMaxBytes)},
		{"--inbox-page", float64(c.InboxPage)},
		{"--max-topics", float64(c.MaxTopics)},
		{"--topic-log-max-entries", float64(c.TopicLogMaxEntries)},
		{"--topic-log-max-ttl", float64(c.TopicLogMaxTTL)},
		{"--topic-catch-up", float64(c.TopicCatchUp)},
		{"--max-frame-bytes", float64(c.MaxFrameBytes)},
		{"--max-body-bytes", float64(c.MaxBodyBytes)},
	} {
		if l.v < 0 || math.IsNaN(l.v) || math.IsInf(l.v, 0) {
			return Usagef("%s must be a number of at least 0, got %v", l.name, l.v)
		}
	}
	if c.PolicyBackoff > 0 && c.PolicyBackoffMax < c.PolicyBackoff {
		return Usagef("--policy-backoff-max (%v) must not be shorter than --policy-backoff (%v)", c.PolicyBackoffMax, c.PolicyBackoff)
	}
	queue := c.SendQueue
	if queue == 0 {
		queue = edge.DefaultSendQueue
	}
	if queue == 1 || c.InboxPage >= queue {
		return Usagef("--inbox-page (%d) must be below --send-queue (%d), of at least 2: the welcome and a page of stored messages share the queue", c.InboxPage, c.SendQueue)
	}
	if c.PolicyBackoffDevices < 1 {
		return Usagef("--policy-backoff-devices must be at least 1, got %d (--policy-backoff=0 turns the backoff off)", c.PolicyBackoffDevices)
	}
	if c.ReleaseMemoryAfterConns < 1 {
		return Usagef("--release-memory-after-conns must be at least 1, got %d (--release-memory-quiet=0 turns the release off)", c.ReleaseMemoryAfterConns)
	}
	return nil
}

// EdgeReleaseMemoryQuiet is --release-memory-quiet as edge.Config takes it: 0
// (off) becomes negative, since the edge reads 0 as its default.
func (c *Server) EdgeReleaseMemoryQuiet() time.Duration { return edgeOff(c.ReleaseMemoryQuiet) }

// edgeOff is a duration setting whose 0 means off as edge.Config takes it: a
// negative value, since the edge reads 0 as its default.
func edgeOff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// HasRole reports whether the process runs role r (edge, api, processor,
// mirror).
func (c *Server) HasRole(r string) bool { return slices.Contains(c.Roles, r) }

// Logger is the process's logger on stderr, in --log-format at --log-level.
func (c *Server) Logger(stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// HS256Keys parses kid:secret or secret entries.
func HS256Keys(entries []string) []token.HS256Key {
	keys := make([]token.HS256Key, 0, len(entries))
	for _, e := range entries {
		kid, secret, ok := strings.Cut(e, ":")
		if !ok || len(kid) > 64 {
			kid, secret = "", e
		}
		keys = append(keys, token.HS256Key{ID: kid, Secret: []byte(secret)})
	}
	return keys
}

// ParseAPIKeys parses --api-keys entries (see api.ParseKey) and returns the names of
// those configured in plaintext. Errors never show an entry past its name.
func ParseAPIKeys(entries []string) (keys []api.Key, plaintext []string, err error) {
	keys = make([]api.Key, 0, len(entries))
	for _, e := range entries {
		k, plain, err := api.ParseKey(e)
		if err != nil {
			return nil, nil, Usagef("--api-keys: entry %q: %v", redact(e), err)
		}
		if plain {
			plaintext = append(plaintext, k.Name)
		}
		keys = append(keys, k)
	}
	return keys, plaintext, nil
}

func redact(s string) string {
	if name, _, ok := strings.Cut(s, ":"); ok {
		return name + ":…"
	}
	return "…"
}

// EdgePolicyBackoff is --policy-backoff as edge.Config takes it: 0 (off) becomes
// negative, since the edge reads 0 as its default.
func (c *Server) EdgePolicyBackoff() time.Duration { return edgeOff(c.PolicyBackoff) }
