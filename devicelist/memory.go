package devicelist

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Memory is the same store in process memory (herald dev, tests of its users); identical semantics, no goroutines.
// It is safe for concurrent use. Seen applies at once, so SeenDropped is always 0.
type Memory struct {
	now func() time.Time // the clock; tests replace it

	mu       sync.RWMutex
	accounts map[string]map[string]*Device     // guarded by mu: account -> id -> device
	owners   map[string]map[string]struct{}    // guarded by mu: id -> accounts that have it
	topics   map[deviceKey]map[string]struct{} // guarded by mu: a device's persistent topics
}

// NewMemory returns an empty in-memory device list.
func NewMemory() *Memory {
	return &Memory{
		now:      time.Now,
		accounts: make(map[string]map[string]*Device),
		owners:   make(map[string]map[string]struct{}),
		topics:   make(map[deviceKey]map[string]struct{}),
	}
}

// Close does nothing; it is there so that Memory can stand in for [Postgres].
func (m *Memory) Close() {}

// ctxDone reports a done context as unavailable, as Postgres does; op names
// the operation and is only called then.
func ctxDone(ctx context.Context, op func() string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(op(), err)
	}
	return nil
}

// Put registers or updates a device (REST PUT): metadata replaced by d's (Account/ID from d; Created kept on update).
// Returns the stored device and whether it was created. LastSeen is kept;
// Created, Updated and LastSeen of d are ignored.
func (m *Memory) Put(ctx context.Context, d Device) (Device, bool, error) {
	if err := checkDevice(&d); err != nil {
		return Device{}, false, err
	}
	if err := ctxDone(ctx, func() string { return "put " + d.Account + "/" + d.ID }); err != nil {
		return Device{}, false, err
	}
	now := timestamp(m.now())
	d = normalize(d)
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.lookupLocked(d.Account, d.ID)
	created := prev == nil
	d.Created, d.Updated, d.LastSeen = now, now, time.Time{}
	if !created {
		d.Created, d.LastSeen = prev.Created, prev.LastSeen
	}
	m.storeLocked(&d)
	return cloneDevice(&d), created, nil
}

// Touch makes sure the device exists (a device appears in the list when it
// first connects); with info != nil also updates platform, name, app_version,
// capabilities from a hello frame (fields empty in info are left as they are).
// Sets last_seen to now (never moving it back). Updated moves only when the
// metadata changes.
func (m *Memory) Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error {
	if err := checkIDs(account, device); err != nil {
		return err
	}
	if err := checkHello(info); err != nil {
		return err
	}
	if err := ctxDone(ctx, func() string { return "touch " + account + "/" + device }); err != nil {
		return err
	}
	now := timestamp(m.now())
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.lookupLocked(account, device)
	if d == nil {
		d = &Device{Account: account, ID: device, Created: now, Updated: now}
		m.storeLocked(d)
	}
	if info != nil {
		merged := *d
		if info.Platform != "" {
			merged.Platform = info.Platform
		}
		if info.Name != "" {
			merged.Name = info.Name
		}
		if info.AppVersion != "" {
			merged.AppVersion = info.AppVersion
		}
		if len(info.Capabilities) > 0 {
			merged.Capabilities = slices.Clone(info.Capabilities)
		}
		if merged.Platform != d.Platform || merged.Name != d.Name || merged.AppVersion != d.AppVersion ||
			!slices.Equal(merged.Capabilities, d.Capabilities) {
			merged.Updated = now
		}
		*d = merged
	}
	if now.After(d.LastSeen) {
		d.LastSeen = now
	}
	return nil
}

// Get returns one device, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, account, device string) (Device, error) {
	if err := checkIDs(account, device); err != nil {
		return Device{}, err
	}
	if err := ctxDone(ctx, func() string { return "get " + account + "/" + device }); err != nil {
		return Device{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	d := m.lookupLocked(account, device)
	if d == nil {
		return Device{}, ErrNotFound
	}
	return cloneDevice(d), nil
}

// List returns the account's devices sorted by id; an empty slice (not nil) when none.
func (m *Memory) List(ctx context.Context, account string) ([]Device, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	if err := ctxDone(ctx, func() string { return "list " + account }); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	devs := m.accounts[account]
	list := make([]Device, 0, len(devs))
	for _, d := range devs {
		list = append(list, cloneDevice(d))
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, nil
}

// IDs returns the ids of the account's devices, sorted: the cheap call used for
// sibling resolution. An empty slice (not nil) when none.
func (m *Memory) IDs(ctx context.Context, account string) ([]string, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	if err := ctxDone(ctx, func() string { return "ids " + account }); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	devs := m.accounts[account]
	ids := make([]string, 0, len(devs))
	for id := range devs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Delete removes a device and reports whether it existed.
func (m *Memory) Delete(ctx context.Context, account, device string) (bool, error) {
	if err := checkIDs(account, device); err != nil {
		return false, err
	}
	if err := ctxDone(ctx, func() string { return "delete " + account + "/" + device }); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	devs := m.accounts[account]
	if _, ok := devs[device]; !ok {
		return false, nil
	}
	delete(devs, device)
	if len(devs) == 0 {
		delete(m.accounts, account)
	}
	delete(m.topics, deviceKey{account, device}) // the device's topics go with it
	delete(m.owners[device], account)
	if len(m.owners[device]) == 0 {
		delete(m.owners, device)
	}
	return true, nil
}

// Owners returns the accounts that have a device with this id, sorted (used to
// tell "forbidden: another account's device" from "unknown device"). An empty
// slice (not nil) when none.
func (m *Memory) Owners(ctx context.Context, device string) ([]string, error) {
	if err := checkID("id", device); err != nil {
		return nil, err
	}
	if err := ctxDone(ctx, func() string { return "owners " + device }); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	owners := make([]string, 0, len(m.owners[device]))
	for a := range m.owners[device] {
		owners = append(owners, a)
	}
	sort.Strings(owners)
	return owners, nil
}

// Seen records that the device was seen at t. It applies at once, never moves
// last_seen back, and ignores devices that are not in the list.
func (m *Memory) Seen(account, device string, t time.Time) {
	if t.IsZero() {
		return
	}
	t = timestamp(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.lookupLocked(account, device); d != nil && t.After(d.LastSeen) {
		d.LastSeen = t
	}
}

// SeenDropped is always 0: Memory has no buffer to overflow.
func (m *Memory) SeenDropped() uint64 { return 0 }

// lookupLocked returns the stored device or nil. The caller holds mu.
func (m *Memory) lookupLocked(account, device string) *Device {
	return m.accounts[account][device]
}

// storeLocked puts d in the list, replacing a device with the same ids. The
// caller holds mu for writing.
func (m *Memory) storeLocked(d *Device) {
	devs := m.accounts[d.Account]
	if devs == nil {
		devs = make(map[string]*Device)
		m.accounts[d.Account] = devs
	}
	devs[d.ID] = d
	accts := m.owners[d.ID]
	if accts == nil {
		accts = make(map[string]struct{})
		m.owners[d.ID] = accts
	}
	accts[d.Account] = struct{}{}
}

// cloneDevice copies d so that neither the caller nor the store sees the
// other's later changes.
func cloneDevice(d *Device) Device {
	c := *d
	c.Capabilities = cloneCapabilities(d.Capabilities)
	c.Attributes = cloneAttributes(d.Attributes)
	return c
}
