package registry

import (
	"context"
	"sort"
	"sync"
)

// Memory is a registry held in process memory. It is safe for concurrent use. It
// serves one process only: several edges share it only when they run in the same
// process (as in `herald dev` and tests).
type Memory struct {
	mu       sync.RWMutex
	accounts map[string]map[string]Entry // guarded by mu: account -> device -> entry
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory {
	return &Memory{accounts: make(map[string]map[string]Entry)}
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

// Lookup returns the device's registration, or ErrNotFound.
func (m *Memory) Lookup(ctx context.Context, account, device string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.accounts[account][device]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// Connected returns the registered devices of an account, sorted by id.
func (m *Memory) Connected(ctx context.Context, account string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	devs := make([]string, 0, len(m.accounts[account]))
	for d := range m.accounts[account] {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	return devs, nil
}
