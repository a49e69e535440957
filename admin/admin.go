package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds each call to a store or another edge.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxBodyBytes bounds the body of POST /admin/v1/push.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultMaxFleet bounds the edges whose figures one fleet call fetches.
	DefaultMaxFleet = 256
	// DefaultFleetConcurrency bounds the edges a fleet call asks at once.
	DefaultFleetConcurrency = 16
)

// MinKeyLength is the shortest admin key accepted.
const MinKeyLength = 16

// Edges lists the live edges: registry.Redis and registry.Memory.
type Edges interface {
	Edges(ctx context.Context) ([]string, error)
}

// Locator finds where a device is connected and the internal address of an
// edge: the registry.
type Locator interface {
	Lookup(ctx context.Context, account, device string) (registry.Entry, error)
	EdgeAddr(ctx context.Context, edge string) (string, error)
}

// RegionLocator finds the other region that holds a device: "" for none
// (edge.Regions implements it).
type RegionLocator interface {
	Locate(ctx context.Context, account, device string) (region string, unreachable []string)
}

// Sessions is the local edge: its id and its live sessions.
type Sessions interface {
	ID() string
	SessionInfo(account, device string) (edge.SessionInfo, bool)
}

// Devices reads a device's entry in its account's list.
type Devices interface {
	Get(ctx context.Context, account, device string) (devicelist.Device, error)
}

// Inbox sizes a device's store-and-forward inbox.
type Inbox interface {
	Stats(ctx context.Context, account, device string) (inbox.Stats, error)
}

// Disconnector closes a device's connection wherever it is: edge.Router.
type Disconnector interface {
	Disconnect(ctx context.Context, account, device string) error
}

// Statuses reads the delivery status of asynchronous messages: the status
// store of the API.
type Statuses interface {
	Get(ctx context.Context, id string) (*processor.MessageStatus, error)
}

var (
	_ Edges    = (*registry.Memory)(nil)
	_ Edges    = (*registry.Redis)(nil)
	_ Locator  = (*registry.Redis)(nil)
	_ Sessions = (*edge.Server)(nil)
	_ Devices  = (*devicelist.Postgres)(nil)
	_ Inbox    = (*inbox.Redis)(nil)
	_ Inbox    = (*inbox.Memory)(nil)
)

// Config is what the admin API needs of its node. Nil parts disable what
// needs them: the endpoint answers 503 and says which role is missing.
type Config struct {
	// Keys are the SHA-256 digests of the accepted admin keys (ParseKeys).
	// Without any, the admin API accepts nothing, while InternalHandler still
	// serves the other nodes: every edge answers the fleet, whether or not it
	// serves the console itself.
	Keys [][sha256.Size]byte
	// Node names this node in the fleet: its edge id, or its host.
	Node string
	// Roles are this node's roles, shown in the fleet.
	Roles []string
	// Region is this node's region, "" in a one-region deployment.
	Region string
	// Metrics is the node's Prometheus registry, where its figures are read.
	Metrics prometheus.Gatherer
	// Ready reports whether the node is ready (its /readyz).
	Ready func() bool
	// Edges lists the live edges of the fleet.
	Edges Edges
	// Locator finds devices and edges.
	Locator Locator
	// Regions, in a deployment of regions, finds a device that this region
	// does not hold in the others (edge.Regions); nil in one region.
	Regions RegionLocator
	// Local is the node's edge, nil without the edge role.
	Local Sessions
	// Devices is the device list.
	Devices Devices
	// Inbox is the store-and-forward inbox, nil without one.
	Inbox Inbox
	// Disconnector closes a device's connection wherever it is.
	Disconnector Disconnector
	// Statuses is the status store of asynchronous messages, nil without
	// Kafka.
	Statuses Statuses
	// Push serves a test push: the API's PushHandler. Nil without the api role.
	Push http.Handler
	// Drain starts this node's drain (as POST /drain does).
	Drain func()
	// Peers fetches other edges' figures, sessions and drains over their
	// internal listener; nil in a one-node deployment.
	Peers *Peers
	// Timeout bounds each call to a store or another edge: default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes bounds the body of POST /admin/v1/push: default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxFleet bounds the edges a fleet call fetches: default DefaultMaxFleet.
	MaxFleet int
	// FleetConcurrency bounds the edges a fleet call asks at once: default
	// DefaultFleetConcurrency.
	FleetConcurrency int
	// TraceURL, when set, is a link to a message's trace with {id} replaced by
	// the message id; "" when tracing is off.
	TraceURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger logs the actions taken; nil discards.
	Logger *slog.Logger
}

// Server serves the admin API and the console.
type Server struct {
	cfg    Config
	router chi.Router
}

// New validates cfg and fills its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Metrics == nil || cfg.Locator == nil || cfg.Edges == nil {
		return nil, errors.New("admin: config: Metrics, Locator and Edges are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxFleet == 0 {
		cfg.MaxFleet = DefaultMaxFleet
	}
	if cfg.FleetConcurrency == 0 {
		cfg.FleetConcurrency = DefaultFleetConcurrency
	}
	if cfg.Timeout < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxFleet < 0 || cfg.FleetConcurrency < 0 {
		return nil, errors.New("admin: config: limits must be positive")
	}
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg}
	s.router = s.routes()
	return s, nil
}

// Handler serves /admin/v1/ and /console/; mount it on the admin listener.
func (s *Server) Handler() http.Handler { return s.router }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		protocol.NewProblem(protocol.CodeNotFound, "no such admin endpoint: "+r.URL.Path).Write(w)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		p := protocol.NewProblem(protocol.CodeBadRequest, r.Method+" is not allowed on "+r.URL.Path)
		p.Status = http.StatusMethodNotAllowed
		p.Write(w)
	})
	r.Get("/console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ConsolePath, http.StatusMovedPermanently)
	})
	r.Handle(ConsolePath+"*", consoleHandler())
	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/fleet", s.fleet)
		r.Get("/node", s.node)
		r.Get("/devices/{account}/{device}", s.device)
		r.Post("/devices/{account}/{device}/disconnect", s.disconnect)
		r.Get("/messages/{id}", s.message)
		r.Post("/push", s.push)
		r.Post("/edges/{edge}/drain", s.drain)
	})
	return r
}

// ParseKeys reads --admin-key entries: a plain key of at least MinKeyLength
// characters, or sha256:HEX, the digest of one (herald apikey hash prints
// it), which keeps the key itself out of the configuration.
func ParseKeys(entries []string) ([][sha256.Size]byte, error) {
	var keys [][sha256.Size]byte
	for _, e := range entries {
		if h, ok := strings.CutPrefix(e, "sha256:"); ok {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != sha256.Size {
				return nil, errors.New("admin key: sha256: must be followed by 64 hex digits")
			}
			keys = append(keys, [sha256.Size]byte(b))
			continue
		}
		if len(e) < MinKeyLength {
			return nil, fmt.Errorf("admin key: at least %d characters are required", MinKeyLength)
		}
		keys = append(keys, sha256.Sum256([]byte(e)))
	}
	return keys, nil
}

// authenticate admits requests that carry an admin key as a bearer token.
// Every key is compared, in constant time: how long it takes says nothing of
// how close a guess came.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-admin"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "an admin key is required: Authorization: Bearer <admin key>").Write(w)
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(key)))
		match := 0
		for i := range s.cfg.Keys {
			match |= subtle.ConstantTimeCompare(s.cfg.Keys[i][:], got[:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-admin", error="invalid_token"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "unknown admin key").Write(w)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v as the JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		protocol.NewProblem(protocol.CodeInternal, "encoding the answer failed").Write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ids returns the account and device of the path, or writes a 400.
func ids(w http.ResponseWriter, r *http.Request) (account, device string, ok bool) {
	account, device = chi.URLParam(r, "account"), chi.URLParam(r, "device")
	for _, f := range []struct{ name, v string }{{"account", account}, {"device", device}} {
		if !protocol.ValidID(f.v) {
			protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("invalid %s id: 1 to %d bytes of A-Z a-z 0-9 . _ : @ -", f.name, protocol.MaxIDLen)).Write(w)
			return "", "", false
		}
	}
	return account, device, true
}

// unavailable writes a 503 for a store or edge that failed, naming it.
func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.cfg.Logger.Warn("admin: "+what+" failed", "err", err)
	protocol.NewProblem(protocol.CodeUnavailable, what+" cannot be read right now").Write(w)
}
