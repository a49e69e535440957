package registry

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// A Redis Cluster failover loses the writes the dead master had not yet passed
// to its replica (replication is asynchronous): device records and topic
// memberships among them. The edge's heartbeat makes them again only when it
// reports fresh, which the edge key alone says only if it was on the dead
// master too. So, in a cluster, every heartbeat also reads which nodes hold
// slots as masters; when that set changed since the previous beat (a replica
// was promoted, or a master added), the beat reports fresh and the edge
// registers its devices and topics again: one pass per edge per failover.

// masterSet returns the sorted IDs of the cluster's nodes that hold slots as
// masters, failed or not, from CLUSTER NODES of whichever node answers; ok is
// false outside a cluster or when the call fails.
func (r *Redis) masterSet(ctx context.Context) (set string, ok bool) {
	if r.client.Mode() != rueidis.ClientModeCluster {
		return "", false
	}
	nodes, err := r.client.Do(ctx, r.client.B().ClusterNodes().Build()).ToString()
	if err != nil {
		return "", false
	}
	return parseMasterSet(nodes), true
}

// parseMasterSet reads the IDs of the masters that hold slots from the
// output of CLUSTER NODES: id addr flags master ping pong epoch link slot...
// Over RESP3 the output is a verbatim string, which rueidis gives with its
// format, "txt:", in front of the first line.
func parseMasterSet(nodes string) string {
	var ids []string
	for _, line := range strings.Split(strings.TrimPrefix(nodes, "txt:"), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !slices.Contains(strings.Split(f[2], ","), "master") {
			continue
		}
		ids = append(ids, f[0])
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// mastersChanged records the cluster's current set of masters as seen by
// edge's heartbeats and reports whether it differs from the one its previous
// beat recorded. An edge's first beat, and a beat that cannot read the set,
// report false.
func (r *Redis) mastersChanged(ctx context.Context, edge string) bool {
	set, ok := r.masterSet(ctx)
	if !ok {
		return false
	}
	r.mastersMu.Lock()
	defer r.mastersMu.Unlock()
	if r.masters == nil {
		r.masters = make(map[string]string)
	}
	prev := r.masters[edge]
	r.masters[edge] = set
	return prev != "" && prev != set
}

// ClusterNodeTimeout returns the cluster-node-timeout of the Redis Cluster
// (CONFIG GET on whichever node answers): how long a master may be
// unreachable before its replica is promoted, during which the slots it held
// answer nothing. ok is false outside a cluster, or when the server does not
// allow CONFIG (as some managed services do not).
func (r *Redis) ClusterNodeTimeout(ctx context.Context) (d time.Duration, ok bool) {
	if r.client.Mode() != rueidis.ClientModeCluster {
		return 0, false
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	res := r.client.Do(ctx, r.client.B().ConfigGet().Parameter("cluster-node-timeout").Build())
	v := ""
	if m, err := res.AsStrMap(); err == nil {
		v = m["cluster-node-timeout"]
	} else if s, err := res.AsStrSlice(); err == nil && len(s) == 2 {
		v = s[1]
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
