package edge

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

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
