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
	"github.com/heraldpush/herald/tracing"
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

// RegionRouter delivers, locates and disconnects within one region; Router
// implements it (without Regions, so that what a region link brings in never
// crosses into a third region).
type RegionRouter interface {
	Deliverer
	// Online reports whether the region's registry holds the device.
	Online(ctx context.Context, account, device string) (bool, error)
	// Disconnect closes the device's connection in the region, if it has one,
	// with 4003 (removed).
	Disconnect(ctx context.Context, account, device string) error
	// Publish publishes a topic's message to the region's subscribers.
	Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error)
	// TopicCount counts the region's subscribers of a topic.
	TopicCount(ctx context.Context, topic string) (protocol.TopicSubscribers, error)
	// Late passes a late acked receipt to a device of the region.
	Late(ctx context.Context, account, device, id string, res protocol.Result) error
}

// Defaults of RegionsConfig.
const (
	DefaultRegionFoundTTL      = 30 * time.Second
	DefaultRegionMissTTL       = time.Second
	DefaultRegionLocateTimeout = 2 * time.Second
	DefaultRegionCacheSize     = 100_000
	DefaultRegionHandoverQueue = 4096
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
	// HandoverQueue bounds the handovers and device-list changes waiting to
	// be sent to the other regions; more are dropped (a device's messages in
	// other regions then wait for its next connection; their caches of a
	// device list for a later change or its reread on an unknown target).
	// Default DefaultRegionHandoverQueue.
	HandoverQueue int
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
	// Tracer traces the msgs sent to other regions, as LinksConfig's does;
	// nil is tracing off.
	Tracer *tracing.Tracer
}

// Regions reaches devices connected in other regions through their gateways.
// Close stops its links.
type Regions struct {
	cfg   RegionsConfig
	links *Links
	peers []string // sorted

	// news is what the other regions' gateways are still to be told: a
	// device that connected here (regioninbox.go), a device list that
	// changed; sent by one goroutine, so that no caller waits for a dial.
	news   chan regionNews
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	cache map[regionKey]regionHit // guarded by mu
}

type regionKey struct{ account, device string }

// regionNews is one frame for every other region's gateway: a handover of
// the device, or (changed) a change of the account's device list, with the
// device removed from it if device is set.
type regionNews struct {
	regionKey
	changed  bool
	presence *protocol.Presence // presence news about the device
}

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
	if cfg.HandoverQueue == 0 {
		cfg.HandoverQueue = DefaultRegionHandoverQueue
	}
	if cfg.FoundTTL < 0 || cfg.MissTTL < 0 || cfg.LocateTimeout < 0 || cfg.CacheSize < 0 || cfg.HandoverQueue < 0 {
		return nil, errors.New("edge: regions: TTLs, LocateTimeout, CacheSize and HandoverQueue must not be negative")
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
		Tracer:       cfg.Tracer,
	})
	if err != nil {
		return nil, fmt.Errorf("edge: regions: %w", err)
	}
	peers := make([]string, 0, len(cfg.Peers))
	for name := range cfg.Peers {
		peers = append(peers, name)
	}
	slices.Sort(peers)
	g := &Regions{cfg: cfg, links: links, peers: peers, cache: make(map[regionKey]regionHit), news: make(chan regionNews, cfg.HandoverQueue)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Go(g.sendNews)
	return g, nil
}

// Region is the name of this process's region.
func (g *Regions) Region() string { return g.cfg.Region }

// Stats describes the region links, one per peer region dialled so far.
func (g *Regions) Stats() []LinkStats { return g.links.Stats() }

// Close stops the handovers and the region links.
func (g *Regions) Close() {
	g.cancel()
	g.wg.Wait()
	g.links.Close()
}

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
	return g.ask(ctx, k, "")
}

// ask sends a locate frame to every peer region but exclude and returns the
// first that holds the device, not waiting for the others once one does. A
// miss is cached only when every peer was asked.
func (g *Regions) ask(ctx context.Context, k regionKey, exclude string) (string, []string) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.LocateTimeout)
	defer cancel()
	type answer struct {
		region string
		found  bool
		err    error
	}
	answers := make(chan answer, len(g.peers))
	var wg sync.WaitGroup
	asked := 0
	for _, peer := range g.peers {
		if peer == exclude {
			continue
		}
		asked++
		wg.Go(func() {
			found, err := g.links.Locate(ctx, peer, k.account, k.device)
			answers <- answer{peer, found, err}
		})
	}
	defer wg.Wait()
	var unreachable []string
	for range asked {
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
	if exclude == "" {
		g.remember(k, "", time.Now())
	}
	return "", unreachable
}

// Deliver delivers m to the device in whichever other region holds it,
// through that region's gateway, and returns the outcome there: offline when
// no region holds it. A region that turns out not to hold the device (a
// cached answer gone stale, or a registration there that was ending) is
// forgotten, and the other regions are asked once more, at once, so that a
// device that moved is found.
func (g *Regions) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	k := regionKey{account, device}
	region := ""
	if h, ok := g.cached(k, time.Now()); ok {
		region = h.region
	} else {
		region, _ = g.ask(ctx, k, "")
	}
	for retried := false; ; retried = true {
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
		if retried {
			return res
		}
		region, _ = g.ask(ctx, k, region)
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
// frame of 1 when this region holds the device, a handover starts the
// delivery of what this region's inbox holds for the device
// (Config.RegionInbox), a changed bumps an account's version and closes a
// removed device's connection here, a publish publishes to this region's
// subscribers, a count counts them, a late passes a late acked receipt on to
// the device in this region, a presence passes presence news to the
// account's devices in this region. Every other kind is refused.
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
	case link.KindHandover:
		var h link.Handover
		if err := sc.ReadHandover(&h); err != nil {
			return err
		}
		if s.cfg.RegionInbox != nil {
			s.cfg.RegionInbox.Start(h.Region, h.Account, h.Device)
		}
	case link.KindPublish:
		var in link.InMsg
		if err := readPublish(sc, lc, &in); err != nil {
			return err
		}
		s.linkPublish(lc, &in, sem, true)
	case link.KindCount:
		var c link.Count
		if err := sc.ReadCount(&c); err != nil {
			return err
		}
		s.startRegionCount(lc, c, sem)
	case link.KindLate:
		var l link.Late
		if err := sc.ReadLate(&l); err != nil {
			return err
		}
		s.startRegionLate(l, sem)
	case string(protocol.KindPresence):
		var lp link.Presence
		if err := sc.ReadPresence(&lp); err != nil {
			return err
		}
		// Within this region only: no news goes on to a third.
		s.goRegion(sem, s.cfg.RegistryTimeout, func(context.Context) {
			s.presenceInRegion(lp.Account, &lp.Presence, s.cfg.Logger)
		})
	case link.KindChanged:
		var c link.Changed
		if err := sc.ReadChanged(&c); err != nil {
			return err
		}
		s.startChanged(c, sem)
	default:
		return link.ErrFrame
	}
	return nil
}

// startChanged applies a device-list change made in another region on a
// goroutine of its own, counted against the link's requests in flight (a
// full link drops it: the caches reread the list on an unknown target): the
// account's version is bumped here, so that this region's caches reload the
// list, and a removed device's connection in this region is closed.
func (s *Server) startChanged(c link.Changed, sem chan struct{}) {
	started := s.goRegion(sem, s.cfg.RegistryTimeout, func(ctx context.Context) {
		if err := s.cfg.Versions.BumpAccount(ctx, c.Account); err != nil {
			s.cfg.Logger.Warn("a device-list change from another region not announced", "account", c.Account, "err", err)
		}
		if c.Removed != "" {
			if err := s.cfg.RegionRouter.Disconnect(ctx, c.Account, c.Removed); err != nil {
				s.cfg.Logger.Warn("a device removed in another region not disconnected", "account", c.Account, "device", c.Removed, "err", err)
			}
		}
	})
	if !started {
		s.cfg.Logger.Warn("a device-list change from another region dropped: the region link is full", "account", c.Account)
	}
}

// startRegionCount answers a count frame of a region link with this region's
// subscribers of the topic, counted on a goroutine of its own against the
// link's requests in flight (a full link leaves it unanswered: the asker
// lists this region as failed when its wait ends).
func (s *Server) startRegionCount(lc *link.Conn, c link.Count, sem chan struct{}) {
	s.goRegion(sem, s.cfg.AckTimeout, func(ctx context.Context) {
		res, err := s.cfg.RegionRouter.TopicCount(ctx, c.Topic)
		if err != nil {
			s.cfg.Logger.Debug("counting a topic for another region failed", "err", err)
			return
		}
		b := link.GetFrame()
		*b = link.AppendCounted(*b, &link.Counted{ID: c.ID, Subscribers: res.Subscribers})
		if err := lc.SendPooled(b); err != nil {
			s.cfg.Logger.Debug("answering a count failed", "id", c.ID, "err", err)
		}
	})
}

// startRegionLate passes a late acked receipt from another region to the
// device in this region, on a goroutine of its own (a registry lookup)
// counted against the link's requests in flight; a full link drops it, as a
// full link queue does.
func (s *Server) startRegionLate(l link.Late, sem chan struct{}) {
	s.goRegion(sem, s.cfg.RegistryTimeout, func(ctx context.Context) {
		if err := s.cfg.RegionRouter.Late(ctx, l.Account, l.Device, l.ID, protocol.Result{Device: l.From, Status: l.Status}); err != nil {
			s.cfg.Logger.Debug("a late receipt from another region not passed on", "err", err)
		}
	})
}

// goRegion runs f on a goroutine of its own with a context that ends after
// timeout, counted against sem, a region link's requests in flight, and
// reports whether it did: a full link runs nothing.
func (s *Server) goRegion(sem chan struct{}, timeout time.Duration, f func(ctx context.Context)) bool {
	select {
	case sem <- struct{}{}:
	default:
		return false
	}
	// The link's handler holds a count, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		ctx, cancel := context.WithTimeout(s.ctx, timeout)
		defer cancel()
		f(ctx)
	}()
	return true
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
	started := s.goRegion(sem, s.cfg.RegistryTimeout, func(ctx context.Context) {
		found, err := s.cfg.RegionRouter.Online(ctx, l.Account, l.Device)
		if err != nil {
			s.cfg.Logger.Debug("locate for another region failed", "err", err)
		}
		answer(found)
	})
	if !started {
		answer(false)
	}
}
