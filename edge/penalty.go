package edge

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the backoff a device serves after a policy close.
const (
	DefaultPolicyBackoff        = 5 * time.Second
	DefaultPolicyBackoffMax     = 5 * time.Minute
	DefaultPolicyBackoffDevices = 100000
)

// The budgets of a connection (FrameRate, HelloRate, ErrorRate) end with the
// connection: a device closed with 1008 for exceeding them could reconnect at
// once with full budgets, and a few hostile devices reconnecting in a loop cost
// the edge as much as thousands of honest ones. So the edge remembers a device it
// closed with 1008 and refuses its connects, before the upgrade and with 429 and
// Retry-After, until its backoff window has passed: PolicyBackoff after the
// first close, doubled after each close that follows within PolicyBackoffMax of
// the end of the last window, up to PolicyBackoffMax. A device quiet for
// PolicyBackoffMax after its window is forgotten.
//
// The table is bounded by PolicyBackoffDevices; at the bound, an arbitrary entry
// makes room (counted in herald_edge_policy_backoff_evictions_total). The
// heartbeat goroutine sweeps out forgotten entries every HeartbeatInterval. The
// check runs after the device token is verified: a forged token must not put an
// honest device in backoff. The table is the edge's own: a device sent to
// another edge by the load balancer starts afresh there.

// deviceKey names a device across accounts.
type deviceKey struct{ account, device string }

// penalty is a device's backoff.
type penalty struct {
	until  time.Time     // connects are refused until then
	window time.Duration // the length of the last window
}

// penalties is the edge's table of devices in backoff.
type penalties struct {
	base, max time.Duration // PolicyBackoff, PolicyBackoffMax; base <= 0: off
	limit     int           // PolicyBackoffDevices

	size    prometheus.Gauge
	evicted prometheus.Counter

	mu sync.Mutex
	m  map[deviceKey]penalty // guarded by mu
}

// newPenalties returns the table of cfg's backoff and registers its metrics.
func newPenalties(cfg *Config, reg prometheus.Registerer) (*penalties, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p := &penalties{
		base:  cfg.PolicyBackoff,
		max:   cfg.PolicyBackoffMax,
		limit: cfg.PolicyBackoffDevices,
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_edge_policy_backoff_devices",
			Help: "Devices the edge remembers after a policy close (1008), whose connects it refuses during their backoff (PolicyBackoffDevices bounds them).",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_edge_policy_backoff_evictions_total",
			Help: "Devices dropped from the policy backoff table to make room at PolicyBackoffDevices.",
		}),
		m: make(map[deviceKey]penalty),
	}
	for _, c := range []prometheus.Collector{p.size, p.evicted} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// add starts or extends the backoff of k, closed for policy at now, and returns
// its window.
func (p *penalties) add(k deviceKey, now time.Time) time.Duration {
	if p.base <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.m[k]
	w := p.base
	if ok && now.Before(old.until.Add(p.max)) {
		w = min(2*old.window, p.max)
	}
	if !ok && len(p.m) >= p.limit {
		for victim := range p.m {
			delete(p.m, victim)
			p.evicted.Inc()
			break
		}
	}
	p.m[k] = penalty{until: now.Add(w), window: w}
	p.size.Set(float64(len(p.m)))
	return w
}

// wait returns how long k's connects are still refused at now; 0 lets it in.
func (p *penalties) wait(k deviceKey, now time.Time) time.Duration {
	if p.base <= 0 {
		return 0
	}
	p.mu.Lock()
	e, ok := p.m[k]
	p.mu.Unlock()
	if !ok || !now.Before(e.until) {
		return 0
	}
	return e.until.Sub(now)
}

// sweep forgets the devices quiet for PolicyBackoffMax since their window ended.
func (p *penalties) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.m {
		if !now.Before(e.until.Add(p.max)) {
			delete(p.m, k)
		}
	}
	p.size.Set(float64(len(p.m)))
}

// penalize puts the device of ss, closed with 1008, in backoff.
func (s *Server) penalize(ss *session) {
	if w := s.penalties.add(deviceKey{ss.account, ss.device}, s.cfg.Now()); w > 0 {
		ss.log.Info("device in policy backoff", "backoff", w)
	}
}

// inBackoff refuses a verified device's connect during its backoff with a 429
// problem and Retry-After (whole seconds, at least 1), and reports true; it
// writes nothing and reports false otherwise.
func (s *Server) inBackoff(w http.ResponseWriter, r *http.Request, account, device string) bool {
	wait := s.penalties.wait(deviceKey{account, device}, s.cfg.Now())
	if wait <= 0 {
		return false
	}
	s.met.refused[refusedPolicyBackoff].Inc()
	if ok, suppressed := s.noisy.allow(noisyRefused, time.Now()); ok {
		s.cfg.Logger.Info("connection refused", "reason", refusalLabel[refusedPolicyBackoff], "account", account, "device", device, "remote", r.RemoteAddr, "suppressed", suppressed)
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	protocol.NewProblem(protocol.CodeRateLimited, "device closed for exceeding its rate limits (1008): retry after the backoff").Write(w)
	return true
}

// policyBackoffDefaults fills and checks PolicyBackoff, PolicyBackoffMax and
// PolicyBackoffDevices.
func (c *Config) policyBackoffDefaults() error {
	if c.PolicyBackoff < 0 {
		return nil // off
	}
	if c.PolicyBackoff == 0 {
		c.PolicyBackoff = DefaultPolicyBackoff
	}
	if c.PolicyBackoffMax == 0 {
		c.PolicyBackoffMax = max(DefaultPolicyBackoffMax, c.PolicyBackoff)
	}
	if c.PolicyBackoffDevices == 0 {
		c.PolicyBackoffDevices = DefaultPolicyBackoffDevices
	}
	switch {
	case c.PolicyBackoffMax < c.PolicyBackoff:
		return errors.New("edge: config: PolicyBackoffMax must be at least PolicyBackoff")
	case c.PolicyBackoffDevices < 0:
		return errors.New("edge: config: PolicyBackoffDevices must not be negative")
	}
	return nil
}
