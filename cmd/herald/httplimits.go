package main

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

// restLimits are the limits of the HTTP listeners (public, internal, admin) and
// of the REST API's keys and bodies.
type restLimits struct {
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxJSONDepth      int
	apiKeyRate        float64
	apiKeyBurst       int
}

// flags defines the limits' settings on fs.
func (l *restLimits) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.maxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes, "largest request header (request line and header fields) on every listener; larger gets 431")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "how long a client may take to send a request's header on every listener")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", defaultIdleTimeout, "how long an idle keep-alive HTTP connection stays open on every listener (WebSockets are not idle connections)")
	fs.IntVar(&l.maxJSONDepth, "max-json-depth", api.DefaultMaxJSONDepth, "deepest nesting of arrays and objects in a REST request body, payload included; deeper gets 400")
	fs.Float64Var(&l.apiKeyRate, "api-key-rate", 0, "requests per second each API key may make, unless its entry sets rate=; more get 429 (0: no limit)")
	fs.IntVar(&l.apiKeyBurst, "api-key-burst", 0, "burst of requests above --api-key-rate, unless a key's entry sets burst= (0: one second's worth of the rate)")
}

// validate checks the limits.
func (l *restLimits) validate() error {
	switch {
	case l.maxHeaderBytes < 1:
		return usagef("--max-header-bytes must be at least 1, got %d", l.maxHeaderBytes)
	case l.readHeaderTimeout <= 0:
		return usagef("--read-header-timeout must be positive, got %v", l.readHeaderTimeout)
	case l.idleTimeout <= 0:
		return usagef("--idle-timeout must be positive, got %v", l.idleTimeout)
	case l.maxJSONDepth < 1:
		return usagef("--max-json-depth must be at least 1, got %d", l.maxJSONDepth)
	case l.apiKeyRate < 0 || math.IsNaN(l.apiKeyRate) || math.IsInf(l.apiKeyRate, 0):
		return usagef("--api-key-rate must be a number of at least 0, got %v", l.apiKeyRate)
	case l.apiKeyBurst < 0:
		return usagef("--api-key-burst must not be negative, got %d", l.apiKeyBurst)
	}
	return nil
}

// apply sets the header limits on srv; zero settings (a configuration that was
// not parsed from flags) keep the defaults.
func (l *restLimits) apply(srv *http.Server) {
	srv.MaxHeaderBytes = cmp.Or(l.maxHeaderBytes, defaultMaxHeaderBytes)
	srv.ReadHeaderTimeout = cmp.Or(l.readHeaderTimeout, defaultReadHeaderTimeout)
	srv.IdleTimeout = cmp.Or(l.idleTimeout, defaultIdleTimeout)
}
