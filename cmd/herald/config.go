package main

import (
	"flag"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/registry"
)

// The development defaults of `herald dev`. They are public, so `serve` refuses them.
const (
	devTokenSecret = "herald-dev-token-secret-not-for-production"
	devAPIKey      = "dev-api-key"
)

// serverConfig is the configuration of `herald serve` and `herald dev`.
type serverConfig struct {
	addr           string
	roles          listFlag
	edgeID         string
	tokenSecrets   listFlag
	tokenKeys      tokenKeys // RS256 keys, JWKS file, clock skew
	apiKeys        listFlag
	schemasDir     string
	allowedOrigins listFlag
	logFormat      string
	logLevel       string
	configFile     string

	// Connection lifecycle and shutdown.
	minLifetime    time.Duration
	maxLifetime    time.Duration
	reconnectGrace time.Duration
	drainWindow    time.Duration
	shutdownGrace  time.Duration

	// Limits per edge.
	maxConnections int
	connectRate    float64
	connectBurst   int
	maxOutRate     float64
	maxOutBurst    int

	// Memory of an edge.
	releaseMemoryAfterConns int
	releaseMemoryQuiet      time.Duration

	postgresURL   string
	redisAddrs    listFlag
	redisPassword string
	redisTLSCA    string
	redisPrefix   string
	internalAddr  string
	advertiseAddr string
	clusterKeys   listFlag
	tls           tlsConfig
	adminAddr     string
	edgeTTL       time.Duration
	heartbeat     time.Duration

	maxFrameBytes int64
	pingInterval  time.Duration
	pongTimeout   time.Duration
	writeTimeout  time.Duration
	sendQueue     int
	msgRate       float64
	frameRate     float64
	frameBurst    int
	helloRate     float64
	helloBurst    int
	errorRate     float64
	errorBurst    int
	maxBadFrames  int
	badFrameWin   time.Duration
	msgBurst      int
	maxBodyBytes  int64
	pushTimeout   time.Duration
	rest          restLimits // header, JSON depth and API key rate limits

	// policyBackoff 0 turns the backoff after a 1008 off (see edgePolicyBackoff).
	policyBackoff        time.Duration
	policyBackoffMax     time.Duration
	policyBackoffDevices int

	kafka kafkaConfig

	// demo serves the demo web app and its dev-only endpoints at /demo/ (see
	// mountDemo): `herald dev` sets it, no flag does.
	demo bool
}

// Defaults of the shutdown settings. `herald dev` drains for a shorter window, so
// that Ctrl-C stops it quickly.
const (
	defaultDrainWindow    = 30 * time.Second
	defaultDevDrainWindow = 2 * time.Second
	defaultShutdownGrace  = 10 * time.Second
)

// flags defines the settings of `herald serve` (dev false) or `herald dev` on fs.
// Each is also read from HERALD_<NAME> and the --config file (see parse).
func (c *serverConfig) flags(fs *flag.FlagSet, dev bool) {
	addr, roles, drain := ":8080", "edge,api", defaultDrainWindow
	if dev {
		addr, drain = "127.0.0.1:8080", defaultDevDrainWindow
	}
	c.roles = listFlag(strings.Split(roles, ","))
	host, _ := os.Hostname()
	fs.StringVar(&c.configFile, configFlag, "", "a YAML or JSON file of settings, keys as the flag names (drain-window: 30s); flags and HERALD_* variables win over it")
	fs.StringVar(&c.addr, "addr", addr, "listen address for devices and the REST API")
	if !dev {
		fs.Var(&c.roles, "roles", "roles of this process, comma-separated: edge, api, processor")
		fs.Var(&c.tokenSecrets, "token-secret", "HS256 device-token secrets, comma-separated, as kid:secret or secret (at least 32 bytes); the first signs")
	}
	c.tokenKeys.flags(fs, dev)
	if !dev {
		fs.Var(&c.apiKeys, "api-keys", "API keys, comma-separated, as name:sha256:HEX[:scopes=send+devices+types][:rate=100/s][:burst=N] (herald apikey new prints one); name:secret is still read, with a warning")
	}
	fs.StringVar(&c.edgeID, "edge-id", "edge-"+host, "this edge's id")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "Postgres connection string for the device list; empty: in-memory, one process only")
	fs.Var(&c.redisAddrs, "redis-addr", "Redis for the registry: host:port or redis://[user[:password]@]host[:port][/db] (rediss:// for TLS), comma-separated for Redis Cluster seeds (add ?master_set=NAME to Sentinel addresses); empty: in-memory, one process only")
	fs.StringVar(&c.redisPassword, "redis-password", "", "Redis password, when --redis-addr holds none (keeps it out of the address list)")
	fs.StringVar(&c.redisTLSCA, "redis-tls-ca", "", "PEM CA bundle that verifies the certificates of rediss:// servers (default: the system roots); read at start")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "herald:", "prefix of every Redis key")
	fs.DurationVar(&c.edgeTTL, "edge-ttl", registry.DefaultEdgeTTL, "how long an edge stays live without a heartbeat; a crashed edge's devices are offline after it")
	fs.DurationVar(&c.heartbeat, "heartbeat-interval", edge.DefaultHeartbeatInterval, "how often an edge refreshes its liveness; well within --edge-ttl")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9090", "listen address for /metrics, /healthz, /readyz and pprof; empty disables it")
	if !dev {
		fs.StringVar(&c.internalAddr, "internal-addr", "127.0.0.1:8081", "listen address for edge links (keep it off the public network)")
		fs.StringVar(&c.advertiseAddr, "advertise-addr", "", "the address other processes dial for links to this edge (default: the internal listener's address, 127.0.0.1 when its host is unspecified)")
		fs.Var(&c.clusterKeys, "cluster-key", "cluster keys, comma-separated: the first is the one this process presents on its links, any of them is accepted from others (rotation: docs/security.md)")
		c.tls.flags(fs)
	}
	fs.StringVar(&c.schemasDir, "schemas-dir", "", "a directory of extra message-type schemas (<type>.json), reloaded on SIGHUP")
	fs.Var(&c.allowedOrigins, "allowed-origins", "browser origins allowed to connect besides the server's own host, as host patterns (*.example.com), or *")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.minLifetime, "min-lifetime", edge.DefaultMinLifetime, "shortest connection lifetime: each connection's is drawn uniformly from [--min-lifetime, --max-lifetime], then the edge sends reconnect (lifetime)")
	fs.DurationVar(&c.maxLifetime, "max-lifetime", edge.DefaultMaxLifetime, "longest connection lifetime")
	fs.DurationVar(&c.reconnectGrace, "reconnect-grace", edge.DefaultReconnectGrace, "how long a device may take to close after a reconnect frame before the edge closes it (4002 after a lifetime)")
	fs.DurationVar(&c.drainWindow, "drain-window", drain, "on SIGTERM, SIGINT or POST /drain: the window over which an edge spreads its reconnect (drain) frames; 0 sends them all at once")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", defaultShutdownGrace, "how long shutdown waits, after the drain window, for connections to close, requests to finish and processors to commit")
	fs.IntVar(&c.maxConnections, "max-connections", 0, "open connections an edge holds at most; more are refused with 503 before the upgrade (0: no limit)")
	fs.Float64Var(&c.connectRate, "connect-rate", 0, "new connections per second an edge accepts; more are refused with 503 (0: no limit)")
	fs.IntVar(&c.connectBurst, "connect-burst", 0, "burst of new connections above --connect-rate (0: one second's worth of the rate)")
	fs.Float64Var(&c.maxOutRate, "max-out-rate", 0, "messages per second an edge writes to one connection; more are rejected (rate_limited) and counted (0: no limit)")
	fs.IntVar(&c.maxOutBurst, "max-out-burst", 0, "burst of messages to one connection above --max-out-rate (0: one second's worth of the rate)")
	fs.IntVar(&c.releaseMemoryAfterConns, "release-memory-after-conns", edge.DefaultReleaseMemoryAfterConns, "new connections that make a burst: after one, once --release-memory-quiet passes with a handful at most, an edge returns freed memory to the OS")
	fs.DurationVar(&c.releaseMemoryQuiet, "release-memory-quiet", edge.DefaultReleaseMemoryQuiet, "how long new connections must stay at a handful (10 a second) after a burst before an edge returns freed memory to the OS; 0 never does")
	fs.Int64Var(&c.maxFrameBytes, "max-frame-bytes", edge.DefaultMaxFrameBytes, "largest frame a device may send; larger closes with 1009")
	fs.DurationVar(&c.pingInterval, "ping-interval", edge.DefaultPingInterval, "how often each connection is pinged")
	fs.DurationVar(&c.pongTimeout, "pong-timeout", edge.DefaultPongTimeout, "how long a ping may go unanswered")
	fs.DurationVar(&c.writeTimeout, "write-timeout", edge.DefaultWriteTimeout, "bound on one write to a device")
	fs.IntVar(&c.sendQueue, "send-queue", edge.DefaultSendQueue, "frames that may wait for one connection; more are rejected")
	fs.Float64Var(&c.msgRate, "msg-rate", edge.DefaultMsgRate, "messages per second a device may send")
	fs.IntVar(&c.msgBurst, "msg-burst", edge.DefaultMsgBurst, "burst of messages a device may send")
	fs.Float64Var(&c.frameRate, "frame-rate", 0, "frames of any kind per second a device may send; more are dropped and answered rate_limited (0: 4 times --msg-rate)")
	fs.IntVar(&c.frameBurst, "frame-burst", 0, "burst of frames a device may send above --frame-rate (0: 4 times --msg-burst)")
	fs.Float64Var(&c.helloRate, "hello-rate", edge.DefaultHelloRate, "hello frames per second a device may send")
	fs.IntVar(&c.helloBurst, "hello-burst", edge.DefaultHelloBurst, "burst of hello frames a device may send above --hello-rate")
	fs.Float64Var(&c.errorRate, "error-rate", edge.DefaultErrorRate, "error frames per second sent to a device in reply to its frames; more are not sent")
	fs.IntVar(&c.errorBurst, "error-burst", edge.DefaultErrorBurst, "burst of error frames above --error-rate")
	fs.IntVar(&c.maxBadFrames, "max-bad-frames", edge.DefaultMaxBadFrames, "undecodable frames within --bad-frame-window that close a connection with 1003")
	fs.DurationVar(&c.badFrameWin, "bad-frame-window", edge.DefaultBadFrameWindow, "the window of --max-bad-frames")
	fs.DurationVar(&c.policyBackoff, "policy-backoff", edge.DefaultPolicyBackoff, "how long a device closed with 1008 is refused on connect (429, Retry-After), doubled for each repeat (0: no backoff)")
	fs.DurationVar(&c.policyBackoffMax, "policy-backoff-max", edge.DefaultPolicyBackoffMax, "the longest --policy-backoff; a device quiet this long after its backoff is forgotten")
	fs.IntVar(&c.policyBackoffDevices, "policy-backoff-devices", edge.DefaultPolicyBackoffDevices, "devices an edge remembers in policy backoff; at the bound one is dropped to make room")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", api.DefaultMaxBodyBytes, "largest REST request body")
	fs.DurationVar(&c.pushTimeout, "push-timeout", api.DefaultPushTimeout, "default wait of a sync push")
	c.rest.flags(fs)
	c.kafka.flags(fs, dev)
}

// validate checks the configuration and says clearly what is wrong.
func (c *serverConfig) validate(dev bool) error {
	for _, r := range c.roles {
		if r != "edge" && r != "api" && r != "processor" {
			return usagef("--roles: unknown role %q (want edge, api, processor)", r)
		}
	}
	if len(c.roles) == 0 {
		return usagef("--roles: at least one role is required")
	}
	if c.edgeID == "" {
		return usagef("--edge-id must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return usagef("--addr %q: %v", c.addr, err)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return usagef("--log-format %q: want text or json", c.logFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if err := c.kafka.validate(); err != nil {
		return err
	}
	if err := c.validateLifecycle(); err != nil {
		return err
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	if err := c.rest.validate(); err != nil {
		return err
	}
	if err := c.tokenKeys.validate(); err != nil {
		return err
	}
	if err := c.validateRedis(); err != nil {
		return err
	}
	if c.schemasDir != "" {
		if st, err := os.Stat(c.schemasDir); err != nil || !st.IsDir() {
			return usagef("--schemas-dir %q is not a directory", c.schemasDir)
		}
	}
	if dev {
		return nil
	}
	if c.hasRole("processor") && len(c.kafka.brokers) == 0 {
		return usagef("--kafka-brokers (or HERALD_KAFKA_BROKERS) is required for the processor role")
	}
	if len(c.kafka.brokers) > 0 && len(c.redisAddrs) == 0 && c.hasRole("api") != c.hasRole("processor") {
		return usagef("--redis-addr is required when the api and processor roles run in separate processes: message statuses are shared through Redis")
	}
	if c.hasRole("edge") {
		if len(c.tokenSecrets) == 0 && !c.tokenKeys.any() {
			return usagef("--token-secret (or HERALD_TOKEN_SECRET), --token-rsa-key or --token-jwks is required for the edge role")
		}
		for _, s := range c.tokenSecrets {
			if strings.Contains(s, devTokenSecret) {
				return usagef("--token-secret: the public development secret must not be used by serve")
			}
		}
		if _, err := c.tokenKeys.verifier(c.tokenSecrets, nil); err != nil {
			return err
		}
	}
	if c.heartbeat <= 0 || c.edgeTTL < 2*c.heartbeat {
		return usagef("--edge-ttl (%v) must be at least twice --heartbeat-interval (%v)", c.edgeTTL, c.heartbeat)
	}
	if len(c.redisAddrs) > 0 && c.postgresURL == "" {
		return usagef("--postgres-url (or HERALD_POSTGRES_URL) is required with --redis-addr: the processes of a cluster share one device list")
	}
	if len(c.redisAddrs) > 0 && len(c.clusterKeys) == 0 {
		return usagef("--cluster-key (or HERALD_CLUSTER_KEY) is required with --redis-addr: edges and API processes link to each other")
	}
	for _, k := range c.clusterKeys {
		if len(k) < 16 {
			return usagef("--cluster-key: every key needs at least 16 characters")
		}
	}
	if err := c.tls.validate(); err != nil {
		return err
	}
	if c.hasRole("api") {
		if len(c.apiKeys) == 0 {
			return usagef("--api-keys (or HERALD_API_KEYS) is required for the api role, as name:sha256:HEX (herald apikey new prints one)")
		}
		keys, _, err := apiKeys(c.apiKeys)
		if err != nil {
			return err
		}
		devHash := api.HashSecret(devAPIKey)
		for _, k := range keys {
			if k.Hash == devHash {
				return usagef("--api-keys: key %q is the public development key, which serve must not accept", k.Name)
			}
		}
	}
	return nil
}

// validateLifecycle checks the settings of connection lifetimes and shutdown.
func (c *serverConfig) validateLifecycle() error {
	switch {
	case c.minLifetime <= 0:
		return usagef("--min-lifetime must be positive, got %v", c.minLifetime)
	case c.maxLifetime < c.minLifetime:
		return usagef("--max-lifetime (%v) must not be shorter than --min-lifetime (%v): lifetimes are drawn from that range", c.maxLifetime, c.minLifetime)
	case c.reconnectGrace <= 0:
		return usagef("--reconnect-grace must be positive, got %v: it is how long a device has to close after reconnect", c.reconnectGrace)
	case c.drainWindow < 0:
		return usagef("--drain-window must not be negative, got %v (0 sends every reconnect at once)", c.drainWindow)
	case c.shutdownGrace <= 0:
		return usagef("--shutdown-grace must be positive, got %v", c.shutdownGrace)
	case c.releaseMemoryQuiet < 0:
		return usagef("--release-memory-quiet must not be negative, got %v (0 never returns memory)", c.releaseMemoryQuiet)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--ping-interval", c.pingInterval}, {"--pong-timeout", c.pongTimeout}, {"--write-timeout", c.writeTimeout}, {"--push-timeout", c.pushTimeout}} {
		if d.v <= 0 {
			return usagef("%s must be positive, got %v", d.name, d.v)
		}
	}
	return nil
}

// validateLimits checks the limits: none may be negative, zero means none (or
// the default, as each flag's help says).
func (c *serverConfig) validateLimits() error {
	for _, l := range []struct {
		name string
		v    float64
	}{
		{"--max-connections", float64(c.maxConnections)},
		{"--connect-rate", c.connectRate},
		{"--connect-burst", float64(c.connectBurst)},
		{"--max-out-rate", c.maxOutRate},
		{"--max-out-burst", float64(c.maxOutBurst)},
		{"--msg-rate", c.msgRate},
		{"--msg-burst", float64(c.msgBurst)},
		{"--frame-rate", c.frameRate},
		{"--frame-burst", float64(c.frameBurst)},
		{"--hello-rate", c.helloRate},
		{"--hello-burst", float64(c.helloBurst)},
		{"--error-rate", c.errorRate},
		{"--error-burst", float64(c.errorBurst)},
		{"--max-bad-frames", float64(c.maxBadFrames)},
		{"--bad-frame-window", float64(c.badFrameWin)},
		{"--policy-backoff", float64(c.policyBackoff)},
		{"--policy-backoff-max", float64(c.policyBackoffMax)},
		{"--send-queue", float64(c.sendQueue)},
		{"--max-frame-bytes", float64(c.maxFrameBytes)},
		{"--max-body-bytes", float64(c.maxBodyBytes)},
	} {
		if l.v < 0 || math.IsNaN(l.v) || math.IsInf(l.v, 0) {
			return usagef("%s must be a number of at least 0, got %v", l.name, l.v)
		}
	}
	if c.policyBackoff > 0 && c.policyBackoffMax < c.policyBackoff {
		return usagef("--policy-backoff-max (%v) must not be shorter than --policy-backoff (%v)", c.policyBackoffMax, c.policyBackoff)
	}
	if c.policyBackoffDevices < 1 {
		return usagef("--policy-backoff-devices must be at least 1, got %d (--policy-backoff=0 turns the backoff off)", c.policyBackoffDevices)
	}
	if c.releaseMemoryAfterConns < 1 {
		return usagef("--release-memory-after-conns must be at least 1, got %d (--release-memory-quiet=0 turns the release off)", c.releaseMemoryAfterConns)
	}
	return nil
}

// edgeReleaseMemoryQuiet is --release-memory-quiet as edge.Config takes it: 0
// (off) becomes negative, since the edge reads 0 as its default.
func (c *serverConfig) edgeReleaseMemoryQuiet() time.Duration {
	if c.releaseMemoryQuiet == 0 {
		return -1
	}
	return c.releaseMemoryQuiet
}

// edgePolicyBackoff is --policy-backoff as edge.Config takes it: 0 (off) becomes
// negative, since the edge reads 0 as its default.
func (c *serverConfig) edgePolicyBackoff() time.Duration {
	if c.policyBackoff == 0 {
		return -1
	}
	return c.policyBackoff
}

func (c *serverConfig) hasRole(r string) bool { return slices.Contains(c.roles, r) }

func (c *serverConfig) logger(stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// hs256Keys parses kid:secret or secret entries.
func hs256Keys(entries []string) []token.HS256Key {
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

// apiKeys parses --api-keys entries (see api.ParseKey) and returns the names of
// those configured in plaintext. Errors never show an entry past its name.
func apiKeys(entries []string) (keys []api.Key, plaintext []string, err error) {
	keys = make([]api.Key, 0, len(entries))
	for _, e := range entries {
		k, plain, err := api.ParseKey(e)
		if err != nil {
			return nil, nil, usagef("--api-keys: entry %q: %v", redact(e), err)
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
