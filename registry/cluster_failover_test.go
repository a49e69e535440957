package registry

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// TestRedisClusterFailover: a master of a 3-master Redis Cluster is killed
// and its replica promoted. Lookups and versions that a process cached from
// the dead master must not outlive it: after the failover, another process's
// changes to the keys of the dead master's slots, now written on the promoted
// replica, reach the reader too, as do those of the other masters; and a
// heartbeat reports the failover as fresh, once.
func TestRedisClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a Redis master")
	}
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	mk := func(seed string) *Redis {
		r, err := NewRedis(RedisConfig{Addrs: []string{seed}, Prefix: "t:", CacheTTL: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	reader, writer := mk(c.Masters[1].Addr), mk(c.Masters[2].Addr)
	if d, ok := reader.ClusterNodeTimeout(testContext(t)); !ok || d != time.Second {
		t.Fatalf("ClusterNodeTimeout = %v, %v; want the test cluster's 1s", d, ok)
	}
	mustHeartbeat(t, writer, "e1")
	mustHeartbeat(t, writer, "e2")
	accounts := make([]string, 12) // enough to reach every master
	for i := range accounts {
		accounts[i] = "a" + strconv.Itoa(i)
	}
	first := Entry{Edge: "e1", Session: "s1"}
	for _, a := range accounts {
		mustRegister(t, writer, a, "tv", first)
		for range 2 {
			wantLookup(t, reader, a, "tv", first)
			if v, err := reader.AccountVersion(testContext(t), a); err != nil || v != 0 {
				t.Fatalf("%s: version %d, %v", a, v, err)
			}
		}
	}
	if reader.lookupHits.Load() == 0 {
		t.Fatal("no Lookup was a cache hit")
	}
	// What was written reached the replicas: the failover loses nothing, and
	// what the reader sees after it is down to invalidation alone.
	for _, m := range c.Masters {
		if got, err := c.Do(m, "WAIT", "1", "5000"); err != nil || got != "1" {
			t.Fatalf("WAIT on %s = %s, %v; want 1 replica", m.Addr, got, err)
		}
	}

	if mustHeartbeat(t, writer, "e1") {
		t.Fatal("a heartbeat before the failover is fresh")
	}

	c.KillMaster(c.Masters[0])

	// The failover may have lost writes the dead master had not passed on:
	// the next heartbeat that reads the masters reports fresh, so that the
	// edge registers its devices again; the one after it does not.
	eventually(t, "a fresh heartbeat after the failover", func() error {
		fresh, err := writer.Heartbeat(testContext(t), "e1", "e1.internal:7000")
		if err != nil || !fresh {
			return fmt.Errorf("fresh %v, %v", fresh, err)
		}
		return nil
	})
	if mustHeartbeat(t, writer, "e1") {
		t.Fatal("the second heartbeat after the failover is fresh too")
	}

	moved := Entry{Edge: "e2", Session: "s2"}
	for _, a := range accounts {
		eventually(t, "register "+a+"/tv after the failover", func() error {
			_, err := writer.Register(testContext(t), a, "tv", moved)
			return err
		})
		eventually(t, "bump "+a+" after the failover", func() error {
			return writer.BumpAccount(testContext(t), a)
		})
	}
	for _, a := range accounts {
		eventually(t, "the reader's lookup of "+a+"/tv after the failover", func() error {
			got, err := reader.Lookup(testContext(t), a, "tv")
			if err != nil || !sameEntry(got, moved) {
				return fmt.Errorf("%+v, %v", got, err)
			}
			return nil
		})
		eventually(t, "the reader's version of "+a+" after the failover", func() error {
			if v, err := reader.AccountVersion(testContext(t), a); err != nil || v != 1 {
				return fmt.Errorf("version %d, %v", v, err)
			}
			return nil
		})
	}
}

// TestParseMasterSet: the masters that hold slots, failed or not, sorted; no
// replica, no master without slots.
func TestParseMasterSet(t *testing.T) {
	for _, tt := range []struct {
		name, nodes, want string
	}{
		{"three masters and replicas", `b2 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
r1 127.0.0.1:7003@17003 slave a1 0 1 1 connected
c3 127.0.0.1:7002@17002 master - 0 1 3 connected 10923-16383
`, "a1,b2,c3"},
		{"a failed master still holding its slots", `a1 127.0.0.1:7000@17000 master,fail - 0 0 1 disconnected 0-8191
b2 127.0.0.1:7001@17001 myself,master - 0 1 2 connected 8192-16383
r1 127.0.0.1:7003@17003 slave a1 0 1 1 connected`, "a1,b2"},
		{"the replica promoted, the dead master without slots", `a1 127.0.0.1:7000@17000 master,fail - 0 0 1 disconnected
b2 127.0.0.1:7001@17001 myself,master - 0 1 2 connected 8192-16383
r1 127.0.0.1:7003@17003 master - 0 1 4 connected 0-8191`, "b2,r1"},
		{"a verbatim string of RESP3", "txt:a1 127.0.0.1:7000@17000 master - 0 0 1 connected 0-16383\n", "a1"},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseMasterSet(tt.nodes); got != tt.want {
				t.Errorf("parseMasterSet = %q, want %q", got, tt.want)
			}
		})
	}
}

// Outside a cluster there is no node timeout to read.
func TestClusterNodeTimeoutOfOneRedis(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	if d, ok := r.ClusterNodeTimeout(testContext(t)); ok {
		t.Fatalf("ClusterNodeTimeout of one Redis = %v, true", d)
	}
}
