package registry

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// Heartbeat marks the edge live at its internal address addr for EdgeTTL; an
// edge calls it well within EdgeTTL. fresh reports that the liveness key did not
// exist before: the first beat, a beat after the key expired, or Redis having
// lost its data. A fresh edge registers its connected devices again, since
// their records may be gone or their lookups may have been failing. In a Redis
// Cluster, a beat is fresh too when the cluster's masters changed since the
// previous one: a failover may have lost records (redis_failover.go).
func (r *Redis) Heartbeat(ctx context.Context, edge, addr string) (fresh bool, err error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	// SET ... GET (Redis 6.2) returns the old value: nil when the key was absent.
	key := r.edgeKey(edge)
	err = r.write(ctx, r.client.B().Set().Key(key).Value(addr).Get().Px(r.edgeTTL).Build(), key).Error()
	if err != nil && !rueidis.IsRedisNil(err) {
		return false, unavailable("heartbeat "+edge, err)
	}
	if err := r.indexEdge(ctx, edge, time.Now()); err != nil {
		return false, unavailable("heartbeat "+edge, err)
	}
	failedOver := r.mastersChanged(ctx, edge)
	return rueidis.IsRedisNil(err) || failedOver, nil
}

// EdgeAddr returns the internal address of a live edge, or ErrNotFound when the
// edge is not live. It is answered from the client-side cache when Redis has not
// reported a change.
func (r *Redis) EdgeAddr(ctx context.Context, edge string) (string, error) {
	ctx, b := r.lazyBound(ctx)
	defer b.release()
	addr, err := r.client.DoCache(ctx, r.client.B().Get().Key(r.edgeKeyOf(edge)).Cache(), r.cacheTTL).ToString()
	if rueidis.IsRedisNil(err) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", unavailable("edge address "+edge, err)
	}
	return addr, nil
}

// RemoveEdge ends the edge's liveness at once, as on a clean shutdown: its
// devices count as offline everywhere as soon as Redis invalidates the cached
// liveness key.
func (r *Redis) RemoveEdge(ctx context.Context, edge string) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	key := r.edgeKey(edge)
	if err := r.write(ctx, r.client.B().Del().Key(key).Build(), key).Error(); err != nil {
		return unavailable("remove edge "+edge, err)
	}
	idx := r.edgesKey()
	if err := r.write(ctx, r.client.B().Zrem().Key(idx).Member(edge).Build(), idx).Error(); err != nil {
		return unavailable("remove edge "+edge, err)
	}
	return nil
}
