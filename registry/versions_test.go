package registry

import (
	"context"
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
