package edge

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

// drainDevice reads and discards every frame of d until its connection ends.
func drainDevice(b *testing.B, d *device) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := d.c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return done
}

// BenchmarkLocalDeliver measures one sync delivery to a device on the same edge:
// encode, queue, write to the socket, report delivered.
func BenchmarkLocalDeliver(b *testing.B) {
	e := mustEdge(b, func(c *Config) { c.SendQueue = 4096 })
	d := e.mustDial(b, "a1", "tv1")
	done := drainDevice(b, d)
	m := &protocol.Msg{Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.ID = strconv.Itoa(i)
		if r := e.srv.Deliver(ctx, "a1", "tv1", m, nil); r.Status != protocol.StatusDelivered {
			b.Fatalf("result %+v", r)
		}
	}
	b.StopTimer()
	_ = d.c.CloseNow()
	<-done
}

// BenchmarkCrossEdgePush measures one sync delivery routed from edge 1 over the
// link to a device on edge 2: lookup, link write, remote write, receipt back.
func BenchmarkCrossEdgePush(b *testing.B) {
	edges, _ := mustClusterTB(b, 2, func(c *Config) { c.SendQueue = 4096 })
	d := edges[1].mustDial(b, "a1", "tv1")
	done := drainDevice(b, d)
	m := &protocol.Msg{Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.ID = strconv.Itoa(i)
		if r := edges[0].router.Deliver(ctx, "a1", "tv1", m, nil); r.Status != protocol.StatusDelivered {
			b.Fatalf("result %+v", r)
		}
	}
	b.StopTimer()
	_ = d.c.CloseNow()
	<-done
}

// BenchmarkCrossEdgePushParallel is BenchmarkCrossEdgePush with concurrent
// senders, where the link batches frames.
func BenchmarkCrossEdgePushParallel(b *testing.B) {
	edges, _ := mustClusterTB(b, 2, func(c *Config) { c.SendQueue = 1 << 16 })
	d := edges[1].mustDial(b, "a1", "tv1")
	done := drainDevice(b, d)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(atomicAdd(&n), 10)
			m := &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}
			if r := edges[0].router.Deliver(ctx, "a1", "tv1", m, nil); r.Status != protocol.StatusDelivered {
				b.Errorf("result %+v", r)
				return
			}
		}
	})
	b.StopTimer()
	_ = d.c.CloseNow()
	<-done
}

func atomicAdd(n *int64) int64 { return atomic.AddInt64(n, 1) }

// BenchmarkD2DLatency measures device-to-device latency across two edges at a
// steady 1,000 messages a second: from the phone (edge 1) writing a msg for the tv
// (edge 2) to the phone reading its receipt. That is the path (source edge
// receives the msg -> source device receives the receipt) plus the phone's own
// hop to its edge. It reports p50, p99 and max in microseconds.
func BenchmarkD2DLatency(b *testing.B) {
	edges, _ := mustClusterTB(b, 2, func(c *Config) { c.MsgRate = 1e6; c.MsgBurst = 1e6; c.MaxInflight = 1 << 16 })
	tv := edges[1].mustDial(b, "a1", "tv1")
	tvDone := drainDevice(b, tv)
	phone := edges[0].mustDial(b, "a1", "phone1")

	n := max(b.N, 1000)
	sent := make([]time.Time, n)
	lat := make([]time.Duration, 0, n)
	got := make(chan struct{})
	go func() {
		defer close(got)
		for len(lat) < n {
			_, data, err := phone.c.Read(context.Background())
			if err != nil {
				return
			}
			f, err := protocol.Decode(data)
			if err != nil {
				continue
			}
			if r, ok := f.(*protocol.Receipt); ok {
				i, _ := strconv.Atoi(r.ID)
				lat = append(lat, time.Since(sent[i]))
			}
		}
	}()
	frames := make([][]byte, n)
	for i := range frames {
		frames[i], _ = protocol.Encode(&protocol.Msg{ID: strconv.Itoa(i), Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": "hi"})})
	}
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	for i := range n {
		<-tick.C
		sent[i] = time.Now()
		if err := phone.c.Write(context.Background(), websocket.MessageText, frames[i]); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d receipts", len(lat), n)
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	_ = tv.c.CloseNow()
	<-tvDone
}

// BenchmarkMessageMetrics measures counting one delivered message: the type's
// counters found by name, the child resolved once.
func BenchmarkMessageMetrics(b *testing.B) {
	m, err := newMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	types := mustTypes(b)
	msg := &protocol.Msg{Type: "tiny.echo.v1", From: &protocol.Sender{Device: "d"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.out(types, msg, protocol.StatusDelivered)
		}
	})
}
