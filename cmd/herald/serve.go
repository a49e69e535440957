package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/redis/rueidis"
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
	apiKeys        listFlag
	schemasDir     string
	allowedOrigins listFlag
	logFormat      string
	logLevel       string
	shutdownGrace  time.Duration

	postgresURL   string
	redisAddrs    listFlag
	redisPrefix   string
	internalAddr  string
	advertiseAddr string
	clusterKeys   listFlag
	adminAddr     string
	edgeTTL       time.Duration
	heartbeat     time.Duration

	maxFrameBytes int64
	pingInterval  time.Duration
	pongTimeout   time.Duration
	writeTimeout  time.Duration
	sendQueue     int
	msgRate       float64
	msgBurst      int
	maxBodyBytes  int64
	pushTimeout   time.Duration

	kafka kafkaConfig
}

func (c *serverConfig) flags(fs *flag.FlagSet, dev bool) {
	addr, roles := ":8080", "edge,api"
	if dev {
		addr = "127.0.0.1:8080"
	}
	c.roles = listFlag(strings.Split(roles, ","))
	host, _ := os.Hostname()
	fs.StringVar(&c.addr, "addr", addr, "listen address for devices and the REST API")
	if !dev {
		fs.Var(&c.roles, "roles", "roles of this process, comma-separated: edge, api, processor")
		fs.Var(&c.tokenSecrets, "token-secret", "HS256 device-token secrets, comma-separated, as kid:secret or secret (at least 32 bytes); the first signs")
		fs.Var(&c.apiKeys, "api-keys", "API keys, comma-separated, as name:secret")
	}
	fs.StringVar(&c.edgeID, "edge-id", "edge-"+host, "this edge's id")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "Postgres connection string for the device list; empty: in-memory, one process only")
	fs.Var(&c.redisAddrs, "redis-addr", "Redis (or Redis Cluster seed) addresses, comma-separated, for the registry; empty: in-memory, one process only")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "herald:", "prefix of every Redis key")
	fs.DurationVar(&c.edgeTTL, "edge-ttl", registry.DefaultEdgeTTL, "how long an edge stays live without a heartbeat; a crashed edge's devices are offline after it")
	fs.DurationVar(&c.heartbeat, "heartbeat-interval", edge.DefaultHeartbeatInterval, "how often an edge refreshes its liveness; well within --edge-ttl")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9090", "listen address for /metrics, /healthz, /readyz and pprof; empty disables it")
	if !dev {
		fs.StringVar(&c.internalAddr, "internal-addr", "127.0.0.1:8081", "listen address for edge links (keep it off the public network)")
		fs.StringVar(&c.advertiseAddr, "advertise-addr", "", "the address other processes dial for links to this edge (default: the internal listener's address, 127.0.0.1 when its host is unspecified)")
		fs.Var(&c.clusterKeys, "cluster-key", "cluster keys, comma-separated; the first authenticates this process's links, any of them is accepted")
	}
	fs.StringVar(&c.schemasDir, "schemas-dir", "", "a directory of extra message-type schemas (<type>.json), reloaded on SIGHUP")
	fs.Var(&c.allowedOrigins, "allowed-origins", "browser origins allowed to connect besides the server's own host, as host patterns (*.example.com), or *")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "how long shutdown waits for connections and requests")
	fs.Int64Var(&c.maxFrameBytes, "max-frame-bytes", edge.DefaultMaxFrameBytes, "largest frame a device may send; larger closes with 1009")
	fs.DurationVar(&c.pingInterval, "ping-interval", edge.DefaultPingInterval, "how often each connection is pinged")
	fs.DurationVar(&c.pongTimeout, "pong-timeout", edge.DefaultPongTimeout, "how long a ping may go unanswered")
	fs.DurationVar(&c.writeTimeout, "write-timeout", edge.DefaultWriteTimeout, "bound on one write to a device")
	fs.IntVar(&c.sendQueue, "send-queue", edge.DefaultSendQueue, "frames that may wait for one connection; more are rejected")
	fs.Float64Var(&c.msgRate, "msg-rate", edge.DefaultMsgRate, "messages per second a device may send")
	fs.IntVar(&c.msgBurst, "msg-burst", edge.DefaultMsgBurst, "burst of messages a device may send")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", api.DefaultMaxBodyBytes, "largest REST request body")
	fs.DurationVar(&c.pushTimeout, "push-timeout", api.DefaultPushTimeout, "default wait of a sync push")
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
		if len(c.tokenSecrets) == 0 {
			return usagef("--token-secret (or HERALD_TOKEN_SECRET) is required for the edge role")
		}
		for _, s := range c.tokenSecrets {
			if strings.Contains(s, devTokenSecret) {
				return usagef("--token-secret: the public development secret must not be used by serve")
			}
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
	if c.hasRole("api") && len(c.apiKeys) == 0 {
		return usagef("--api-keys (or HERALD_API_KEYS) is required for the api role, as name:secret")
	}
	return nil
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

// apiKeys parses name:secret entries.
func apiKeys(entries []string) ([]api.Key, error) {
	keys := make([]api.Key, 0, len(entries))
	for _, e := range entries {
		name, secret, ok := strings.Cut(e, ":")
		if !ok || name == "" || len(secret) < 8 {
			return nil, usagef("--api-keys: entry %q must be name:secret with a secret of at least 8 characters", redact(e))
		}
		keys = append(keys, api.NewKey(name, secret))
	}
	return keys, nil
}

func redact(s string) string {
	if name, _, ok := strings.Cut(s, ":"); ok {
		return name + ":…"
	}
	return "…"
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serverConfig
	fs := newFlags("serve", stderr)
	c.flags(fs, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireArgs(fs, 0, 0); err != nil {
		return err
	}
	if err := c.validate(false); err != nil {
		return err
	}
	return serve(ctx, &c, stdout, stderr, nil)
}

// clusterRegistry is what a process needs of the registry: the edge registers and
// heartbeats, routers look up, links find edges.
type clusterRegistry interface {
	edge.Registry
	api.Directory
	edge.Locator
	edge.Liveness
	edge.EdgeAddresser
	edge.Versions
}

// deviceStore is what a process needs of the device list.
type deviceStore interface {
	edge.DeviceList
	api.DeviceStore
	Close()
}

var (
	_ deviceStore = (*devicelist.Memory)(nil)
	_ deviceStore = (*devicelist.Postgres)(nil)
)

// changes tells the cluster about a changed device list: caches reload and a
// removed device is disconnected.
type changes struct {
	reg    clusterRegistry
	router *edge.Router
}

func (c changes) BumpAccount(ctx context.Context, account string) error {
	return c.reg.BumpAccount(ctx, account)
}

func (c changes) Disconnect(ctx context.Context, account, device string) error {
	return c.router.Disconnect(ctx, account, device)
}

var (
	_ clusterRegistry = (*registry.Memory)(nil)
	_ clusterRegistry = (*registry.Redis)(nil)
)

// node is one running Herald process: its parts and its listeners.
type node struct {
	types    *protocol.Types
	registry clusterRegistry
	devices  deviceStore
	edge     *edge.Server
	api      *api.Server
	links    *edge.Links
	ready    atomic.Bool

	kafka        *embeddedKafka // herald dev's cluster, nil otherwise
	kafkaAddrs   []string
	producer     *processor.Producer
	processor    *processor.Processor
	materializer *processor.MaterializerConfig

	listeners []listener // public, internal, admin: started and shut down together
	closers   []func()   // release the registry client
}

// listener is one of a node's HTTP listeners.
type listener struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// listen binds a listener for h.
func (n *node) listen(name, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", addr, name, err)
	}
	n.serve(name, ln, h, log)
	return nil
}

// serve adds a listener that is already bound.
func (n *node) serve(name string, ln net.Listener, h http.Handler, log *slog.Logger) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	n.listeners = append(n.listeners, listener{name: name, srv: srv, ln: ln})
}

// addr returns the bound address of a listener, "" if there is none.
func (n *node) addr(name string) string {
	for _, l := range n.listeners {
		if l.name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// close releases what build and listen acquired, for the paths that never serve.
func (n *node) close() {
	for _, l := range n.listeners {
		_ = l.ln.Close()
	}
	if n.edge != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.edge.Shutdown(ctx)
		cancel()
	}
	if n.links != nil {
		n.links.Close()
	}
	for _, f := range n.closers {
		f()
	}
}

// build creates the parts of a node from its configuration.
func build(c *serverConfig, log *slog.Logger) (_ *node, err error) {
	n := &node{}
	defer func() {
		if err != nil {
			n.close() // what was built before the failure stops again
		}
	}()
	sources := []fs.FS{schemas.FS}
	if c.schemasDir != "" {
		if st, err := os.Stat(c.schemasDir); err != nil || !st.IsDir() {
			return nil, usagef("--schemas-dir %q is not a directory", c.schemasDir)
		}
		sources = append(sources, os.DirFS(c.schemasDir))
	}
	if n.types, err = protocol.LoadTypes(sources...); err != nil {
		return nil, fmt.Errorf("loading message types: %w", err)
	}
	if len(c.redisAddrs) > 0 {
		r, err := registry.NewRedis(registry.RedisConfig{Addrs: c.redisAddrs, Prefix: c.redisPrefix, EdgeTTL: c.edgeTTL})
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		n.registry = r
		n.closers = append(n.closers, r.Close)
	} else {
		n.registry = registry.NewMemoryWith(registry.MemoryConfig{EdgeTTL: c.edgeTTL})
	}
	if c.postgresURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pg, err := devicelist.OpenPostgres(ctx, devicelist.PostgresConfig{URL: c.postgresURL, Logger: log.With("part", "devicelist")})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("device list: %w", err)
		}
		n.devices = pg
	} else {
		n.devices = devicelist.NewMemory()
	}
	n.closers = append(n.closers, n.devices.Close)
	var redisClient rueidis.Client
	if r, ok := n.registry.(*registry.Redis); ok {
		redisClient = r.Client()
	}
	router := &edge.Router{Registry: n.registry}
	if len(c.clusterKeys) > 0 {
		n.links, err = edge.NewLinks(edge.LinksConfig{Addresses: n.registry, ClusterKey: c.clusterKeys[0], Logger: log.With("part", "links")})
		if err != nil {
			return nil, usagef("%v", err)
		}
		router.Links = n.links
	}
	if c.hasRole("edge") {
		v, err := token.NewVerifier(token.VerifierConfig{HS256: hs256Keys(c.tokenSecrets)})
		if err != nil {
			return nil, usagef("--token-secret: %v", err)
		}
		n.edge, err = edge.New(edge.Config{
			ID:                c.edgeID,
			Verifier:          v,
			Registry:          n.registry,
			Types:             n.types,
			Devices:           n.devices,
			Versions:          n.registry,
			Locator:           n.registry,
			Presencer:         presencer(n.links),
			Router:            router,
			AllowedOrigins:    c.allowedOrigins,
			ClusterKeys:       c.clusterKeys,
			Liveness:          n.registry,
			Replacer:          replacer(n.links),
			InternalAddr:      c.advertiseAddr,
			HeartbeatInterval: c.heartbeat,
			MaxFrameBytes:     c.maxFrameBytes,
			PingInterval:      c.pingInterval,
			PongTimeout:       c.pongTimeout,
			WriteTimeout:      c.writeTimeout,
			SendQueue:         c.sendQueue,
			MsgRate:           c.msgRate,
			MsgBurst:          c.msgBurst,
			Logger:            log.With("part", "edge"),
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
		router.Local = n.edge
	}
	var async asyncParts
	if c.hasRole("api") || c.hasRole("processor") {
		if async, err = n.buildAsync(c, redisClient, router, log); err != nil {
			return nil, err
		}
	}
	if c.hasRole("api") {
		keys, err := apiKeys(c.apiKeys)
		if err != nil {
			return nil, err
		}
		n.api, err = api.New(api.Config{
			Queue:        async.queue,
			Statuses:     async.statuses,
			Idempotency:  async.idempotency,
			Types:        n.types,
			Deliverer:    router,
			Directory:    n.registry,
			Devices:      n.devices,
			Presence:     router,
			Changes:      changes{reg: n.registry, router: router},
			Keys:         keys,
			MaxBodyBytes: c.maxBodyBytes,
			PushTimeout:  c.pushTimeout,
			Logger:       log.With("part", "api"),
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
	}
	return n, nil
}

// serve runs the configured roles until ctx is done, then shuts down within the
// grace period. ready, if not nil, is called with the node once it listens.
func serve(ctx context.Context, c *serverConfig, stdout, stderr io.Writer, ready func(*node)) error {
	log := c.logger(stderr)
	// The internal listener is bound first: the edge advertises its address from
	// its first heartbeat on.
	var internal net.Listener
	if c.hasRole("edge") && c.internalAddr != "" {
		var err error
		if internal, err = net.Listen("tcp", c.internalAddr); err != nil {
			return fmt.Errorf("listen on %s (internal): %w", c.internalAddr, err)
		}
		if c.advertiseAddr == "" {
			c.advertiseAddr = advertised(internal.Addr().(*net.TCPAddr))
		}
	}
	n, err := build(c, log)
	if err != nil {
		if internal != nil {
			_ = internal.Close()
		}
		return err
	}
	if internal != nil {
		n.serve("internal", internal, n.edge.LinkHandler(), log)
	}
	if err := n.listenAll(c, log); err != nil {
		n.close()
		return err
	}
	errc := make(chan error, len(n.listeners))
	for _, l := range n.listeners {
		go func() { errc <- l.srv.Serve(l.ln) }()
	}
	stopAsync := n.runAsync(log)
	n.ready.Store(true)
	log.Info("herald listening", "kafka", n.kafkaAddrs, "addr", n.addr("public"), "internal", n.addr("internal"), "admin", n.addr("admin"),
		"roles", c.roles.String(), "edge", c.edgeID, "types", len(n.types.List()))
	if ready != nil {
		ready(n)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if err := n.types.Reload(); err != nil {
				log.Error("reloading message types failed; keeping the old set", "err", err)
			} else {
				log.Info("message types reloaded", "types", len(n.types.List()))
			}
		case serveErr = <-errc:
			break loop
		}
	}
	log.Info("shutting down")
	n.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	var errs []error
	if n.edge != nil {
		errs = append(errs, n.edge.Shutdown(sctx))
	}
	// The processor finishes the batches in hand (each delivery is bounded) and
	// commits them before the links and clients it uses close.
	stopAsync()
	for _, l := range n.listeners {
		if err := l.srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("%s listener shutdown: %w", l.name, err))
		}
	}
	for range n.listeners {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	if n.links != nil {
		n.links.Close()
	}
	for _, f := range n.closers {
		f()
	}
	return errors.Join(errs...)
}

// listenAll binds the public and admin listeners.
func (n *node) listenAll(c *serverConfig, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	if n.edge != nil {
		h := n.edge.Handler()
		mux.Handle("GET /v1/connect", h)
		mux.Handle("GET /v1/events", h)
		mux.Handle("POST /v1/acks", h)
	}
	if n.api != nil {
		mux.Handle("/", n.api.Handler())
	}
	if err := n.listen("public", c.addr, mux, log); err != nil {
		return err
	}
	if c.adminAddr != "" {
		if err := n.listen("admin", c.adminAddr, adminHandler(newMetrics(n), &n.ready), log); err != nil {
			return err
		}
	}
	return nil
}

// advertised is the address others dial for a listener: its own, with 127.0.0.1
// for an unspecified host.
func advertised(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	}
	return a.String()
}

// presencer returns links as an edge.Presencer, or nil without links.
func presencer(links *edge.Links) edge.Presencer {
	if links == nil {
		return nil
	}
	return links
}

// replacer returns links as an edge.Replacer, or nil (not a typed nil) without links.
func replacer(links *edge.Links) edge.Replacer {
	if links == nil {
		return nil
	}
	return links
}
