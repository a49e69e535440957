package edge

import (
	"context"
	"errors"
	"slices"
	"sync"

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
	versions Versions
	max      int

	mu      sync.Mutex
	entries map[string]*deviceEntry // guarded by mu
}

type deviceEntry struct {
	version int64
	ids     []string // sorted
}

func newDeviceCache(list DeviceList, versions Versions, max int) *deviceCache {
	return &deviceCache{list: list, versions: versions, max: max, entries: make(map[string]*deviceEntry)}
}

// ids returns the account's devices, sorted.
func (c *deviceCache) ids(ctx context.Context, account string) ([]string, error) {
	v, verr := c.versions.AccountVersion(ctx, account)
	c.mu.Lock()
	e := c.entries[account]
	c.mu.Unlock()
	if e != nil && (verr != nil || e.version == v) {
		return e.ids, nil
	}
	ids, err := c.list.IDs(ctx, account)
	if err != nil {
		if e != nil {
			return e.ids, nil // stale beats nothing while the store is down
		}
		return nil, errors.Join(errDevicesUnavailable, err)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if verr == nil {
		c.mu.Lock()
		if len(c.entries) >= c.max {
			for k := range c.entries { // evict an arbitrary entry
				delete(c.entries, k)
				break
			}
		}
		c.entries[account] = &deviceEntry{version: v, ids: ids}
		c.mu.Unlock()
	}
	return ids, nil
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
	ids, err := s.devices.ids(ctx, ss.account)
	if err == nil && has(ids, ss.device) {
		s.cfg.Devices.Seen(ss.account, ss.device, s.cfg.Now())
		return
	}
	if err := s.cfg.Devices.Touch(ctx, ss.account, ss.device, nil); err != nil {
		ss.log.Warn("adding the device to the device list failed", "err", err)
		return
	}
	if err := s.cfg.Versions.BumpAccount(ctx, ss.account); err != nil {
		ss.log.Warn("announcing the new device failed", "err", err)
	}
}

// hello stores a device's metadata from its hello frame.
func (s *Server) hello(ss *session, h *protocol.Hello) {
	if h.Presence != nil {
		ss.mu.Lock()
		ss.presence = *h.Presence
		ss.mu.Unlock()
	}
	if h.Device == nil {
		return
	}
	ss.mu.Lock()
	ss.platform = h.Device.Platform
	ss.mu.Unlock()
	info := *h.Device
	// The store write runs off the reader, owned by the server.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		defer cancel()
		if err := s.cfg.Devices.Touch(ctx, ss.account, ss.device, &info); err != nil {
			ss.log.Warn("storing hello metadata failed", "err", err)
		}
	}()
}
