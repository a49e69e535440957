package settings

import (
	"cmp"
	"flag"
	"math"
	"net/http"
	"time"

	"github.com/heraldpush/herald/api"
)

// Defaults of the HTTP limits of every listener.
const (
	defaultMaxHeaderBytes    = 64 << 10
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 2 * time.Minute
)

// RESTLimits are the limits of the HTTP listeners (public, internal, admin) and
// of the REST API's keys and bodies.
type RESTLimits struct {
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxJSONDepth      int
	// MaxTopicSubscribers bounds the entries of one POST
	// /v1/topics/{topic}/subscribers.
	MaxTopicSubscribers int
	APIKeyRate          float64
	APIKeyBurst         int
}

// Flags defines the limits' settings on fs.
func (l *RESTLimits) Flags(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes, "largest request header (request line and header fields) on every listener; larger gets 431")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "how long a client may take to send a request's header on every listener")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", defaultIdleTimeout, "how long an idle keep-alive HTTP connection stays open on every listener (WebSockets are not idle connections)")
	fs.IntVar(&l.MaxJSONDepth, "max-json-depth", api.DefaultMaxJSONDepth, "deepest nesting of arrays and objects in a REST request body, payload included; deeper gets 400")
	fs.IntVar(&l.MaxTopicSubscribers, "max-topic-subscribers", api.DefaultMaxSubscribers, "entries (add and remove together) of one POST /v1/topics/{topic}/subscribers; more gets 413")
	fs.Float64Var(&l.APIKeyRate, "api-key-rate", 0, "requests per second each API key may make, unless its entry sets rate=; more get 429 (0: no limit)")
	fs.IntVar(&l.APIKeyBurst, "api-key-burst", 0, "burst of requests above --api-key-rate, unless a key's entry sets burst= (0: one second's worth of the rate)")
}

// Validate checks the limits.
func (l *RESTLimits) Validate() error {
	switch {
	case l.MaxHeaderBytes < 1:
		return Usagef("--max-header-bytes must be at least 1, got %d", l.MaxHeaderBytes)
	case l.ReadHeaderTimeout <= 0:
		return Usagef("--read-header-timeout must be positive, got %v", l.ReadHeaderTimeout)
	case l.IdleTimeout <= 0:
		return Usagef("--idle-timeout must be positive, got %v", l.IdleTimeout)
	case l.MaxJSONDepth < 1:
		return Usagef("--max-json-depth must be at least 1, got %d", l.MaxJSONDepth)
	case l.MaxTopicSubscribers < 1:
		return Usagef("--max-topic-subscribers must be at least 1, got %d", l.MaxTopicSubscribers)
	case l.APIKeyRate < 0 || math.IsNaN(l.APIKeyRate) || math.IsInf(l.APIKeyRate, 0):
		return Usagef("--api-key-rate must be a number of at least 0, got %v", l.APIKeyRate)
	case l.APIKeyBurst < 0:
		return Usagef("--api-key-burst must not be negative, got %d", l.APIKeyBurst)
	}
	return nil
}

// Apply sets the header limits on srv; zero settings (a configuration that was
// not parsed from flags) keep the defaults.
func (l *RESTLimits) Apply(srv *http.Server) {
	srv.MaxHeaderBytes = cmp.Or(l.MaxHeaderBytes, defaultMaxHeaderBytes)
	srv.ReadHeaderTimeout = cmp.Or(l.ReadHeaderTimeout, defaultReadHeaderTimeout)
	srv.IdleTimeout = cmp.Or(l.IdleTimeout, defaultIdleTimeout)
}
