package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// registerScript replaces a device record and adds the device to its account's
// index in one step, returning the record it replaced (nil if none). The index
// lives as long as the newest record in it.
//
// KEYS: device record, account index. ARGV: record, TTL in ms, device, session.
var registerScript = newScript(`
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return old
`)

// unregisterScript deletes a device record and its index field only if the
// record still belongs to the session, and returns 1 if it did. A field left
// behind by a record that expired is dropped when its session matches.
//
// KEYS: device record, account index. ARGV: session, device.
var unregisterScript = newScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if string.match(cur, '^[^\n]*\n[^\n]*\n(.*)$') ~= ARGV[1] then
    return 0
  end
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 0
`)

// pruneScript drops index fields whose device record has expired, checking each
// record again so that a device registered meanwhile keeps its field.
//
// KEYS: account index, then the device records. ARGV: the devices, in order.
var pruneScript = newScript(`
local n = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i - 1])
  end
end
return n
`)

// Register records e as the device's registration, replacing any older one, and
// returns the entry it replaced (zero if none). The record expires after
// DeviceTTL. The account must be non-empty and free of '{' and '}' (it is the
// Redis Cluster hash tag), the device non-empty, and the edge free of newlines.
func (r *Redis) Register(ctx context.Context, account, device string, e Entry) (Entry, error) {
	switch {
	case account == "" || device == "":
		return Entry{}, fmt.Errorf("registry: register %s/%s: empty account or device", account, device)
	case !validAccount(account):
		return Entry{}, fmt.Errorf("registry: register %s/%s: account contains '{' or '}'", account, device)
	case strings.Contains(e.Edge, "\n"):
		return Entry{}, fmt.Errorf("registry: register %s/%s: edge %q contains a newline", account, device, e.Edge)
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	keys := []string{r.deviceKey(account, device), r.accountKey(account)}
	args := []string{encodeEntry(e), strconv.FormatInt(r.deviceTTL.Milliseconds(), 10), device, e.Session}
	old, err := r.exec(ctx, registerScript, keys, args).ToString()
	if rueidis.IsRedisNil(err) {
		return Entry{}, nil
	}
	if err != nil {
		return Entry{}, unavailable("register "+account+"/"+device, err)
	}
	prev, err := decodeEntry(old)
	if err != nil {
		// The new record is in place; only the old one cannot be reported.
		return Entry{}, unavailable("register "+account+"/"+device, err)
	}
	return prev, nil
}

// Unregister removes the device's registration only if it still belongs to
// session, and reports whether it did.
func (r *Redis) Unregister(ctx context.Context, account, device, session string) (bool, error) {
	if !validAccount(account) {
		return false, nil // never registered
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	keys := []string{r.deviceKey(account, device), r.accountKey(account)}
	n, err := r.exec(ctx, unregisterScript, keys, []string{session, device}).AsInt64()
	if err != nil {
		return false, unavailable("unregister "+account+"/"+device, err)
	}
	return n == 1, nil
}

// Lookup returns the device's registration, or ErrNotFound when it has none or
// its edge is not live (the phantom of an edge that crashed). Both reads are
// answered from the client-side cache when Redis has not reported a change.
func (r *Redis) Lookup(ctx context.Context, account, device string) (Entry, error) {
	return r.lookup(ctx, account, device, true)
}

// LookupFresh is Lookup with the device's record read from Redis itself, past
// the client-side cache: it sees every registration that completed before it
// began, where a cached answer may be older until Redis's invalidation
// arrives. The nudge that follows an inbox put needs that (edge/nudge.go).
// The edge's liveness is read through the cache: it changes slowly.
func (r *Redis) LookupFresh(ctx context.Context, account, device string) (Entry, error) {
	return r.lookup(ctx, account, device, false)
}

// lookup is Lookup, with the device's record read through the cache or not.
func (r *Redis) lookup(ctx context.Context, account, device string, cached bool) (Entry, error) {
	if !validAccount(account) {
		return Entry{}, ErrNotFound // never registered
	}
	r.lookups.Add(1)
	ctx, b := r.lazyBound(ctx)
	defer b.release()
	var res rueidis.RedisResult
	if cached {
		res = r.client.DoCache(ctx, r.client.B().Get().Key(r.deviceKey(account, device)).Cache(), r.cacheTTL)
	} else {
		res = r.client.Do(ctx, r.client.B().Get().Key(r.deviceKey(account, device)).Build())
	}
	raw, err := res.ToString()
	if rueidis.IsRedisNil(err) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, unavailable("lookup "+account+"/"+device, err)
	}
	e, err := decodeEntry(raw)
	if err != nil {
		return Entry{}, unavailable("lookup "+account+"/"+device, err)
	}
	edge := r.client.DoCache(ctx, r.client.B().Get().Key(r.edgeKeyOf(e.Edge)).Cache(), r.cacheTTL)
	if err := edge.Error(); rueidis.IsRedisNil(err) {
		return Entry{}, ErrNotFound
	} else if err != nil {
		return Entry{}, unavailable("lookup "+account+"/"+device+": edge "+e.Edge, err)
	}
	if res.IsCacheHit() && edge.IsCacheHit() {
		r.lookupHits.Add(1)
	}
	return e, nil
}

// Connected returns the devices of an account registered on a live edge, sorted
// by id. It reads the account index, the devices' records and their edges'
// liveness, each through the client-side cache, and drops index fields whose
// record has expired.
func (r *Redis) Connected(ctx context.Context, account string) ([]string, error) {
	if !validAccount(account) {
		return []string{}, nil // never registered
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	op := func() string { return "connected " + account }
	devices, err := r.client.DoCache(ctx, r.client.B().Hkeys().Key(r.accountKey(account)).Cache(), r.cacheTTL).AsStrSlice()
	if err != nil {
		return nil, unavailable(op(), err)
	}
	if len(devices) == 0 {
		return []string{}, nil
	}

	reads := make([]rueidis.CacheableTTL, len(devices))
	for i, d := range devices {
		reads[i] = rueidis.CT(r.client.B().Get().Key(r.deviceKey(account, d)).Cache(), r.cacheTTL)
	}
	records := r.client.DoMultiCache(ctx, reads...)
	edgeOf := make([]string, len(devices))
	present := make([]bool, len(devices)) // false where the record has expired
	var edges []string                    // distinct edges, in first-seen order
	seen := make(map[string]bool)
	var expired []string
	for i, res := range records {
		raw, err := res.ToString()
		if rueidis.IsRedisNil(err) {
			expired = append(expired, devices[i])
			continue
		}
		if err != nil {
			return nil, unavailable(op(), err)
		}
		e, err := decodeEntry(raw)
		if err != nil {
			return nil, unavailable(op()+": device "+devices[i], err)
		}
		edgeOf[i], present[i] = e.Edge, true
		if !seen[e.Edge] {
			seen[e.Edge] = true
			edges = append(edges, e.Edge)
		}
	}

	live, err := r.edgesLive(ctx, edges)
	if err != nil {
		return nil, unavailable(op(), err)
	}
	out := make([]string, 0, len(devices))
	for i, d := range devices {
		if present[i] && live[edgeOf[i]] {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	if len(expired) > 0 {
		r.prune(ctx, account, expired)
	}
	return out, nil
}

// validAccount reports whether account can be registered: it is the hash tag of
// its keys, which a brace would cut short, letting two accounts' keys collide.
func validAccount(account string) bool {
	return account != "" && !strings.ContainsAny(account, "{}")
}

// edgesLive reports which of edges have a live liveness key, in one round trip
// for the keys not already cached.
func (r *Redis) edgesLive(ctx context.Context, edges []string) (map[string]bool, error) {
	live := make(map[string]bool, len(edges))
	if len(edges) == 0 {
		return live, nil
	}
	reads := make([]rueidis.CacheableTTL, len(edges))
	for i, e := range edges {
		reads[i] = rueidis.CT(r.client.B().Get().Key(r.edgeKey(e)).Cache(), r.cacheTTL)
	}
	for i, res := range r.client.DoMultiCache(ctx, reads...) {
		err := res.Error()
		if err != nil && !rueidis.IsRedisNil(err) {
			return nil, fmt.Errorf("edge %s: %w", edges[i], err)
		}
		live[edges[i]] = err == nil
	}
	return live, nil
}

// prune drops the index fields of devices whose records have expired. It is
// tidying only: Connected never lists such devices, and a failure here leaves
// the fields for the next call or for the index's own expiry.
func (r *Redis) prune(ctx context.Context, account string, devices []string) {
	keys := make([]string, 0, len(devices)+1)
	keys = append(keys, r.accountKey(account))
	for _, d := range devices {
		keys = append(keys, r.deviceKey(account, d))
	}
	_ = r.exec(ctx, pruneScript, keys, devices).Error()
}
