package edge

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestDeviceCacheOnRedisCluster: two edges keep device lists cached under the
// account versions of a Redis Cluster of three masters, each edge's registry
// seeded with a different node. A device one edge adds is in the other's
// cached list once the version's invalidation arrives, whichever master holds
// the account: were the invalidation of one master's keys lost, that edge
// would serve the old list for the registry's 10-minute cache TTL.
func TestDeviceCacheOnRedisCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	list := devicelist.NewMemory()
	mk := func(seed string) *deviceCache {
		reg, err := registry.NewRedis(registry.RedisConfig{Addrs: []string{seed}, Prefix: "t:", CacheTTL: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg.Close)
		return newDeviceCache(list, nil, reg, 1000)
	}
	reader, writer := mk(c.Masters[0].Addr), mk(c.Masters[2].Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accounts := make([]string, 12) // enough to reach every master
	for i := range accounts {
		accounts[i] = "acct" + strconv.Itoa(i)
	}
	for _, device := range []string{"phone", "tv"} {
		for _, a := range accounts {
			if _, err := reader.ids(ctx, a); err != nil { // cached under the current version
				t.Fatal(err)
			}
			if err := list.Touch(ctx, a, device, nil); err != nil {
				t.Fatal(err)
			}
			if err := writer.versions.BumpAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range accounts {
			deadline := time.Now().Add(10 * time.Second)
			for {
				ids, err := reader.ids(ctx, a)
				if err == nil && slices.Contains(ids, device) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: the cached list is still %v (%v) after another edge added %s", a, ids, err, device)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	for _, m := range c.Masters {
		if n, err := c.Do(m, "DBSIZE"); err != nil || n == "0" {
			t.Errorf("master %s holds %s keys (%v): the accounts should spread over every master", m.Addr, n, err)
		}
	}
}
