package registry

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// versioned is what both registries offer for device-list cache invalidation.
type versioned interface {
	AccountVersion(ctx context.Context, account string) (int64, error)
	BumpAccount(ctx context.Context, account string) error
}

var (
	_ versioned = (*Memory)(nil)
	_ versioned = (*Redis)(nil)
)

func TestAccountVersions(t *testing.T) {
	ctx := context.Background()
	impls := map[string]func(t *testing.T) (versioned, versioned){
		"memory": func(*testing.T) (versioned, versioned) { m := NewMemory(); return m, m },
		"redis": func(t *testing.T) (versioned, versioned) {
			addr, prefix := testenv.Redis(t)
			mk := func() *Redis {
				r, err := NewRedis(RedisConfig{Addrs: []string{addr}, Prefix: prefix, CacheTTL: 10 * time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(r.Close)
				return r
			}
			return mk(), mk() // two processes
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			writer, reader := mk(t)
			if v, err := reader.AccountVersion(ctx, "a1"); err != nil || v != 0 {
				t.Fatalf("initial version %d, %v", v, err)
			}
			// Cached reads, then a bump elsewhere: the reader sees it well before
			// the 10-minute cache TTL, through invalidation.
			for range 3 {
				if _, err := reader.AccountVersion(ctx, "a1"); err != nil {
					t.Fatal(err)
				}
			}
			if err := writer.BumpAccount(ctx, "a1"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				v, err := reader.AccountVersion(ctx, "a1")
				if err != nil {
					t.Fatal(err)
				}
				if v == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("version still %d after a bump", v)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if v, _ := reader.AccountVersion(ctx, "a2"); v != 0 {
				t.Fatalf("another account's version %d", v)
			}
		})
	}
}

// TestAccountVersionsAcrossClusterNodes: on a Redis Cluster of three masters,
// a version cached by one process is invalidated when another bumps it,
// whichever master holds the account: each master tracks the keys the reader
// read from it and must send their invalidation on the reader's connection to
// that master. The two processes are seeded with different nodes.
func TestAccountVersionsAcrossClusterNodes(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	mk := func(seed string) *Redis {
		r, err := NewRedis(RedisConfig{Addrs: []string{seed}, Prefix: "t:", CacheTTL: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	reader, writer := mk(c.Masters[0].Addr), mk(c.Masters[2].Addr)
	ctx := testContext(t)
	accounts := make([]string, 12)
	for i := range accounts {
		accounts[i] = "a" + strconv.Itoa(i)
	}
	for round := int64(1); round <= 2; round++ {
		for _, a := range accounts {
			for range 3 {
				if v, err := reader.AccountVersion(ctx, a); err != nil || v != round-1 {
					t.Fatalf("%s: version %d, %v before bump %d", a, v, err, round)
				}
			}
			if err := writer.BumpAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range accounts {
			eventually(t, "cached version of "+a+" after a bump by another process", func() error {
				v, err := reader.AccountVersion(ctx, a)
				if err != nil || v != round {
					return fmt.Errorf("version %d, %v; want %d", v, err, round)
				}
				return nil
			})
		}
	}
	for _, m := range c.Masters {
		if n, err := c.Do(m, "DBSIZE"); err != nil || n == "0" {
			t.Errorf("master %s holds %s versions (%v): the accounts should spread over every master", m.Addr, n, err)
		}
	}
}
