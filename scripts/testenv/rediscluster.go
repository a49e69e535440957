package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCluster is a private Redis Cluster of several masters, each with its
// replicas, made of redis-server processes on loopback ports. The slots are
// split evenly across the masters. A node can be stopped and started like any
// [RedisServer]; [RedisCluster.KillMaster] kills a master and waits for one of
// its replicas to take its slots.
type RedisCluster struct {
	// Masters are the nodes that held the slots at start, in slot order.
	Masters []*RedisServer
	// Replicas are the replicas at start: Replicas[i*r:(i+1)*r] replicate
	// Masters[i], r being ClusterOptions.Replicas.
	Replicas []*RedisServer

	tb  testing.TB
	ids map[*RedisServer]string // node IDs; fixed for a node's life
}

// ClusterOptions are the shape of a [RedisCluster].
type ClusterOptions struct {
	// Masters is the number of masters; at least 1 (3 when zero).
	Masters int
	// Replicas is the number of replicas of each master.
	Replicas int
}

// StartRedisCluster starts a Redis Cluster of opts.Masters masters with
// opts.Replicas replicas each and waits until every node reports
// cluster_state:ok and knows every other node; it is stopped in tb.Cleanup.
// Without redis-server on the PATH: tb.Fatal when CI=true, tb.Skip otherwise.
// The nodes have a cluster-node-timeout of one second, so that a killed
// master's replica is promoted within a few seconds.
func StartRedisCluster(tb testing.TB, opts ClusterOptions) *RedisCluster {
	tb.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(tb, "redis-server", "redis-server is not installed (make test installs it)")
	}
	c := &RedisCluster{tb: tb, ids: map[*RedisServer]string{}}
	for i := 0; i < opts.Masters*(1+opts.Replicas); i++ {
		_, bus, _ := net.SplitHostPort(freeAddr(tb))
		r := &RedisServer{Addr: freeAddr(tb), busPort: bus, tb: tb, bin: bin, dir: tb.TempDir(),
			opts: RedisOptions{Cluster: true, member: true}}
		r.Start()
		tb.Cleanup(r.Stop)
		id, err := r.do("CLUSTER", "MYID")
		if err != nil {
			tb.Fatalf("redis-server on %s: CLUSTER MYID: %v", r.Addr, err)
		}
		c.ids[r] = id
		if i < opts.Masters {
			c.Masters = append(c.Masters, r)
		} else {
			c.Replicas = append(c.Replicas, r)
		}
	}
	nodes := c.Nodes()
	for i, m := range c.Masters {
		lo, hi := 16384*i/opts.Masters, 16384*(i+1)/opts.Masters-1
		c.must(m, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}
	for _, n := range nodes[1:] {
		host, port, _ := net.SplitHostPort(n.Addr)
		c.must(nodes[0], "CLUSTER", "MEET", host, port, n.busPort)
	}
	// A replica can only follow a master it knows.
	c.waitAll("every node knows every other", func(n *RedisServer) error {
		return c.knowsAll(n, "")
	})
	for i, r := range c.Replicas {
		c.must(r, "CLUSTER", "REPLICATE", c.ids[c.Masters[i/opts.Replicas]])
	}
	c.waitAll("cluster_state:ok with every replica known and in sync", func(n *RedisServer) error {
		if err := c.knowsAll(n, "slave"); err != nil {
			return err
		}
		info, err := n.do("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("CLUSTER INFO: %v\n%s", err, info)
		}
		if repl, err := n.do("INFO", "replication"); err != nil ||
			strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("INFO replication: %v\n%s", err, repl)
		}
		return nil
	})
	return c
}

// Nodes returns every node: the masters, then the replicas.
func (c *RedisCluster) Nodes() []*RedisServer {
	return append(append([]*RedisServer(nil), c.Masters...), c.Replicas...)
}

// Addrs returns the addresses of every node, masters first: seeds for a
// client.
func (c *RedisCluster) Addrs() []string {
	var addrs []string
	for _, n := range c.Nodes() {
		addrs = append(addrs, n.Addr)
	}
	return addrs
}

// ID returns the cluster node ID of n.
func (c *RedisCluster) ID(n *RedisServer) string { return c.ids[n] }

// Do sends one command to node n and returns its reply: a status, an integer
// or a bulk string.
func (c *RedisCluster) Do(n *RedisServer, args ...string) (string, error) { return n.do(args...) }

// KillMaster kills master m (SIGKILL) and waits until one of its replicas has
// taken over its slots and every other node that runs reports
// cluster_state:ok again; it returns the promoted replica.
func (c *RedisCluster) KillMaster(m *RedisServer) *RedisServer {
	c.tb.Helper()
	id := c.ids[m]
	m.Stop()
	var promoted *RedisServer
	c.waitAll("a replica of the killed master promoted", func(n *RedisServer) error {
		if n == m {
			return nil
		}
		info, err := n.do("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("CLUSTER INFO: %v\n%s", err, info)
		}
		nodes, err := n.do("CLUSTER", "NODES")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 8 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
				continue
			}
			for node, nid := range c.ids {
				if nid == f[0] && node != m && len(f) > 8 && c.wasReplicaOf(node, id) {
					promoted = node
					return nil
				}
			}
		}
		return fmt.Errorf("no replica of %s is a master with slots:\n%s", m.Addr, nodes)
	})
	return promoted
}

// wasReplicaOf reports whether node n was started as a replica of the master
// of ID id.
func (c *RedisCluster) wasReplicaOf(n *RedisServer, id string) bool {
	per := len(c.Replicas) / len(c.Masters)
	for i, r := range c.Replicas {
		if r == n {
			return c.ids[c.Masters[i/per]] == id
		}
	}
	return false
}

// knowsAll reports an error unless node n lists every node of the cluster, out
// of handshake, and, when flag is not empty, as many nodes with flag as there
// are replicas.
func (c *RedisCluster) knowsAll(n *RedisServer, flag string) error {
	nodes, err := n.do("CLUSTER", "NODES")
	if err != nil {
		return err
	}
	known, flagged := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.Contains(f[2], "handshake") || strings.Contains(f[2], "noaddr") {
			continue
		}
		known++
		if flag != "" && strings.Contains(f[2], flag) {
			flagged++
		}
	}
	if known != len(c.ids) || flag != "" && flagged != len(c.Replicas) {
		return fmt.Errorf("CLUSTER NODES lists %d nodes (%d %s), want %d (%d):\n%s", known, flagged, flag, len(c.ids), len(c.Replicas), nodes)
	}
	return nil
}

// must sends a command to node n and fails the test if it fails.
func (c *RedisCluster) must(n *RedisServer, args ...string) {
	c.tb.Helper()
	if _, err := n.do(args...); err != nil {
		c.tb.Fatalf("redis-server on %s: %s: %v", n.Addr, strings.Join(args, " "), err)
	}
}

// waitAll waits until check passes on every node, failing the test after
// callTimeout.
func (c *RedisCluster) waitAll(what string, check func(n *RedisServer) error) {
	c.tb.Helper()
	deadline := time.Now().Add(callTimeout)
	for {
		var err error
		for _, n := range c.Nodes() {
			if err = check(n); err != nil {
				err = fmt.Errorf("%s: %w", n.Addr, err)
				break
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("testenv: redis cluster: %s: not after %v: %v", what, callTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
