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
	"strings"
	"syscall"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
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

	maxFrameBytes int64
	pingInterval  time.Duration
	pongTimeout   time.Duration
	writeTimeout  time.Duration
	sendQueue     int
	msgRate       float64
	msgBurst      int
	maxBodyBytes  int64
	pushTimeout   time.Duration
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
		fs.Var(&c.roles, "roles", "roles of this process, comma-separated: edge, api")
		fs.Var(&c.tokenSecrets, "token-secret", "HS256 device-token secrets, comma-separated, as kid:secret or secret (at least 32 bytes); the first signs")
		fs.Var(&c.apiKeys, "api-keys", "API keys, comma-separated, as name:secret")
	}
	fs.StringVar(&c.edgeID, "edge-id", "edge-"+host, "this edge's id")
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
}

// validate checks the configuration and says clearly what is wrong.
func (c *serverConfig) validate(dev bool) error {
	for _, r := range c.roles {
		if r != "edge" && r != "api" {
			return usagef("--roles: unknown role %q (want edge, api)", r)
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
	if dev {
		return nil
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

// node is one running Herald process: its parts and its listener.
type node struct {
	types *protocol.Types
	reg   *registry.Memory
	edge  *edge.Server
	api   *api.Server
	http  *http.Server
	ln    net.Listener
}

// serve runs the configured roles until ctx is done, then shuts down within the
// grace period. ready, if not nil, is called with the node once it listens.
func serve(ctx context.Context, c *serverConfig, stdout, stderr io.Writer, ready func(*node)) error {
	log := c.logger(stderr)
	sources := []fs.FS{schemas.FS}
	if c.schemasDir != "" {
		if st, err := os.Stat(c.schemasDir); err != nil || !st.IsDir() {
			return usagef("--schemas-dir %q is not a directory", c.schemasDir)
		}
		sources = append(sources, os.DirFS(c.schemasDir))
	}
	types, err := protocol.LoadTypes(sources...)
	if err != nil {
		return fmt.Errorf("loading message types: %w", err)
	}
	reg := registry.NewMemory()
	n := &node{types: types, reg: reg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	router := &edge.Router{Registry: reg}
	if c.hasRole("edge") {
		v, err := token.NewVerifier(token.VerifierConfig{HS256: hs256Keys(c.tokenSecrets)})
		if err != nil {
			return usagef("--token-secret: %v", err)
		}
		n.edge, err = edge.New(edge.Config{
			ID:             c.edgeID,
			Verifier:       v,
			Registry:       reg,
			Types:          types,
			Siblings:       reg,
			Router:         router,
			AllowedOrigins: c.allowedOrigins,
			MaxFrameBytes:  c.maxFrameBytes,
			PingInterval:   c.pingInterval,
			PongTimeout:    c.pongTimeout,
			WriteTimeout:   c.writeTimeout,
			SendQueue:      c.sendQueue,
			MsgRate:        c.msgRate,
			MsgBurst:       c.msgBurst,
			Logger:         log.With("part", "edge"),
		})
		if err != nil {
			return usagef("%v", err)
		}
		// Until the server is up, shutting down below does not reach the edge: an
		// error return must stop it here, or its goroutines outlive serve.
		defer func() {
			if n.http == nil {
				_ = n.edge.Shutdown(context.Background())
			}
		}()
		router.Local = n.edge
		h := n.edge.Handler()
		mux.Handle("GET /v1/connect", h)
		mux.Handle("GET /v1/events", h)
		mux.Handle("POST /v1/acks", h)
	}
	if c.hasRole("api") {
		keys, err := apiKeys(c.apiKeys)
		if err != nil {
			return err
		}
		n.api, err = api.New(api.Config{
			Types:        types,
			Deliverer:    router,
			Directory:    reg,
			Keys:         keys,
			MaxBodyBytes: c.maxBodyBytes,
			PushTimeout:  c.pushTimeout,
			Logger:       log.With("part", "api"),
		})
		if err != nil {
			return usagef("%v", err)
		}
		mux.Handle("/", n.api.Handler())
	}
	n.ln, err = net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- n.http.Serve(n.ln) }()
	log.Info("herald listening", "addr", n.ln.Addr().String(), "roles", c.roles.String(), "edge", c.edgeID, "types", len(types.List()))
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
			if err := types.Reload(); err != nil {
				log.Error("reloading message types failed; keeping the old set", "err", err)
			} else {
				log.Info("message types reloaded", "types", len(types.List()))
			}
		case serveErr = <-errc:
			break loop
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	var errs []error
	if n.edge != nil {
		errs = append(errs, n.edge.Shutdown(sctx))
	}
	if err := n.http.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if serveErr == nil {
		serveErr = <-errc
	}
	if !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	return errors.Join(errs...)
}
