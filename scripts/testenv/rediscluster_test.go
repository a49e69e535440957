package testenv

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/rueidis"
)

// TestStartRedisCluster: a client in cluster mode seeded with one node finds
// the three masters, the keys it writes land on every one of them and reach
// their replicas, and after a master is killed its replica serves its keys.
func TestStartRedisCluster(t *testing.T) {
	c := StartRedisCluster(t, ClusterOptions{Masters: 3, Replicas: 1})
	if len(c.Masters) != 3 || len(c.Replicas) != 3 {
		t.Fatalf("%d masters and %d replicas, want 3 and 3", len(c.Masters), len(c.Replicas))
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.Masters[1].Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if got := client.Mode(); got != rueidis.ClientModeCluster {
		t.Fatalf("the client is %s, want %s", got, rueidis.ClientModeCluster)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	const keys = 60
	for i := range keys {
		k := "k" + strconv.Itoa(i)
		if err := client.Do(ctx, client.B().Set().Key(k).Value(k).Build()).Error(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	total := 0
	for _, m := range c.Masters {
		n, err := c.Do(m, "DBSIZE")
		if err != nil {
			t.Fatal(err)
		}
		if n == "0" {
			t.Errorf("master %s holds no key", m.Addr)
		}
		k, _ := strconv.Atoi(n)
		total += k
		// WAIT: the write reached the replica before the kill below.
		if got, err := c.Do(m, "WAIT", "1", "5000"); err != nil || got != "1" {
			t.Errorf("WAIT on %s = %s, %v; want 1 replica", m.Addr, got, err)
		}
	}
	if total != keys {
		t.Errorf("the masters hold %d keys, want %d", total, keys)
	}

	promoted := c.KillMaster(c.Masters[0])
	if promoted != c.Replicas[0] {
		t.Fatalf("promoted %v, want the replica of the killed master %s", promoted, c.Replicas[0].Addr)
	}
	for i := range keys {
		k := "k" + strconv.Itoa(i)
		if got, err := client.Do(ctx, client.B().Get().Key(k).Build()).ToString(); err != nil || got != k {
			t.Fatalf("GET %s after the failover = %q, %v", k, got, err)
		}
	}
	c.Masters[0].Start() // it comes back as a replica
}
