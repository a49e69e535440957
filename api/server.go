package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the limits in Config.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultPushTimeout    = 2 * time.Second
	DefaultMaxPushTimeout = 30 * time.Second
	DefaultMaxTargets     = 1000
	DefaultMaxBatch       = 500
	DefaultKeyConcurrency = 16
	DefaultLookupTimeout  = 2 * time.Second
	DefaultMaxJSONDepth   = 32
)

// Deliverer delivers a message to a device wherever it is connected and returns the
// device's final outcome.
type Deliverer interface {
	Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result
}

// Directory lists the connected devices of an account.
type Directory interface {
	Connected(ctx context.Context, account string) ([]string, error)
}

// Config configures a Server. Zero limits take the defaults above.
type Config struct {
	// Types is the message-type registry. Required.
	Types *protocol.Types
	// Deliverer delivers pushes. Required.
	Deliverer Deliverer
	// Directory resolves pushes to every device of an account. Required.
	Directory Directory
	// Keys are the accepted API keys. At least one is required.
	Keys []Key
	// KeyRate is the requests per second a key may make when its own Rate is
	// zero, with KeyBurst more at once (zero: one second's worth). Zero
	// KeyRate is no limit. Over it a request gets 429 rate_limited.
	KeyRate  float64
	KeyBurst int
	// Now is the clock of the rate limits; nil is time.Now.
	Now func() time.Time
	// Devices serves the device-list endpoints. Required. Presence, when set, fills
	// their online state; Changes, when set, invalidates caches and disconnects
	// removed devices.
	Devices  DeviceStore
	Presence Presence
	Changes  Changes
	// MaxBodyBytes bounds a request body; larger gets 413.
	MaxBodyBytes int64
	// MaxJSONDepth bounds the nesting of arrays and objects in a request body
	// (a payload's included), checked before anything decodes it; deeper gets
	// 400 bad_request.
	MaxJSONDepth int
	// PushTimeout is the default wait of a sync push; MaxPushTimeout bounds the
	// timeout_ms a request may ask for.
	PushTimeout, MaxPushTimeout time.Duration
	// MaxTargets bounds the devices one push reaches, and the deliveries one
	// batch runs at once.
	MaxTargets int
	// MaxBatch bounds the messages of one POST /v1/push/batch or POST
	// /v1/messages/batch; more gets 413.
	MaxBatch int
	// LookupTimeout bounds a directory lookup.
	LookupTimeout time.Duration
	// Queue, when set, serves POST /v1/messages; without it the asynchronous
	// endpoints answer 503. Statuses serves GET /v1/messages/{id}. Idempotency,
	// when set, remembers Idempotency-Key headers for IdempotencyTTL (default
	// DefaultIdempotencyTTL).
	Queue          Queue
	Statuses       Statuses
	Idempotency    processor.Idempotency
	IdempotencyTTL time.Duration
	// KeyConcurrency bounds the idempotency keys of one POST
	// /v1/messages/batch that are claimed, and settled, at once: each is a
	// round trip to the Idempotency store (with Redis, pipelined when they
	// overlap). 0 is DefaultKeyConcurrency; 1 claims them one after the
	// other, on the request's goroutine, as they always are with a store in
	// the process (processor.MemoryIdempotency).
	KeyConcurrency int
	// Inbox, when set, stores the sync pushes to one device that find it
	// offline, for types whose policy has a store (store-and-forward); without
	// it they are answered offline.
	Inbox Inbox
	// Publisher, when set, serves POST /v1/topics/{topic}/messages; without
	// it the route answers 503.
	Publisher Publisher
	// Counter, when set, serves GET /v1/topics/{topic}; without it the
	// route answers 503.
	Counter TopicCounter
	// Subscriptions, when set, keeps the devices' persistent topics and serves
	// the subscription routes (devicetopics.go); without it they answer 503.
	// TopicChanges, when set, tells the edge holding a device of a change of
	// its topics, which it applies without a reconnect.
	Subscriptions DeviceTopicStore
	TopicChanges  TopicChanges
	// MaxDeviceTopics bounds the persistent topics of one device (default
	// DefaultMaxDeviceTopics; cmd/herald passes --max-topics, the edge's
	// limit of one connection); a PUT past it gets 409 conflict.
	// MaxSubscribers bounds the entries of one POST
	// /v1/topics/{topic}/subscribers (default DefaultMaxSubscribers); more
	// gets 413.
	MaxDeviceTopics, MaxSubscribers int
	// Reporter, when set, records the status of the sync pushes stored for an
	// offline device (queued, and what their puts did to the inbox), so that
	// GET /v1/messages/{id} follows them to delivered, acked or expired as it
	// follows asynchronous messages.
	Reporter Reporter
	// Nudger, when set, tells the edge that holds a device to read its inbox
	// again after a push was stored for it (nudge.go); without it a push
	// stored while the device connects waits for its next connection.
	Nudger Nudger
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Tracer traces the sending endpoints (push, messages, topic publish) as
	// SERVER spans, the roots of their messages' traces; nil is tracing off.
	Tracer *tracing.Tracer
	// Metrics, when set, receives the server's Prometheus metrics (see
	// metrics.go for their names); nil keeps them in a private registry.
	Metrics prometheus.Registerer
}

// Server serves the REST API.
type Server struct {
	cfg     Config
	keys    []apiKey
	router  chi.Router
	metrics *metrics
	// bufs holds *[]byte buffers for request bodies and push answers.
	bufs sync.Pool
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Types == nil || cfg.Deliverer == nil || cfg.Directory == nil || cfg.Devices == nil {
		return nil, errors.New("api: config: Types, Deliverer, Directory and Devices are required")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("api: config: at least one API key is required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PushTimeout == 0 {
		cfg.PushTimeout = DefaultPushTimeout
	}
	if cfg.MaxPushTimeout == 0 {
		cfg.MaxPushTimeout = DefaultMaxPushTimeout
	}
	if cfg.MaxTargets == 0 {
		cfg.MaxTargets = DefaultMaxTargets
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.IdempotencyTTL == 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.KeyConcurrency == 0 {
		cfg.KeyConcurrency = DefaultKeyConcurrency
	}
	if cfg.LookupTimeout == 0 {
		cfg.LookupTimeout = DefaultLookupTimeout
	}
	if cfg.MaxJSONDepth == 0 {
		cfg.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if cfg.MaxDeviceTopics == 0 {
		cfg.MaxDeviceTopics = DefaultMaxDeviceTopics
	}
	if cfg.MaxSubscribers == 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxJSONDepth < 0 || cfg.KeyBurst < 0 || !(cfg.KeyRate >= 0) || math.IsInf(cfg.KeyRate, 0) {
		return nil, errors.New("api: config: MaxJSONDepth, KeyRate and KeyBurst must not be negative")
	}
	if cfg.MaxBodyBytes < 0 || cfg.PushTimeout < 0 || cfg.MaxPushTimeout < cfg.PushTimeout || cfg.MaxTargets < 0 || cfg.MaxBatch < 0 || cfg.KeyConcurrency < 0 || cfg.LookupTimeout < 0 || cfg.IdempotencyTTL < time.Millisecond || cfg.MaxDeviceTopics < 0 || cfg.MaxSubscribers < 0 {
		return nil, errors.New("api: config: limits must be positive and MaxPushTimeout at least PushTimeout")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics, cfg.Types)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, metrics: m}
	if s.keys, err = newAPIKeys(cfg); err != nil {
		return nil, err
	}
	s.router = s.routes()
	return s, nil
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.router }

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return openAPI }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.metrics.observe)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		protocol.NewProblem(protocol.CodeNotFound, "no such endpoint: "+r.URL.Path).Write(w)
	})
	mux := r
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		// A 405 must list the allowed methods (RFC 9110, section 15.5.6); chi's default
		// handler does, this one has to look them up itself.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		p := protocol.NewProblem(protocol.CodeBadRequest, r.Method+" is not allowed on "+r.URL.Path)
		p.Status = http.StatusMethodNotAllowed
		p.Write(w)
	})
	r.Get("/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Group(func(r chi.Router) {
			r.Use(requireScope(ScopeSend))
			tr := s.cfg.Tracer
			r.Post("/v1/push", tr.HandlerFunc("POST /v1/push", s.push))
			r.Post("/v1/push/batch", tr.HandlerFunc("POST /v1/push/batch", s.pushBatch))
			r.Post("/v1/messages", tr.HandlerFunc("POST /v1/messages", s.sendMessage))
			r.Post("/v1/messages/batch", tr.HandlerFunc("POST /v1/messages/batch", s.sendMessages))
			r.Get("/v1/messages/{id}", s.messageStatus)
			r.Post("/v1/topics/{topic}/messages", tr.HandlerFunc("POST /v1/topics/{topic}/messages", s.publish))
			r.Get("/v1/topics/{topic}", s.topicCount)
		})
		r.Group(func(r chi.Router) {
			r.Use(requireScope(ScopeTypes))
			r.Get("/v1/types", s.listTypes)
			r.Get("/v1/types/{type}", s.getType)
			r.Post("/v1/types/{type}/validate", s.validateType)
		})
		r.Group(func(r chi.Router) {
			r.Use(requireScope(ScopeDevices))
			s.deviceRoutes(r)
			s.deviceTopicRoutes(r)
		})
	})
	return r
}
