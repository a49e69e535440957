package inbox

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/redis/rueidis"
)

// benchPayload is the payload of the benchmarks: 1 KiB, the size the capacity
// estimate of docs/design.md assumes.
var benchPayload = []byte(`"` + strings.Repeat("x", 1022) + `"`)

// benchDevices is how many devices the benchmarks spread their messages over,
// so that no inbox reaches its limits.
const benchDevices = 10000

// benchStores are the inboxes the benchmarks compare.
var benchStores = []struct {
	name string
	new  func(b *testing.B) store
}{
	{"memory", func(b *testing.B) store {
		s, err := NewMemory(Config{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
	{"redis", func(b *testing.B) store {
		client, prefix := testenv.RedisClient(b)
		return mustRedis(b, RedisConfig{Client: client, Prefix: prefix})
	}},
}

func benchMsg(i int) Message {
	return Message{
		ID: "m" + strconv.Itoa(i), Account: "a1", Device: "d" + strconv.Itoa(i%benchDevices),
		Type: "chat.message.v1", From: "phone1", Payload: benchPayload, Priority: "normal",
	}
}

// BenchmarkPut is the write of a message for an offline device, from one
// goroutine: on Redis, one round trip and one script.
func BenchmarkPut(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Put(ctx, benchMsg(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPutParallel is BenchmarkPut from 16 goroutines per core, as a
// processor writing for many devices would: on Redis, the round trips overlap
// and the script's cost on the server shows.
func BenchmarkPutParallel(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.new(b)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Put(ctx, benchMsg(int(next.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPendingRemove is the drain of a device that holds one message, as
// on its connect: Pending from the start, then Remove of what it returned. The
// inboxes are filled in batches with the timer stopped.
func BenchmarkPendingRemove(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i%benchDevices == 0 {
					b.StopTimer()
					for j := i; j < i+benchDevices && j < b.N; j++ {
						if _, err := s.Put(ctx, benchMsg(j)); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				dev := "d" + strconv.Itoa(i%benchDevices)
				p, err := s.Pending(ctx, "a1", dev, 0, 0)
				if err != nil || len(p.Messages) != 1 {
					b.Fatalf("Pending = %d messages, %v", len(p.Messages), err)
				}
				if n, err := s.Remove(ctx, "a1", dev, p.Messages[0].ID); err != nil || n != 1 {
					b.Fatalf("Remove = %d, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkRedisMemory measures what an inbox costs Redis: 2,000 devices
// holding 10 messages of 1 KiB each, put into a Redis of its own, reported as
// used_memory per message and per device beyond the payloads. Run it with
// -benchtime=1x.
func BenchmarkRedisMemory(b *testing.B) {
	const devices, each = 2000, 10
	for b.Loop() {
		srv := testenv.StartRedis(b)
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		r := mustRedis(b, RedisConfig{Client: client})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		before := usedMemory(ctx, b, client)
		for d := range devices {
			for i := range each {
				m := benchMsg(d*each + i)
				m.Device = "device-" + strconv.Itoa(d)
				if _, err := r.Put(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
		grown := float64(usedMemory(ctx, b, client) - before)
		cancel()
		client.Close()
		b.ReportMetric(grown/(devices*each), "B/msg")
		b.ReportMetric((grown-float64(devices*each*len(benchPayload)))/(devices*each), "overhead-B/msg")
	}
}

// BenchmarkRedisScripts measures what each script costs the Redis core
// (usec_per_call of evalsha in INFO commandstats), the figure that sizes a
// cluster, on a Redis of its own from one goroutine: puts into inboxes with
// room and into a full one, and the drain (Pending, then Remove) of 2,000
// devices holding one message and holding ten. Run it with -benchtime=1x.
func BenchmarkRedisScripts(b *testing.B) {
	const devices = 2000
	for b.Loop() {
		srv := testenv.StartRedis(b)
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		r := mustRedis(b, RedisConfig{Client: client})
		phase := func(name string, run func()) {
			if err := client.Do(ctx, client.B().ConfigResetstat().Build()).Error(); err != nil {
				b.Fatal(err)
			}
			run()
			b.ReportMetric(evalshaMicros(ctx, b, client), "µs/"+name)
		}
		put := func(dev string, i int) {
			m := benchMsg(i)
			m.Device = dev
			if _, err := r.Put(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		drain := func(each int) {
			for d := range devices {
				p, err := r.Pending(ctx, "a1", "e"+strconv.Itoa(each)+"-"+strconv.Itoa(d), 0, 0)
				if err != nil || len(p.Messages) != each {
					b.Fatalf("Pending = %d messages, %v", len(p.Messages), err)
				}
			}
		}
		remove := func(each int) {
			for d := range devices {
				var ids []string
				for i := range each {
					ids = append(ids, "m"+strconv.Itoa(i))
				}
				if n, err := r.Remove(ctx, "a1", "e"+strconv.Itoa(each)+"-"+strconv.Itoa(d), ids...); err != nil || n != each {
					b.Fatalf("Remove = %d, %v", n, err)
				}
			}
		}
		for _, each := range []int{1, 10} {
			phase("put-room-"+strconv.Itoa(each), func() {
				for d := range devices {
					for i := range each {
						put("e"+strconv.Itoa(each)+"-"+strconv.Itoa(d), i)
					}
				}
			})
			phase("pending-"+strconv.Itoa(each), func() { drain(each) })
			phase("remove-"+strconv.Itoa(each), func() { remove(each) })
		}
		for i := range DefaultMaxMessages {
			put("full", i)
		}
		phase("put-full", func() {
			for i := range devices {
				put("full", DefaultMaxMessages+i)
			}
		})
		cancel()
		client.Close()
	}
}

// evalshaMicros is the usec_per_call of evalsha since the last CONFIG
// RESETSTAT.
func evalshaMicros(ctx context.Context, b *testing.B, client rueidis.Client) float64 {
	b.Helper()
	info, err := client.Do(ctx, client.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for field := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(field, "usec_per_call="); ok {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						b.Fatal(err)
					}
					return f
				}
			}
		}
	}
	b.Fatal("no evalsha in INFO commandstats")
	return 0
}

// usedMemory is Redis' used_memory.
func usedMemory(ctx context.Context, b *testing.B, client rueidis.Client) int64 {
	b.Helper()
	info, err := client.Do(ctx, client.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
