package registry

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// MaxEdges bounds the edges that Edges returns: a listing for operators, far
// above any one region's edge count, so that a key filled by mistake cannot
// make it unbounded.
const MaxEdges = 4096

// edgesForgetAfter is how many EdgeTTLs an edge stays in the Redis edge index
// after its last heartbeat before Edges forgets it: long enough that a clock
// skew between processes never drops a live edge, short enough that the index
// does not grow with every edge that ever ran.
const edgesForgetAfter = 20

// Edges returns the ids of the live edges, sorted: those whose liveness key
// has not expired nor been removed. It is for operators (the admin API's
// fleet), not for routing: a call reads the index of edges and each edge's
// liveness key.
func (m *Memory) Edges(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var ids []string
	for id, e := range m.edges {
		if now.Before(e.expires) && len(ids) < MaxEdges {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// edgesKey is the index of the edges: a sorted set of edge id -> the Unix
// milliseconds of its last heartbeat. The liveness keys stay the truth; the
// index only says which keys to read.
func (r *Redis) edgesKey() string {
	return r.prefix + "edges"
}

// indexEdge records the edge in the index of edges, beside its liveness key.
// The index expires edgesForgetAfter EdgeTTLs after the last heartbeat of any
// edge, as every key of the registry expires.
func (r *Redis) indexEdge(ctx context.Context, edge string, now time.Time) error {
	key := r.edgesKey()
	for _, res := range r.client.DoMulti(ctx,
		r.client.B().Zadd().Key(key).ScoreMember().ScoreMember(float64(now.UnixMilli()), edge).Build(),
		r.client.B().Pexpire().Key(key).Milliseconds(int64(edgesForgetAfter*r.edgeTTL/time.Millisecond)).Build(),
	) {
		if err := res.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Edges returns the ids of the live edges, sorted: the edges of the index
// whose liveness key exists. Index entries older than edgesForgetAfter
// EdgeTTLs are removed on the way.
func (r *Redis) Edges(ctx context.Context) ([]string, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	key := r.edgesKey()
	stale := time.Now().Add(-edgesForgetAfter * r.edgeTTL).UnixMilli()
	if err := r.write(ctx, r.client.B().Zremrangebyscore().Key(key).Min("-inf").Max("("+strconv.FormatInt(stale, 10)).Build(), key).Error(); err != nil {
		return nil, unavailable("edges", err)
	}
	ids, err := r.client.Do(ctx, r.client.B().Zrange().Key(key).Min("0").Max(strconv.Itoa(MaxEdges-1)).Build()).AsStrSlice()
	if err != nil {
		return nil, unavailable("edges", err)
	}
	live := ids[:0]
	for _, id := range ids {
		n, err := r.client.Do(ctx, r.client.B().Exists().Key(r.edgeKey(id)).Build()).AsInt64()
		if err != nil {
			return nil, unavailable("edges", err)
		}
		if n == 1 {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	return live, nil
}
