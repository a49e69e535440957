package edge

import (
	"context"
	"strconv"
	"testing"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter takes spans and drops them: the cost of tracing on without
// the cost of a collector.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchTracers returns n tracers that record every span (ratio 1) and hand
// them to the batch span processor, as `herald serve` does, which drops them;
// nil tracers when off.
func benchTracers(b *testing.B, n int, on bool) []*tracing.Tracer {
	trs := make([]*tracing.Tracer, n)
	if !on {
		return trs
	}
	for i := range trs {
		p, err := tracing.Start(context.Background(), tracing.Config{Enabled: true, SampleRatio: 1, Exporter: discardExporter{}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
		trs[i] = p.Tracer()
	}
	return trs
}

// BenchmarkTracing measures what tracing costs the sync push and the
// device-to-device paths, off (no tracer: today's code path) and on (every
// message recorded and exported to a discarding exporter through the batch
// span processor), in one run:
//
//   - push: Router.Deliver from edge 1 over the link to a device on edge 2,
//     one at a time, in a root span as the API's request span would be (on),
//     or in none (off): lookup, link send, link receive and socket write
//     spans, and the traceparent in the frame;
//   - d2d: a device on edge 1 writes a msg for a device on edge 2 and reads
//     its receipt, one at a time: the msg's span on edge 1, the lookup, the
//     link hop and the socket write on edge 2;
//   - publish: Router.Publish from edge 1 to a topic with one subscriber on
//     each edge, one at a time: the publish, the topic directory's lookup,
//     the local subscribers, the link to edge 2 and its subscribers.
func BenchmarkTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run("push/"+mode, func(b *testing.B) { benchTracedPush(b, mode == "on") })
		b.Run("d2d/"+mode, func(b *testing.B) { benchTracedD2D(b, mode == "on") })
		b.Run("publish/"+mode, func(b *testing.B) { benchTracedPublish(b, mode == "on") })
	}
}

// benchRooted times send, one message at a time, each in a root span of tr
// as the API's request span would be (tracing on), or in none (off); the
// timer is stopped when it returns.
func benchRooted(b *testing.B, tr *tracing.Tracer, send func(context.Context, *protocol.Msg)) {
	m := &protocol.Msg{Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.ID = strconv.Itoa(i)
		mctx, root := tr.DeviceMsg(ctx, "a0", "backend", m.ID, m.Type)
		send(mctx, m)
		root.End()
	}
	b.StopTimer()
}

func benchTracedPublish(b *testing.B, on bool) {
	trs := benchTracers(b, 2, on)
	n := 0
	edges, _ := mustClusterTB(b, 2, func(c *Config) {
		c.SendQueue = 4096
		c.Topics = c.Registry.(TopicDirectory)
		c.Tracer = trs[n]
		n++
	})
	var dones []<-chan struct{}
	var devs []*device
	for i, e := range edges {
		e.router.Topics, e.router.Tracer = e.reg, trs[i]
		d := e.mustDialTopics(b, "a"+strconv.Itoa(i), "tv1", "news.*")
		d.sub(false, "s", "news.sports")
		devs = append(devs, d)
		dones = append(dones, drainDevice(b, d))
	}
	benchRooted(b, trs[0], func(ctx context.Context, m *protocol.Msg) {
		if r, err := edges[0].router.Publish(ctx, "news.sports", m); err != nil || r.Devices != 2 {
			b.Fatalf("result %+v, %v", r, err)
		}
	})
	for i, d := range devs {
		_ = d.c.CloseNow()
		<-dones[i]
	}
}

func benchTracedPush(b *testing.B, on bool) {
	trs := benchTracers(b, 2, on)
	n := 0
	edges, _ := mustClusterTB(b, 2, func(c *Config) { c.SendQueue = 4096; c.Tracer = trs[n]; n++ })
	d := edges[1].mustDial(b, "a1", "tv1")
	done := drainDevice(b, d)
	benchRooted(b, trs[0], func(ctx context.Context, m *protocol.Msg) {
		if r := edges[0].router.Deliver(ctx, "a1", "tv1", m, nil); r.Status != protocol.StatusDelivered {
			b.Fatalf("result %+v", r)
		}
	})
	_ = d.c.CloseNow()
	<-done
}

func benchTracedD2D(b *testing.B, on bool) {
	trs := benchTracers(b, 2, on)
	n := 0
	edges, _ := mustClusterTB(b, 2, func(c *Config) {
		c.MsgRate, c.MsgBurst, c.MaxInflight = 1e6, 1e6, 1<<16
		c.Tracer = trs[n]
		n++
	})
	tv := edges[1].mustDial(b, "a1", "tv1")
	tvDone := drainDevice(b, tv)
	phone := edges[0].mustDial(b, "a1", "phone1")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		frame, _ := protocol.Encode(&protocol.Msg{ID: strconv.Itoa(i), Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": "hi"})})
		if err := phone.c.Write(ctx, websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
		for {
			_, data, err := phone.c.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if f, _ := protocol.Decode(data); f != nil {
				if r, ok := f.(*protocol.Receipt); ok {
					if r.Results[0].Status != protocol.StatusDelivered {
						b.Fatalf("receipt %+v", r)
					}
					break
				}
			}
		}
	}
	b.StopTimer()
	_ = tv.c.CloseNow()
	<-tvDone
}
