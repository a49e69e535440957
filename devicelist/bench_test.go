package devicelist

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// benchPostgres returns a Postgres store on a fresh database, or skips the
// benchmark when no Postgres is configured.
func benchPostgres(b *testing.B) *Postgres {
	b.Helper()
	return mustPostgres(b, PostgresConfig{URL: testenv.Postgres(b), SeenFlush: time.Hour})
}

// BenchmarkIDs resolves the siblings of a device in an account of 10 devices,
// among 1000 accounts: what every device-to-device message to "all" costs.
func BenchmarkIDs(b *testing.B) {
	for _, impl := range []struct {
		name string
		new  func(b *testing.B) store
	}{
		{"memory", func(*testing.B) store { return NewMemory() }},
		{"postgres", func(b *testing.B) store { return benchPostgres(b) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			s := impl.new(b)
			ctx := context.Background()
			fillAccounts(b, s, 1000, 10)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				ids, err := s.IDs(ctx, fmt.Sprint("a", i%1000))
				if err != nil || len(ids) != 10 {
					b.Fatalf("IDs = %q, %v", ids, err)
				}
				i++
			}
		})
	}
}

// BenchmarkIDsParallel is BenchmarkIDs on Postgres from GOMAXPROCS goroutines,
// as edges serving many devices would call it.
func BenchmarkIDsParallel(b *testing.B) {
	p := benchPostgres(b)
	fillAccounts(b, p, 1000, 10)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := p.IDs(ctx, fmt.Sprint("a", i%1000)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkPut registers devices with full metadata, half of them new.
func BenchmarkPut(b *testing.B) {
	for _, impl := range []struct {
		name string
		new  func(b *testing.B) store
	}{
		{"memory", func(*testing.B) store { return NewMemory() }},
		{"postgres", func(b *testing.B) store { return benchPostgres(b) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			s := impl.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, err := s.Put(ctx, phone("a1", fmt.Sprint("d", i/2))); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkTouch is a device connecting again with the same hello.
func BenchmarkTouch(b *testing.B) {
	p := benchPostgres(b)
	ctx := context.Background()
	info := &protocol.DeviceInfo{Platform: "ios", Name: "phone", AppVersion: "1.0", Capabilities: []string{"a"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Touch(ctx, "a1", "d1", info); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeen is the per-frame cost of recording last-seen: no query, one
// map write under a mutex.
func BenchmarkSeen(b *testing.B) {
	p := benchPostgres(b)
	now := time.Now()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprint("d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Seen("a1", ids[i%len(ids)], now)
		i++
	}
}

// BenchmarkSeenFlush writes last-seen updates of 10,000 devices in one flush;
// ns/op is per flush.
func BenchmarkSeenFlush(b *testing.B) {
	p := benchPostgres(b)
	fillAccounts(b, p, 100, 100)
	at := time.Now()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		at = at.Add(time.Second)
		for a := range 100 {
			for d := range 100 {
				p.Seen(fmt.Sprint("a", a), fmt.Sprint("d", d), at)
			}
		}
		b.StartTimer()
		if err := p.flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// fillAccounts gives accounts a0.. each devices d0.. through Touch.
func fillAccounts(b *testing.B, s store, accounts, devices int) {
	b.Helper()
	ctx := context.Background()
	for a := range accounts {
		for d := range devices {
			if err := s.Touch(ctx, fmt.Sprint("a", a), fmt.Sprint("d", d), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTopics reads the persistent topics of one device with five, in
// accounts of 10 devices: what a connecting device with persistent topics
// costs its edge (Topics), and what a reload of an account's cached list
// costs more (TopicDevices).
func BenchmarkTopics(b *testing.B) {
	s := benchPostgres(b)
	ctx := context.Background()
	fillAccounts(b, s, 100, 10)
	for i := range 100 {
		for j := range 5 {
			if _, err := s.AddTopic(ctx, fmt.Sprint("a", i), "d0", fmt.Sprint("topic.", j), 100); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Topics", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if ts, err := s.Topics(ctx, fmt.Sprint("a", i%100), "d0"); err != nil || len(ts) != 5 {
				b.Fatalf("Topics = %q, %v", ts, err)
			}
			i++
		}
	})
	b.Run("TopicDevices", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if ds, err := s.TopicDevices(ctx, fmt.Sprint("a", i%100)); err != nil || len(ds) != 1 {
				b.Fatalf("TopicDevices = %q, %v", ds, err)
			}
			i++
		}
	})
}
