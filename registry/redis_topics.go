package registry

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// addTopicScript records an edge's membership of a topic with a new stamp and
// keeps the topic's key for TopicTTL.
//
// KEYS: topic. ARGV: edge, stamp, TTL in ms.
var addTopicScript = newScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// pruneTopicScript drops the memberships of dead edges only if each still has
// the stamp it was read with: an edge that came back and added the topic again
// meanwhile wrote a new stamp, and keeps its membership.
//
// KEYS: topic. ARGV: edge, stamp, edge, stamp, ...
var pruneTopicScript = newScript(`
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
`)

// addTopicsBatch is how many topics AddTopics sends in one round trip, each
// batch under its own Timeout.
const addTopicsBatch = 256

// nextStamp returns a stamp for a membership written by this process, larger
// than any before it, so that an edge's new membership never carries the stamp
// of its old one, even if the clock steps back.
func (r *Redis) nextStamp() string {
	for {
		last := r.lastStamp.Load()
		now := time.Now().UnixNano()
		if now <= last {
			now = last + 1
		}
		if r.lastStamp.CompareAndSwap(last, now) {
			return strconv.FormatInt(now, 36)
		}
	}
}

// AddTopic records that edge has at least one subscriber of topic: the edge
// calls it when the topic's first local subscriber arrives. It sets the
// topic's key to expire TopicTTL later. A process sees its own add in
// TopicEdges at once.
func (r *Redis) AddTopic(ctx context.Context, topic, edge string) error {
	if err := topicMembership("add topic", topic, edge); err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	args := []string{edge, r.nextStamp(), strconv.FormatInt(r.topicTTL.Milliseconds(), 10)}
	if err := r.exec(ctx, addTopicScript, []string{r.topicKey(topic)}, args).Error(); err != nil {
		return unavailable("add topic "+topic+" of edge "+edge, err)
	}
	return nil
}

// AddTopics is AddTopic for each of topics: an edge calls it with all its
// topics when Heartbeat reports fresh and every TopicTTL/4, which keeps its
// memberships and their keys alive. The topics go in batches of 256, each one
// round trip of separate single-key commands (so Redis Cluster takes them
// whatever their slots) under its own Timeout. An invalid topic fails the call
// before anything is sent; after a failure some topics may be added and others
// not, and the edge tries all of them again.
func (r *Redis) AddTopics(ctx context.Context, edge string, topics []string) error {
	if err := topicsMembership("add topics", edge, topics); err != nil {
		return err
	}
	ttl := strconv.FormatInt(r.topicTTL.Milliseconds(), 10)
	total := len(topics)
	for len(topics) > 0 {
		n := min(len(topics), addTopicsBatch)
		if err := r.addTopicsBatch(ctx, edge, topics[:n], ttl); err != nil {
			return unavailable("add "+strconv.Itoa(total)+" topics of edge "+edge, err)
		}
		topics = topics[n:]
	}
	return nil
}

// addTopicsBatch runs addTopicScript for each of topics in one round trip,
// each followed by the barrier of write, and runs again with EVAL those that
// Redis no longer had the script for.
func (r *Redis) addTopicsBatch(ctx context.Context, edge string, topics []string, ttl string) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	b := r.client.B()
	build := func(topics []string, eval bool) []rueidis.Completed {
		cmds := make([]rueidis.Completed, 0, 2*len(topics))
		for _, t := range topics {
			key := r.topicKey(t)
			if eval {
				cmds = append(cmds, b.Eval().Script(addTopicScript.src).Numkeys(1).Key(key).Arg(edge, r.nextStamp(), ttl).Build())
			} else {
				cmds = append(cmds, b.Evalsha().Sha1(addTopicScript.sha).Numkeys(1).Key(key).Arg(edge, r.nextStamp(), ttl).Build())
			}
			cmds = append(cmds, b.Pttl().Key(key).Build())
		}
		return cmds
	}
	var again []string // topics whose EVALSHA found no script
	for i, res := range r.client.DoMulti(ctx, build(topics, false)...) {
		if i%2 == 1 {
			continue // a barrier
		}
		err := res.Error()
		if e, ok := rueidis.IsRedisErr(err); ok && e.IsNoScript() {
			again = append(again, topics[i/2])
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(again) == 0 {
		return nil
	}
	for i, res := range r.client.DoMulti(ctx, build(again, true)...) {
		if err := res.Error(); i%2 == 0 && err != nil {
			return err
		}
	}
	return nil
}

// RemoveTopic records that edge has no subscriber of topic left: the edge
// calls it when the topic's last local subscriber leaves. A process sees its
// own removal in TopicEdges at once.
func (r *Redis) RemoveTopic(ctx context.Context, topic, edge string) error {
	if err := topicMembership("remove topic", topic, edge); err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	key := r.topicKey(topic)
	if err := r.write(ctx, r.client.B().Hdel().Key(key).Field(edge).Build(), key).Error(); err != nil {
		return unavailable("remove topic "+topic+" of edge "+edge, err)
	}
	return nil
}

// TopicEdges returns the live edges with subscribers of topic, sorted: a
// publish sends one link frame to each. It reads the topic's key and the
// edges' liveness keys through the client-side cache, so a repeated call is
// answered from process memory until Redis reports a change. The memberships
// of edges whose liveness key is gone are dropped (see pruneTopic).
func (r *Redis) TopicEdges(ctx context.Context, topic string) ([]string, error) {
	if err := topicName("topic edges", topic); err != nil {
		return nil, err
	}
	r.topicReads.Add(1)
	ctx, b := r.lazyBound(ctx)
	defer b.release()
	res := r.client.DoCache(ctx, r.client.B().Hgetall().Key(r.topicKey(topic)).Cache(), r.cacheTTL)
	stamps, err := res.AsStrMap()
	if err != nil {
		return nil, unavailable("topic edges "+topic, err)
	}
	if len(stamps) == 0 {
		if res.IsCacheHit() {
			r.topicHits.Add(1)
		}
		return []string{}, nil
	}
	reads := make([]rueidis.CacheableTTL, 0, len(stamps))
	edges := make([]string, 0, len(stamps))
	for e := range stamps {
		edges = append(edges, e)
		reads = append(reads, rueidis.CT(r.client.B().Get().Key(r.edgeKeyOf(e)).Cache(), r.cacheTTL))
	}
	out := make([]string, 0, len(edges))
	var dead []string
	hit := res.IsCacheHit()
	for i, live := range r.client.DoMultiCache(ctx, reads...) {
		err := live.Error()
		switch {
		case err == nil:
			out = append(out, edges[i])
		case rueidis.IsRedisNil(err):
			dead = append(dead, edges[i])
		default:
			return nil, unavailable("topic edges "+topic+": edge "+edges[i], err)
		}
		hit = hit && live.IsCacheHit()
	}
	if hit {
		r.topicHits.Add(1)
	}
	sort.Strings(out)
	if len(dead) > 0 {
		r.pruneTopic(ctx, topic, dead, stamps)
	}
	return out, nil
}

// pruneTopic drops the memberships of topic held by dead edges, as Connected
// drops the index fields of expired records. It is tidying only: TopicEdges
// never lists a dead edge, and a failure leaves the memberships for the next
// call or the key's expiry. The edges' liveness keys are read again past the
// cache, after the memberships were read, and a membership is dropped only if
// its stamp is still the one read: an edge that has come back (a fresh
// heartbeat) and added the topic again wrote a new stamp, and one that comes
// back later adds its topics again itself. The liveness keys are in other
// slots than the topic's key, so no one script can check both.
func (r *Redis) pruneTopic(ctx context.Context, topic string, dead []string, stamps map[string]string) {
	cmds := make([]rueidis.Completed, len(dead))
	for i, e := range dead {
		cmds[i] = r.client.B().Exists().Key(r.edgeKey(e)).Build()
	}
	args := make([]string, 0, 2*len(dead))
	for i, res := range r.client.DoMulti(ctx, cmds...) {
		n, err := res.AsInt64()
		if err != nil {
			return
		}
		if n == 0 {
			args = append(args, dead[i], stamps[dead[i]])
		}
	}
	if len(args) > 0 {
		_ = r.exec(ctx, pruneTopicScript, []string{r.topicKey(topic)}, args).Error()
	}
}

// TopicStats reports how many TopicEdges calls there were and how many of them
// were answered entirely from the client-side cache, for metrics.
func (r *Redis) TopicStats() (reads, cacheHits uint64) {
	return r.topicReads.Load(), r.topicHits.Load()
}
