package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/scripts/testenv"
)

// BenchmarkRedisServerCost measures what the registry's calls cost Redis
// itself, for the capacity plan (docs/design.md, "Regions"): on a private
// redis-server, so that nothing else runs on it, it reads INFO commandstats
// and INFO cpu before and after b.N calls of one kind and reports per call
//
//	redis-usec/op      the execution time of the commands the call sent
//	                   (commandstats' usec of EVALSHA, EXEC, GET and the
//	                   like; a script's or a transaction's includes the
//	                   commands it ran, which commandstats lists as well),
//	redis-cpu-usec/op  the server process's CPU time (used_cpu_user and
//	                   used_cpu_sys): execution plus reading, parsing and
//	                   replying, the event loop and client-side-caching
//	                   bookkeeping,
//	redis-calls/op     commands the call sent.
//
// The commands of the last run are logged with their calls and usec_per_call.
// Every device is an account of its own, registered on one edge, live
// throughout (a run must not outlast DefaultEdgeTTL);
// "register" and "unregister" are each device's first registration and its
// removal; "lookup" the first lookup of a registered device through the
// client-side cache (a miss: what every device costs a process once, and a
// gateway's locate of a device it has not looked up), "lookup-offline" the
// same for a device that is not registered, "lookup-uncached" a lookup with
// caching off. "parallel" runs the same from 64 goroutines, so that rueidis
// pipelines the calls as it does for a busy edge.
//
//	go test -run '^$' -bench '^BenchmarkRedisServerCost$' -benchtime 20000x ./registry/
func BenchmarkRedisServerCost(b *testing.B) {
	srv := testenv.StartRedis(b)
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(admin.Close)
	cached := newCostRegistry(b, srv.Addr, false)
	uncached := newCostRegistry(b, srv.Addr, true)
	ctx := context.Background()
	var run atomic.Int64 // keeps the devices of every run apart
	entry := func(session string) Entry { return Entry{Edge: "e1", Session: session, Since: time.Now()} }

	// Each call kind: sent names the commands a call sends, which
	// redis-usec/op sums; setup prepares the devices (untimed), call makes
	// the call for one of them.
	scripted := []string{"evalsha", "pttl"}
	fromCache := []string{"client|caching", "multi", "exec"}
	kinds := []struct {
		name  string
		sent  []string
		setup func(b *testing.B, devs []string)
		call  func(device string) error
	}{
		{"register", scripted, nil, func(d string) error { _, err := cached.Register(ctx, d, "tv", entry(d)); return err }},
		{"unregister", scripted, registerAll(cached, entry), func(d string) error {
			ok, err := cached.Unregister(ctx, d, "tv", d)
			if err == nil && !ok {
				err = fmt.Errorf("unregister %s: not registered", d)
			}
			return err
		}},
		{"lookup", fromCache, registerAll(cached, entry), func(d string) error { _, err := cached.Lookup(ctx, d, "tv"); return err }},
		{"lookup-offline", fromCache, nil, func(d string) error {
			if _, err := cached.Lookup(ctx, d, "tv"); err != ErrNotFound {
				return fmt.Errorf("lookup %s: %v, want ErrNotFound", d, err)
			}
			return nil
		}},
		{"lookup-uncached", []string{"get"}, registerAll(cached, entry), func(d string) error { _, err := uncached.Lookup(ctx, d, "tv"); return err }},
	}
	for _, parallel := range []bool{false, true} {
		for _, k := range kinds {
			name := k.name
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				devs := make([]string, b.N)
				r := run.Add(1)
				for i := range devs {
					devs[i] = "c" + strconv.FormatInt(r, 10) + "-" + strconv.Itoa(i)
				}
				// The edge is kept live, as its heartbeat would.
				mustHeartbeat(b, cached, "e1")
				if k.setup != nil {
					k.setup(b, devs)
				}
				before := readServerCost(b, admin)
				b.ResetTimer()
				if parallel {
					var next atomic.Int64
					b.SetParallelism(32)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := k.call(devs[next.Add(1)-1]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for _, d := range devs {
						if err := k.call(d); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				readServerCost(b, admin).since(before).report(b, b.N, k.sent)
			})
		}
	}
}

// newCostRegistry returns a registry on addr with edge e1 live, and caching
// off when uncached.
func newCostRegistry(b *testing.B, addr string, uncached bool) *Redis {
	b.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: uncached})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	r, err := NewRedis(RedisConfig{Client: client, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	mustHeartbeat(b, r, "e1")
	return r
}

// registerAll returns a setup that registers every device, each with its
// name as the session.
func registerAll(r *Redis, entry func(string) Entry) func(b *testing.B, devs []string) {
	return func(b *testing.B, devs []string) {
		for _, d := range devs {
			mustRegister(b, r, d, "tv", entry(d))
		}
	}
}

// serverCost is a reading of a redis-server's commandstats (calls and usec
// by command) and CPU time.
type serverCost struct {
	calls, usec map[string]int64
	cpu         float64 // seconds
}

// readServerCost reads the server's commandstats and CPU time.
func readServerCost(b *testing.B, c rueidis.Client) serverCost {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := serverCost{calls: map[string]int64{}, usec: map[string]int64{}}
	for _, section := range []string{"commandstats", "cpu"} {
		info, err := c.Do(ctx, c.B().Info().Section(section).Build()).ToString()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_cpu_user:"); ok {
				s.cpu += parseFloat(b, v)
			} else if v, ok := strings.CutPrefix(line, "used_cpu_sys:"); ok {
				s.cpu += parseFloat(b, v)
			} else if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
				// cmdstat_evalsha:calls=3,usec=42,usec_per_call=14.00,...
				name, fields, _ := strings.Cut(rest, ":")
				for f := range strings.SplitSeq(fields, ",") {
					key, val, _ := strings.Cut(f, "=")
					switch key {
					case "calls":
						s.calls[name] = int64(parseFloat(b, val))
					case "usec":
						s.usec[name] = int64(parseFloat(b, val))
					}
				}
			}
		}
	}
	return s
}

func parseFloat(b *testing.B, s string) float64 {
	b.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		b.Fatalf("INFO field %q: %v", s, err)
	}
	return f
}

// since returns what the server did from before to s, without the INFO
// commands that read it.
func (s serverCost) since(before serverCost) serverCost {
	d := serverCost{calls: map[string]int64{}, usec: map[string]int64{}, cpu: s.cpu - before.cpu}
	for name, calls := range s.calls {
		if name == "info" || calls == before.calls[name] {
			continue
		}
		d.calls[name] = calls - before.calls[name]
		d.usec[name] = s.usec[name] - before.usec[name]
	}
	return d
}

// report reports d per call of n, the commands sent being those named in
// sent, and logs every command.
func (d serverCost) report(b *testing.B, n int, sent []string) {
	b.Helper()
	var calls, usec int64
	for _, name := range sent {
		if d.calls[name] < int64(n) {
			b.Fatalf("redis ran %s %d times for %d calls", name, d.calls[name], n)
		}
		calls += d.calls[name]
		usec += d.usec[name]
	}
	names := make([]string, 0, len(d.calls))
	for name := range d.calls {
		names = append(names, name)
	}
	sort.Strings(names)
	var log strings.Builder
	for _, name := range names {
		fmt.Fprintf(&log, " %s %.2f/op at %.2f usec", name, float64(d.calls[name])/float64(n), float64(d.usec[name])/float64(d.calls[name]))
	}
	b.Logf("n=%d:%s", n, log.String())
	b.ReportMetric(float64(usec)/float64(n), "redis-usec/op")
	b.ReportMetric(d.cpu*1e6/float64(n), "redis-cpu-usec/op")
	b.ReportMetric(float64(calls)/float64(n), "redis-calls/op")
}
