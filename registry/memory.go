package registry

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemoryConfig configures a [Memory] registry. The zero value is valid.
type MemoryConfig struct {
	// EdgeTTL is how long an edge stays live after its last [Memory.Heartbeat].
	// Default [DefaultEdgeTTL].
	EdgeTTL time.Duration
	// TopicTTL is how long a topic's entry lives after its last AddTopic or
	// AddTopics, as in [Redis]. Default [DefaultTopicTTL].
	TopicTTL time.Duration
}

// Memory is a registry held in process memory. It is safe for concurrent use. It
// serves one process only: several edges share it only when they run in the same
// process (as in `herald dev` and tests).
//
// Edge liveness follows [Redis] with one difference, so that single-process use
// needs no heartbeats: a device on an edge that never heartbeated counts as live.
// Once an edge has heartbeated, its devices count as offline from the moment its
// heartbeat expires or it is removed, as they do in Redis.
type Memory struct {
	edgeTTL  time.Duration
	topicTTL time.Duration

	mu       sync.RWMutex
	accounts map[string]map[string]Entry // guarded by mu: account -> device -> entry
	edges    map[string]memoryEdge       // guarded by mu: edges that ever heartbeated
	versions map[string]int64            // guarded by mu: device-list version per account
	topics   map[string]*memoryTopic     // guarded by mu: topic -> edges with subscribers
}

// memoryEdge is an edge's address and the end of its liveness; a removed edge
// has a zero expiry.
type memoryEdge struct {
	addr    string
	expires time.Time
}

// NewMemory returns an empty in-memory registry with the default [MemoryConfig].
func NewMemory() *Memory {
	return NewMemoryWith(MemoryConfig{})
}

// NewMemoryWith returns an empty in-memory registry configured by cfg; zero
// fields take their defaults.
func NewMemoryWith(cfg MemoryConfig) *Memory {
	if cfg.EdgeTTL <= 0 {
		cfg.EdgeTTL = DefaultEdgeTTL
	}
	if cfg.TopicTTL <= 0 {
		cfg.TopicTTL = DefaultTopicTTL
	}
	return &Memory{
		edgeTTL:  cfg.EdgeTTL,
		topicTTL: cfg.TopicTTL,
		accounts: make(map[string]map[string]Entry),
		edges:    make(map[string]memoryEdge),
		versions: make(map[string]int64),
		topics:   make(map[string]*memoryTopic),
	}
}

// Register records e as the device's registration, replacing any older one, and
// returns the entry it replaced (zero if none).
func (m *Memory) Register(ctx context.Context, account, device string, e Entry) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	devs := m.accounts[account]
	if devs == nil {
		devs = make(map[string]Entry)
		m.accounts[account] = devs
	}
	prev := devs[device]
	devs[device] = e
	return prev, nil
}

// Unregister removes the device's registration only if it still belongs to
// session, and reports whether it did.
func (m *Memory) Unregister(ctx context.Context, account, device, session string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	devs := m.accounts[account]
	if e, ok := devs[device]; !ok || e.Session != session {
		return false, nil
	}
	delete(devs, device)
	if len(devs) == 0 {
		delete(m.accounts, account)
	}
	return true, nil
}

// Lookup returns the device's registration, or ErrNotFound when it has none or
// its edge's heartbeat has expired.
func (m *Memory) Lookup(ctx context.Context, account, device string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.accounts[account][device]
	if !ok || !m.edgeLiveLocked(e.Edge, now) {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// Connected returns the devices of an account registered on a live edge, sorted
// by id.
func (m *Memory) Connected(ctx context.Context, account string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	devs := make([]string, 0, len(m.accounts[account]))
	for d, e := range m.accounts[account] {
		if m.edgeLiveLocked(e.Edge, now) {
			devs = append(devs, d)
		}
	}
	sort.Strings(devs)
	return devs, nil
}

// Heartbeat marks the edge live at addr for the configured EdgeTTL. fresh reports
// that the edge was not live before (first beat, expired or removed), so the edge
// knows to register its devices again.
func (m *Memory) Heartbeat(ctx context.Context, edge, addr string) (fresh bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.edges[edge]
	fresh = !ok || !now.Before(prev.expires)
	m.edges[edge] = memoryEdge{addr: addr, expires: now.Add(m.edgeTTL)}
	return fresh, nil
}

// EdgeAddr returns the internal address of a live edge, or ErrNotFound when the
// edge is not live. An edge that never heartbeated has no address.
func (m *Memory) EdgeAddr(ctx context.Context, edge string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.edges[edge]
	if !ok || !now.Before(e.expires) {
		return "", ErrNotFound
	}
	return e.addr, nil
}

// RemoveEdge ends the edge's liveness at once, as on a clean shutdown: its
// devices count as offline until it heartbeats again.
func (m *Memory) RemoveEdge(ctx context.Context, edge string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edges[edge] = memoryEdge{}
	return nil
}

// edgeLiveLocked reports whether devices on edge count as live at now: the edge
// never heartbeated, or its heartbeat has not expired. The caller holds mu.
func (m *Memory) edgeLiveLocked(edge string, now time.Time) bool {
	e, ok := m.edges[edge]
	return !ok || now.Before(e.expires)
}
