package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// errDevicesUnavailable reports a device list that could be neither read nor
// served from the cache.
var errDevicesUnavailable = errors.New("the device list is unavailable")

// deviceCache keeps the device lists of accounts whose devices message each other.
// An entry is used while the account's version (read through the registry's
// client-side cache) is the one it was loaded under; a change anywhere bumps the
// version and the next use reloads. While the device list store is down, cached
// entries keep serving.
type deviceCache struct {
	list     DeviceList
	topics   DeviceTopics // nil: no persistent topics
	versions Versions
	max      int

	mu      sync.Mutex
	entries map[string]*deviceEntry // guarded by mu
	// reread is, per account, the rereads of its list that targets missing
	// from the cached list made (idsAgain) in the current window; guarded by
	// mu, bounded like entries.
	reread map[string]rereads
}

// rereads counts an account's rereads since the start of a window.
type rereads struct {
	since time.Time
	n     int
}

// rereadEvery and rereadBurst bound how often one account's list is read
// again past the cache for a target it does not hold: a device naming unknown
// ids costs the store at most rereadBurst queries a second, and two devices
// registered over REST elsewhere and messaged at once are each found.
const (
	rereadEvery = time.Second
	rereadBurst = 3
)

// deviceEntry is one account's cached device list; never changed once made.
type deviceEntry struct {
	version int64
	ids     []string // sorted
	// topical are the devices of ids with persistent topics, sorted; read
	// with ids when the cache has DeviceTopics. topicsKnown is false when
	// they could not be read: a connecting device then reads its own.
	topical     []string
	topicsKnown bool
}

func newDeviceCache(list DeviceList, topics DeviceTopics, versions Versions, max int) *deviceCache {
	return &deviceCache{list: list, topics: topics, versions: versions, max: max,
		entries: make(map[string]*deviceEntry), reread: make(map[string]rereads)}
}

// idsAgain reads the account's devices from the store past the cache, for a
// target that the cached list does not hold: the version that says the list
// changed travels through the registry's client-side cache, whose
// invalidation may still be on its way when a device registered over REST
// elsewhere is messaged at once. At most rereadBurst times per rereadEvery per account;
// it returns nil when it did not read (too soon, or the store failed).
func (c *deviceCache) idsAgain(ctx context.Context, account string, now time.Time) []string {
	c.mu.Lock()
	r, ok := c.reread[account]
	if !ok || now.Sub(r.since) >= rereadEvery {
		r = rereads{since: now}
	}
	if r.n >= rereadBurst {
		c.mu.Unlock()
		return nil
	}
	if !ok && len(c.reread) >= c.max {
		clear(c.reread)
	}
	r.n++
	c.reread[account] = r
	c.mu.Unlock()
	ids, err := c.list.IDs(ctx, account)
	if err != nil {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// ids returns the account's devices, sorted.
func (c *deviceCache) ids(ctx context.Context, account string) ([]string, error) {
	e, err := c.entry(ctx, account)
	if err != nil {
		return nil, err
	}
	return e.ids, nil
}

// entry returns the account's devices, and which of them have persistent
// topics, from the cache while the account's version is the one they were
// read under.
func (c *deviceCache) entry(ctx context.Context, account string) (*deviceEntry, error) {
	v, verr := c.versions.AccountVersion(ctx, account)
	c.mu.Lock()
	e := c.entries[account]
	c.mu.Unlock()
	if e != nil && (verr != nil || e.version == v) {
		return e, nil
	}
	ids, err := c.list.IDs(ctx, account)
	if err != nil {
		if e != nil {
			return e, nil // stale beats nothing while the store is down
		}
		return nil, errors.Join(errDevicesUnavailable, err)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ne := &deviceEntry{version: v, ids: ids}
	if c.topics != nil {
		// An account none of whose devices has persistent topics costs this
		// one query more per change of its device list, and none per connect.
		if topical, err := c.topics.TopicDevices(ctx, account); err == nil {
			ne.topical, ne.topicsKnown = slices.Sorted(slices.Values(topical)), true
		}
	} else {
		ne.topicsKnown = true
	}
	if verr == nil && ne.topicsKnown {
		c.mu.Lock()
		if len(c.entries) >= c.max {
			for k := range c.entries { // evict an arbitrary entry
				delete(c.entries, k)
				break
			}
		}
		c.entries[account] = ne
		c.mu.Unlock()
	}
	return ne, nil
}

// has reports whether device is in the sorted ids.
func has(ids []string, device string) bool {
	_, ok := slices.BinarySearch(ids, device)
	return ok
}

// listDevice makes sure a connecting device is in its account's list: a new one is
// added (and the account's version bumped, so every cache sees it); a known one is
// only marked seen, in a batch.
func (s *Server) listDevice(ctx context.Context, ss *session) {
	e, err := s.devices.entry(ctx, ss.account)
	if err == nil && has(e.ids, ss.device) {
		s.cfg.Devices.Seen(ss.account, ss.device, s.cfg.Now())
		if !e.topicsKnown || has(e.topical, ss.device) {
			s.applyDeviceTopics(ctx, ss)
		}
		return
	}
	if err := s.addDevice(ctx, ss); err == nil {
		// A device new to this edge's cache may have been registered, and
		// subscribed, through the REST API before it first connected.
		s.applyDeviceTopics(ctx, ss)
	} else {
		// Every device that connects while the store is down gets here: one line
		// each would flood the log at the rate of connects.
		if ok, suppressed := s.noisy.allow(noisyStore, time.Now()); ok {
			ss.log.Warn("adding the device to the device list failed; retrying at each heartbeat", "err", err, "suppressed", suppressed)
		}
		s.unlistedMu.Lock()
		if s.unlisted == nil {
			s.unlisted = make(map[*session]struct{})
		}
		if len(s.unlisted) < maxUnlisted {
			s.unlisted[ss] = struct{}{}
		}
		s.unlistedMu.Unlock()
	}
}

// maxUnlisted bounds the connected devices an edge keeps retrying to add to the
// device list while its store is down; a device beyond it is listed when it
// next connects.
const maxUnlisted = 100_000

// addDevice adds ss's device to its account's list and bumps the account's
// version, so that every edge's cache sees it.
func (s *Server) addDevice(ctx context.Context, ss *session) error {
	if err := s.cfg.Devices.Touch(ctx, ss.account, ss.device, nil); err != nil {
		return err
	}
	if err := s.cfg.Versions.BumpAccount(ctx, ss.account); err != nil {
		return fmt.Errorf("announcing the new device: %w", err)
	}
	if s.cfg.RegionNews != nil {
		s.cfg.RegionNews.Changed(ss.account, "")
	}
	return nil
}

// relistMaxStreak is how many adds in a row may fail before a relist pass stops:
// the store then looks down, and trying every other device would only hold up
// the heartbeat, whose goroutine relist shares. The devices left wait for the
// next heartbeat.
const relistMaxStreak = 8

// relist retries adding the connected devices that the device list could not
// take when they connected (its store was down): until they are listed, their
// siblings' messages to them are refused as unknown_device. Devices that
// disconnected meanwhile are dropped; they are listed when they connect again.
//
// A device that fails for a reason of its own stays for the next pass and holds
// up no other: the pass goes on past it, and stops only after relistMaxStreak
// failures in a row or when it has taken a heartbeat interval. Devices are
// tried in the map's order, which differs from pass to pass, so those a
// stopped pass left are not always the same.
func (s *Server) relist() {
	s.unlistedMu.Lock()
	pending := make([]*session, 0, len(s.unlisted))
	for ss := range s.unlisted {
		pending = append(pending, ss)
	}
	s.unlistedMu.Unlock()
	if len(pending) == 0 {
		return
	}
	pass, cancelPass := context.WithTimeout(s.ctx, s.cfg.HeartbeatInterval)
	defer cancelPass()
	listed, failed, streak := 0, 0, 0
	for _, ss := range pending {
		if streak >= relistMaxStreak || pass.Err() != nil {
			break
		}
		ss.mu.Lock()
		closed := ss.closed
		ss.mu.Unlock()
		if !closed {
			ctx, cancel := context.WithTimeout(pass, s.cfg.RegistryTimeout)
			err := s.addDevice(ctx, ss)
			if err == nil {
				// Its persistent topics could not be read at connect either.
				s.applyDeviceTopics(ctx, ss)
			}
			cancel()
			if err != nil {
				failed++
				streak++
				continue // kept for the next pass
			}
			listed++
			streak = 0
		}
		s.unlistedMu.Lock()
		delete(s.unlisted, ss)
		s.unlistedMu.Unlock()
	}
	if listed > 0 {
		s.cfg.Logger.Info("added devices that connected while the device list was down", "devices", listed, "failed", failed)
	}
}

// hello applies a device's hello frame: its wish for presence frames, and its
// metadata, which is checked by the device list's rule (protocol.DeviceInfoProblem)
// before it reaches a sibling's presence frame or a store. Hellos take a token of
// the hello budget. It returns true when the connection must end.
func (s *Server) hello(ss *session, h *protocol.Hello) bool {
	if !ss.hellos.take(s.cfg.Now().UnixNano(), s.cfg.HelloRate, s.cfg.HelloBurst, 1) {
		s.met.overBudget[budgetHellos].Inc()
		return s.rateLimited(ss, "", "hello rate exceeded")
	}
	if field, reason := protocol.DeviceInfoProblem(h.Device); field != "" {
		return s.badFrame(ss, "", "device."+field+": "+reason, false, "bad_hello", "device."+field)
	}
	ss.rateHits = 0
	ss.mu.Lock()
	if h.Presence != nil {
		ss.presence = *h.Presence
	}
	if h.Device != nil {
		ss.platform = h.Device.Platform
	}
	ss.mu.Unlock()
	if h.Device != nil {
		info := *h.Device
		s.storeHello(ss, &info)
	}
	return false
}

// storeHello writes a hello's metadata to the device list off the reader. At
// most one write per session is in flight: hellos that arrive meanwhile replace
// the one waiting, so only the latest is written next, and a device sending
// hellos in a loop costs one goroutine and one store write at a time.
func (s *Server) storeHello(ss *session, info *protocol.DeviceInfo) {
	ss.mu.Lock()
	ss.helloNext = info
	if ss.helloBusy {
		ss.mu.Unlock()
		return
	}
	ss.helloBusy = true
	ss.mu.Unlock()
	// The reader holds a count on the WaitGroup, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			ss.mu.Lock()
			next := ss.helloNext
			ss.helloNext = nil
			if next == nil {
				ss.helloBusy = false
				ss.mu.Unlock()
				return
			}
			ss.mu.Unlock()
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
			err := s.cfg.Devices.Touch(ctx, ss.account, ss.device, next)
			cancel()
			if err != nil {
				if ok, suppressed := s.noisy.allow(noisyStore, time.Now()); ok {
					ss.log.Warn("storing hello metadata failed", "err", err, "suppressed", suppressed)
				}
			}
		}
	}()
}
