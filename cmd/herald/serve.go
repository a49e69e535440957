package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/admin"
	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/demo"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/mirror"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/settings"
	"github.com/heraldpush/herald/tlsreload"
	"github.com/heraldpush/herald/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c settings.Server
	fs := settings.NewFlags("serve", stderr)
	c.Flags(fs, false)
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if err := c.Validate(false); err != nil {
		return err
	}
	if _, plain, _ := settings.ParseAPIKeys(c.APIKeys); len(plain) > 0 {
		c.Logger(stderr).Warn("API keys configured in plaintext: configure their hashes instead, as name:sha256:HEX (herald apikey hash --name NAME reads the key on stdin)", "keys", plain)
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
	edge.TopicDirectory
	admin.Edges
}

// deviceStore is what a process needs of the device list.
type deviceStore interface {
	edge.DeviceList
	edge.DeviceTopics
	api.DeviceStore
	api.DeviceTopicStore
	admin.Devices
	Close()
}

var (
	_ deviceStore = (*devicelist.Memory)(nil)
	_ deviceStore = (*devicelist.Postgres)(nil)
)

var (
	_ clusterRegistry = (*registry.Memory)(nil)
	_ clusterRegistry = (*registry.Redis)(nil)
)

// node is one running Herald process: its parts and its listeners.
type node struct {
	types    *protocol.Types
	registry clusterRegistry
	devices  deviceStore
	inbox    nodeInbox // store-and-forward: the API and the processor put, the edge drains
	edge     *edge.Server
	api      *api.Server
	links    *edge.Links
	regions  *edge.Regions // the other regions' gateways; nil in one region
	// regionInbox delivers this region's stored messages to devices in other
	// regions; nil in one region.
	regionInbox *edge.RegionInbox
	tls         *tlsreload.Listeners // certificates of the listeners; nil: plain HTTP
	tokens      *token.Verifier      // the edge's device-token keys; nil without the edge role
	ready       atomic.Bool
	// metrics is the node's Prometheus registry: the edge, the API and the
	// processor register their own metrics in it, listenAll the node's.
	metrics *prometheus.Registry

	drainReq  chan struct{} // closed by requestDrain
	drainOnce sync.Once

	kafka        *processor.Embedded // herald dev's cluster, nil otherwise
	kafkaAddrs   []string
	producer     *processor.Producer
	processor    *processor.Processor
	materializer *processor.MaterializerConfig
	mirror       *mirror.Config // the mirror role's, nil without it

	router   *edge.Router // delivers and disconnects, wherever a device is
	statuses api.Statuses // the asynchronous path's status store, nil without Kafka
	admin    *admin.Server

	listeners []listener // public, internal, admin: started and shut down together
	closers   []func()   // release the registry client

	// limits are the header limits of every listener's http.Server.
	limits settings.RESTLimits

	// tracing exports the node's spans; nil with tracing off. Its Shutdown
	// comes last, after everything that traced has stopped.
	tracing *tracing.Provider
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
	ln = n.tls.Wrap(ln, name == "internal")
	n.serve(name, ln, h, log)
	return nil
}

// serve adds a listener that is already bound.
func (n *node) serve(name string, ln net.Listener, h http.Handler, log *slog.Logger) {
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	n.limits.Apply(srv)
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
	n.closeLinks()
	for _, f := range n.closers {
		f()
	}
	n.stopTracing()
}

// stopTracing flushes and stops the node's tracing, within a few seconds.
func (n *node) stopTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.tracing.Shutdown(ctx) // spans not exported in time are lost, not the shutdown
}

// closeLinks stops the drains of stored messages to other regions, then the
// links to other edges and regions.
func (n *node) closeLinks() {
	if n.regionInbox != nil {
		n.regionInbox.Close()
	}
	if n.links != nil {
		n.links.Close()
	}
	if n.regions != nil {
		n.regions.Close()
	}
}

// build creates the parts of a node from its configuration.
func build(c *settings.Server, log *slog.Logger) (*node, error) {
	return buildWith(c, log, nil)
}

// buildWith is build with a device list of the caller's (herald dev's
// regions share one), nil for the one the configuration names.
func buildWith(c *settings.Server, log *slog.Logger, devices deviceStore) (_ *node, err error) {
	n := &node{metrics: prometheus.NewRegistry(), drainReq: make(chan struct{}), limits: c.REST}
	defer func() {
		if err != nil {
			n.close() // what was built before the failure stops again
		}
	}()
	if c.SchemasDir != "" {
		if st, err := os.Stat(c.SchemasDir); err != nil || !st.IsDir() {
			return nil, settings.Usagef("--schemas-dir %q is not a directory", c.SchemasDir)
		}
	}
	if n.types, err = schemas.Load(c.SchemasDir); err != nil {
		return nil, err
	}
	if len(c.RedisAddrs) > 0 {
		cfg, err := c.RedisConfig()
		if err != nil {
			return nil, err
		}
		r, err := registry.NewRedis(cfg)
		if err != nil {
			return nil, err // "registry: connect to redis …"
		}
		n.registry = r
		n.closers = append(n.closers, r.Close)
		warnEdgeTTL(c, r, log)
	} else {
		n.registry = registry.NewMemoryWith(registry.MemoryConfig{EdgeTTL: c.EdgeTTL, TopicTTL: c.TopicTTL})
	}
	switch {
	case devices != nil:
		n.devices = devices
	case c.PostgresURL != "":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pg, err := devicelist.OpenPostgres(ctx, devicelist.PostgresConfig{URL: c.PostgresURL, Logger: log.With("part", "devicelist")})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("device list: %w", err)
		}
		n.devices = pg
	default:
		n.devices = devicelist.NewMemory()
	}
	n.closers = append(n.closers, n.devices.Close)
	var redisClient rueidis.Client
	if r, ok := n.registry.(*registry.Redis); ok {
		redisClient = r.Client()
	}
	if n.inbox, err = newInbox(c, redisClient); err != nil {
		return nil, settings.Usagef("%v", err)
	}
	topicLog, err := newTopicLog(c, redisClient)
	if err != nil {
		return nil, settings.Usagef("%v", err)
	}
	if n.tls, err = c.TLS.Listeners(log.With("part", "tls")); err != nil {
		return nil, err
	}
	if n.tracing, err = tracing.Start(context.Background(), c.TracingConfig(os.Getenv)); err != nil {
		return nil, err
	}
	tracer := n.tracing.Tracer()
	router := &edge.Router{Registry: n.registry, Topics: n.registry, TopicLog: topicLog, Tracer: tracer}
	if router.Nudges, err = edge.NewNudgeCounters(n.metrics); err != nil {
		return nil, err
	}
	if len(c.ClusterKeys) > 0 {
		lc := c.LinksConfig()
		lc.Addresses, lc.HTTPClient, lc.Logger, lc.Tracer = n.registry, n.tls.Client(), log.With("part", "links"), tracer
		n.links, err = edge.NewLinks(lc)
		if err != nil {
			return nil, settings.Usagef("%v", err)
		}
		router.Links = n.links
	}
	// inRegion is the router that region links deliver through: this region
	// only, so that a message crosses one region boundary at most. It is
	// router without Regions, filled in once router is complete.
	inRegion := &edge.Router{}
	if n.regions, err = newRegions(&c.Region, n.tls, tracer, log); err != nil {
		return nil, err
	}
	router.Regions = n.regions
	// Before the edge: its stored messages' statuses go to Kafka too.
	async, err := n.buildAsync(c, redisClient, router, log)
	if err != nil {
		return nil, err
	}
	n.router, n.statuses = router, async.statuses
	var regionNews edge.RegionNews
	if n.regions != nil {
		regionNews = n.regions
		n.regionInbox, err = edge.NewRegionInbox(edge.RegionInboxConfig{
			Inbox:    n.inbox,
			Regions:  n.regions,
			Statuses: async.edgeStatuses(),
			Late:     router,
			Page:     c.InboxPage,
			Logger:   log.With("part", "region-inbox"),
		})
		if err != nil {
			return nil, settings.Usagef("%v", err)
		}
		router.RegionInbox = n.regionInbox
	}
	if err := n.buildMirror(c, log); err != nil {
		return nil, err
	}
	if c.HasRole("edge") {
		v, err := c.TokenKeys.Verifier(c.TokenSecrets, log.With("part", "token"))
		if err != nil {
			return nil, err
		}
		n.tokens = v
		ec := c.EdgeConfig()
		ec.Verifier, ec.Types, ec.Inbox, ec.TopicLog = v, n.types, n.inbox, topicLog
		// The registry is the edge's registry, and where it finds devices,
		// accounts' versions, topics and other edges' liveness.
		ec.Registry, ec.Locator, ec.Versions, ec.Topics, ec.Liveness = n.registry, n.registry, n.registry, n.registry, n.registry
		ec.Devices, ec.DeviceTopics = n.devices, n.devices
		ec.Router, ec.Nudger, ec.Late = router, router, router
		ec.Presencer, ec.Replacer = presencer(n.links), replacer(n.links)
		ec.RegionRouter, ec.RegionInbox, ec.RegionNews = inRegion, n.regionInbox, regionNews
		ec.Statuses = async.edgeStatuses()
		ec.Metrics, ec.Logger, ec.Tracer = n.metrics, log.With("part", "edge"), tracer
		if n.edge, err = edge.New(ec); err != nil {
			return nil, settings.Usagef("%v", err)
		}
		router.Local = n.edge
	}
	*inRegion = *router
	inRegion.Regions = nil
	if c.HasRole("api") {
		ac, err := c.APIConfig()
		if err != nil {
			return nil, err
		}
		ac.Queue, ac.Statuses, ac.Idempotency, ac.Reporter = async.queue, async.statuses, async.idempotency, async.apiReporter()
		ac.Types, ac.Directory, ac.Devices, ac.Subscriptions, ac.Inbox = n.types, n.registry, n.devices, n.devices, n.inbox
		ac.Deliverer, ac.Publisher, ac.Counter, ac.Nudger, ac.Presence, ac.TopicChanges = router, router, router, router, router, router
		ac.Changes = edge.Changes{Versions: n.registry, Router: router}
		ac.Metrics, ac.Logger, ac.Tracer = n.metrics, log.With("part", "api"), tracer
		if n.api, err = api.New(ac); err != nil {
			return nil, settings.Usagef("%v", err)
		}
	}
	return n, nil
}

// serve runs the configured roles until ctx is done (SIGTERM or SIGINT) or POST
// /drain on the admin listener, then drains and shuts down (see shutdown). ready,
// if not nil, is called with the node once it listens.
func serve(ctx context.Context, c *settings.Server, stdout, stderr io.Writer, ready func(*node)) error {
	return serveWith(ctx, c, stderr, ready, nil)
}

// serveWith is serve with a device list of the caller's (buildWith).
func serveWith(ctx context.Context, c *settings.Server, stderr io.Writer, ready func(*node), devices deviceStore) error {
	log := c.Logger(stderr)
	// The internal listener is bound first: the edge advertises its address from
	// its first heartbeat on.
	var internal net.Listener
	if c.HasRole("edge") && c.InternalAddr != "" {
		var err error
		if internal, err = net.Listen("tcp", c.InternalAddr); err != nil {
			return fmt.Errorf("listen on %s (internal): %w", c.InternalAddr, err)
		}
		c.AdvertiseAddr = c.LinkAddr(internal.Addr().(*net.TCPAddr))
	}
	n, err := buildWith(c, log, devices)
	if err != nil {
		if internal != nil {
			_ = internal.Close()
		}
		return err
	}
	if err := n.buildAdmin(c, log); err != nil {
		if internal != nil {
			_ = internal.Close()
		}
		n.close()
		return err
	}
	if internal != nil {
		n.serve("internal", n.tls.Wrap(internal, true), admin.InternalListenerHandler(n.edge.LinkHandler(), n.admin.InternalHandler(c.ClusterKeys)), log)
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
		"roles", c.Roles.String(), "edge", c.EdgeID, "types", len(n.types.List()))
	if ready != nil {
		ready(n)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var serveErr error
	why := "signal"
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-n.drainReq:
			why = "POST /drain"
			break loop
		case <-hup:
			n.tls.Reload()
			if n.tokens != nil {
				_ = n.tokens.Reload() // a failure is logged and keeps the keys in use
			}
			if err := n.types.Reload(); err != nil {
				log.Error("reloading message types failed; keeping the old set", "err", err)
			} else {
				log.Info("message types reloaded", "types", len(n.types.List()))
			}
		case serveErr = <-errc:
			why = "a listener failed"
			break loop
		}
	}
	served := 0
	if serveErr != nil {
		served = 1
	}
	errs := n.shutdown(c, log, why, stopAsync, errc, served)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	return errors.Join(errs...)
}

// listenAll binds the public and admin listeners.
func (n *node) listenAll(c *settings.Server, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	if n.edge != nil {
		h := n.edge.Handler()
		mux.Handle("GET /v1/connect", h)
		mux.Handle("GET /v1/events", h)
		mux.Handle("POST /v1/acks", h)
		mux.Handle("POST /v1/refresh", h)
	}
	if n.api != nil {
		mux.Handle("/", n.api.Handler())
		if c.Demo {
			iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
			if err != nil {
				return err
			}
			demo.Mount(mux, demo.Config{API: n.api.Handler(), APIKey: settings.DevAPIKey, Issuer: iss, Logger: log.With("part", "demo")})
		}
	}
	if err := n.listen("public", c.Addr, mux, log); err != nil {
		return err
	}
	lookups, _ := n.registry.(admin.LookupCounter)
	admin.RegisterNodeMetrics(n.metrics, lookups, n.links)
	if c.AdminAddr != "" {
		lc := admin.ListenerConfig{Metrics: n.metrics, Ready: n.ready.Load, Drain: n.requestDrain}
		if c.Console {
			lc.Console = n.admin.Handler()
		}
		if err := n.listen("admin", c.AdminAddr, admin.ListenerHandler(lc), log); err != nil {
			return err
		}
	}
	return nil
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

// newRegions returns the links to the other regions' gateways that
// --region-peers names, or nil when it names none.
func newRegions(r *settings.Region, t *tlsreload.Listeners, tracer *tracing.Tracer, log *slog.Logger) (*edge.Regions, error) {
	if len(r.Peers) == 0 {
		return nil, nil
	}
	cfg, err := r.RegionsConfig()
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient, cfg.Logger, cfg.Tracer = t.Client(), log.With("part", "regions"), tracer
	g, err := edge.NewRegions(cfg)
	if err != nil {
		return nil, settings.Usagef("%v", err)
	}
	return g, nil
}

// failoverMargin is what a Redis Cluster failover takes beyond the
// cluster-node-timeout: the replicas' election, a second or two.
const failoverMargin = 5 * time.Second

// warnEdgeTTL warns when an edge's liveness key may expire during a Redis
// Cluster failover: the slot that holds it answers nothing for the
// cluster-node-timeout and the election after it, so a --edge-ttl shorter
// than both makes every device of the edge look offline meanwhile.
func warnEdgeTTL(c *settings.Server, r *registry.Redis, log *slog.Logger) {
	if !c.HasRole("edge") {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if t, ok := r.ClusterNodeTimeout(ctx); ok && c.EdgeTTL < t+failoverMargin {
		log.Warn("--edge-ttl is shorter than the Redis Cluster's cluster-node-timeout plus a failover: while a master fails over, this edge's devices look offline",
			"edge_ttl", c.EdgeTTL, "cluster_node_timeout", t, "want_at_least", t+failoverMargin)
	}
}
