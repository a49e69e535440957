package registry

import (
	"context"

	"github.com/redis/rueidis"
)

// Account versions let every process cache an account's device list and notice a
// change within one Redis invalidation: whoever changes the list bumps the
// account's version, and readers compare the version they cached the list under
// with the current one, read through client-side caching (about a microsecond when
// nothing changed).

// versionKey is the key of an account's device-list version; it shares the
// account's hash tag.
func (r *Redis) versionKey(account string) string {
	return r.prefix + "ver:{" + account + "}"
}

// AccountVersion returns the version of the account's device list: 0 until the
// first BumpAccount. Repeated reads are answered from the client-side cache.
func (r *Redis) AccountVersion(ctx context.Context, account string) (int64, error) {
	if !validAccount(account) {
		return 0, nil
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	v, err := r.client.DoCache(ctx, r.client.B().Get().Key(r.versionKey(account)).Cache(), r.cacheTTL).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("account version "+account, err)
	}
	return v, nil
}

// BumpAccount records a change of the account's device list, so that every cached
// copy is reloaded.
func (r *Redis) BumpAccount(ctx context.Context, account string) error {
	if !validAccount(account) {
		return nil
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	key := r.versionKey(account)
	if err := r.write(ctx, r.client.B().Incr().Key(key).Build(), key).Error(); err != nil {
		return unavailable("bump account "+account, err)
	}
	return nil
}

// AccountVersion returns the version of the account's device list.
func (m *Memory) AccountVersion(ctx context.Context, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.versions[account], nil
}

// BumpAccount records a change of the account's device list.
func (m *Memory) BumpAccount(ctx context.Context, account string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions[account]++
	return nil
}
