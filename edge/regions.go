package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
)

// A deployment may span regions (docs/design.md, "Regions"): each region has
// its own registry, and a device is registered only in the region it is
// connected to. A lookup is local first; a device that the region's registry
// does not hold is asked for at the gateways of the other regions, in
// parallel, with a locate frame over a region link, and a message for it goes
// to the gateway of the region that holds it, which routes it within its
// region (Config.RegionRouter): one extra hop. The answers are cached in the
// asking process, a found one for RegionsConfig.FoundTTL (or until a delivery
// through it finds the device gone), a miss for RegionsConfig.MissTTL.

// RegionLinkPath is the internal endpoint where a gateway takes region links
// from the gateways of other regions.
const RegionLinkPath = "/internal/v1/region-link"

// RegionRouter delivers and locates within one region; Router implements it
// (without Regions, so that what a region link brings in never crosses into a
// third region).
type RegionRouter interface {
	Deliverer
	// Online reports whether the region's registry holds the device.
	Online(ctx context.Context, account, device string) (bool, error)
}

// Defaults of RegionsConfig.
const (
	DefaultRegionFoundTTL      = 30 * time.Second
	DefaultRegionMissTTL       = time.Second
	DefaultRegionLocateTimeout = 2 * time.Second
	DefaultRegionCacheSize     = 100_000
	DefaultRegionPingInterval  = time.Second
)

// RegionsConfig configures Regions.
type RegionsConfig struct {
	// Region names the region of this process (protocol.ValidRegion).
	// Required.
	Region string
	// Peers maps each other region's name to the internal address of its
	// gateway (an http://, https:// or bare host:port address, as edges
	// advertise). Required: at least one.
	Peers map[string]string
	// Key is the region key this process presents to the other regions'
	// gateways, which must list it among their Config.RegionKeys. Required.
	Key string
	// FoundTTL is how long a device found in another region is taken to be
	// there without asking again; MissTTL how long a device found nowhere is
	// taken to be offline, which bounds how late a device that moved is found
	// (docs/design.md). Defaults DefaultRegionFoundTTL and
	// DefaultRegionMissTTL.
	FoundTTL, MissTTL time.Duration
	// LocateTimeout bounds one round of locate frames: a region that has not
	// answered by then is taken as not holding the device. Default
	// DefaultRegionLocateTimeout.
	LocateTimeout time.Duration
	// CacheSize bounds the cached answers; a full cache is emptied. Default
	// DefaultRegionCacheSize.
	CacheSize int
	// Queue, DialTimeout, WriteTimeout, MinBackoff and MaxBackoff configure
	// the region links as LinksConfig does the edge links.
	Queue                     int
	DialTimeout, WriteTimeout time.Duration
	MinBackoff, MaxBackoff    time.Duration
	// PingInterval and PongTimeout find out a region that hangs, as
	// LinksConfig's do for edge links, with defaults of their own:
	// DefaultRegionPingInterval, and LocateTimeout for the pong, so that a
	// region link is taken as lost by the rule that takes a region as not
	// holding a device (it does not answer within LocateTimeout), and pushes
	// to a device cached there stop waiting on it within a few seconds.
	PingInterval, PongTimeout time.Duration
	// HTTPClient dials the region links; nil uses a default client.
	HTTPClient *http.Client
	// Logger receives region link events; nil discards them.
	Logger *slog.Logger
}

// Regions reaches devices connected in other regions through their gateways.
// Close stops its links.
type Regions struct {
	cfg   RegionsConfig
	links *Links
	peers []string // sorted

	mu    sync.Mutex
	cache map[regionKey]regionHit // guarded by mu
}

type regionKey struct{ account, device string }

// regionHit is a cached answer: the region that holds the device, "" for
// none, until when it is believed.
type regionHit struct {
	region string
	until  time.Time
}

// staticAddrs maps region names to gateway addresses for Links.
type staticAddrs map[string]string

func (a staticAddrs) EdgeAddr(_ context.Context, region string) (string, error) {
	if addr, ok := a[region]; ok {
		return addr, nil
	}
	return "", fmt.Errorf("no gateway configured for region %s", region)
}

// NewRegions validates cfg and returns Regions; no link is dialled before it
// is needed.
func NewRegions(cfg RegionsConfig) (*Regions, error) {
	if !protocol.ValidRegion(cfg.Region) {
		return nil, errors.New("edge: regions: Region must be a valid region name")
	}
	if len(cfg.Peers) == 0 || cfg.Key == "" {
		return nil, errors.New("edge: regions: Peers and Key are required")
	}
	for name, addr := range cfg.Peers {
		if !protocol.ValidRegion(name) || name == cfg.Region || addr == "" {
			return nil, fmt.Errorf("edge: regions: peer %q: a valid region name other than this region's, with an address, is required", name)
		}
	}
	if cfg.FoundTTL == 0 {
		cfg.FoundTTL = DefaultRegionFoundTTL
	}
	if cfg.MissTTL == 0 {
		cfg.MissTTL = DefaultRegionMissTTL
	}
	if cfg.LocateTimeout == 0 {
		cfg.LocateTimeout = DefaultRegionLocateTimeout
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultRegionCacheSize
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultRegionPingInterval
	}
	if cfg.PongTimeout == 0 {
		cfg.PongTimeout = cfg.LocateTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FoundTTL < 0 || cfg.MissTTL < 0 || cfg.LocateTimeout < 0 || cfg.CacheSize < 0 {
		return nil, errors.New("edge: regions: TTLs, LocateTimeout and CacheSize must not be negative")
	}
	links, err := NewLinks(LinksConfig{
		Addresses:    staticAddrs(cfg.Peers),
		ClusterKey:   cfg.Key,
		Path:         RegionLinkPath,
		Queue:        cfg.Queue,
		DialTimeout:  cfg.DialTimeout,
		WriteTimeout: cfg.WriteTimeout,
		MinBackoff:   cfg.MinBackoff,
		MaxBackoff:   cfg.MaxBackoff,
		PingInterval: cfg.PingInterval,
		PongTimeout:  cfg.PongTimeout,
		HTTPClient:   cfg.HTTPClient,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("edge: regions: %w", err)
	}
	peers := make([]string, 0, len(cfg.Peers))
	for name := range cfg.Peers {
		peers = append(peers, name)
	}
	slices.Sort(peers)
	return &Regions{cfg: cfg, links: links, peers: peers, cache: make(map[regionKey]regionHit)}, nil
}

// Region is the name of this process's region.
func (g *Regions) Region() string { return g.cfg.Region }

// Stats describes the region links, one per peer region dialled so far.
func (g *Regions) Stats() []LinkStats { return g.links.Stats() }

// Close stops the region links.
func (g *Regions) Close() { g.links.Close() }

// cached returns the cached answer for the device, if one is still believed.
func (g *Regions) cached(k regionKey, now time.Time) (regionHit, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.cache[k]
	if !ok || now.After(h.until) {
		return regionHit{}, false
	}
	return h, true
}

// remember caches region ("" for none) as the answer for the device.
func (g *Regions) remember(k regionKey, region string, now time.Time) {
	ttl := g.cfg.FoundTTL
	if region == "" {
		ttl = g.cfg.MissTTL
	}
	if ttl == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.cache) >= g.cfg.CacheSize {
		clear(g.cache)
	}
	g.cache[k] = regionHit{region: region, until: now.Add(ttl)}
}

// forget drops the cached answer for the device if it still names region.
func (g *Regions) forget(k regionKey, region string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h, ok := g.cache[k]; ok && h.region == region {
		delete(g.cache, k)
	}
}

// Locate returns the other region that holds the device, or "" when none
// does, from the cache or by asking every other region's gateway at once. The
// regions that could not answer in time are listed in unreachable; they are
// taken as not holding the device.
func (g *Regions) Locate(ctx context.Context, account, device string) (region string, unreachable []string) {
	k := regionKey{account, device}
	if h, ok := g.cached(k, time.Now()); ok {
		return h.region, nil
	}
	return g.ask(ctx, k)
}

// ask sends a locate frame to every peer region and returns the first that
// holds the device, not waiting for the others once one does.
func (g *Regions) ask(ctx context.Context, k regionKey) (string, []string) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.LocateTimeout)
	defer cancel()
	type answer struct {
		region string
		found  bool
		err    error
	}
	answers := make(chan answer, len(g.peers))
	var wg sync.WaitGroup
	for _, peer := range g.peers {
		wg.Go(func() {
			found, err := g.links.Locate(ctx, peer, k.account, k.device)
			answers <- answer{peer, found, err}
		})
	}
	defer wg.Wait()
	var unreachable []string
	for range g.peers {
		a := <-answers
		switch {
		case a.err != nil:
			g.cfg.Logger.Debug("region locate failed", "region", a.region, "err", a.err)
			unreachable = append(unreachable, a.region)
		case a.found:
			cancel() // the others cannot hold it too, or not for long
			g.remember(k, a.region, time.Now())
			return a.region, nil
		}
	}
	slices.Sort(unreachable)
	g.remember(k, "", time.Now())
	return "", unreachable
}

// Deliver delivers m to the device in whichever other region holds it,
// through that region's gateway, and returns the outcome there: offline when
// no region holds it. A cached region that no longer holds the device is
// asked about once more, at once, so that a device that moved is found.
func (g *Regions) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	k := regionKey{account, device}
	h, cached := g.cached(k, time.Now())
	region := h.region
	if !cached {
		region, _ = g.ask(ctx, k)
	}
	for {
		if region == "" {
			return protocol.Result{Device: device, Status: protocol.StatusOffline}
		}
		res := g.links.Deliver(ctx, region, account, device, m, progress)
		gone := res.Status == protocol.StatusOffline ||
			res.Status == protocol.StatusRejected && strings.HasPrefix(res.Error, string(protocol.CodeUnavailable))
		if !gone {
			return res
		}
		g.forget(k, region)
		if !cached {
			return res
		}
		cached = false
		region, _ = g.ask(ctx, k)
	}
}

// Locate asks edge (a region's gateway, over a region link) whether its
// region holds the device, and waits for the answer until ctx ends.
func (l *Links) Locate(ctx context.Context, edge, account, device string) (bool, error) {
	id := protocol.NewID()
	n, err := l.ask(ctx, edge, id, func(b []byte) []byte {
		return link.AppendLocate(b, &link.Locate{ID: id, Account: account, Device: device})
	})
	return n > 0, err
}

// onRegionFrame acts on one frame of a region link: a msg is delivered within
// this region through Config.RegionRouter, a locate answered with a counted
// frame of 1 when this region holds the device. Every other kind is refused.
func (s *Server) onRegionFrame(sc *link.Scanner, lc *link.Conn, jobs *linkJobs, sem chan struct{}, kind string) error {
	switch kind {
	case string(protocol.KindMsg):
		j := newLinkJob(s, lc, jobs)
		if err := sc.ReadMsg(&j.in); err != nil {
			j.release()
			return err
		}
		s.startLinkJob(lc, j, sem)
	case link.KindLocate:
		var l link.Locate
		if err := sc.ReadLocate(&l); err != nil {
			return err
		}
		s.startLocate(lc, l, sem)
	default:
		return link.ErrFrame
	}
	return nil
}

// startLocate answers a locate frame on a goroutine of its own (a registry
// lookup), counted against the link's deliveries in flight: a full link
// answers that the device is not here, as a region that does not answer in
// time would be taken.
func (s *Server) startLocate(lc *link.Conn, l link.Locate, sem chan struct{}) {
	answer := func(found bool) {
		n := 0
		if found {
			n = 1
		}
		b := link.GetFrame()
		*b = link.AppendCounted(*b, &link.Counted{ID: l.ID, Subscribers: n})
		if err := lc.SendPooled(b); err != nil {
			s.cfg.Logger.Debug("answering a locate failed", "id", l.ID, "err", err)
		}
	}
	select {
	case sem <- struct{}{}:
	default:
		answer(false)
		return
	}
	// The link's handler holds a count, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		defer cancel()
		found, err := s.cfg.RegionRouter.Online(ctx, l.Account, l.Device)
		if err != nil {
			s.cfg.Logger.Debug("locate for another region failed", "err", err)
		}
		answer(found)
	}()
}
