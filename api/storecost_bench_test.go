package api

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/scripts/testenv"
)

// storeCostInboxes are the inboxes BenchmarkPushOnlineStore compares: none (a
// server without store-and-forward), memory (herald dev) and Redis (herald
// serve with --redis-addr), the test's Redis.
var storeCostInboxes = []struct {
	name string
	new  func(b *testing.B) Inbox // nil: no inbox
}{
	{"none", nil},
	{"memory", func(b *testing.B) Inbox {
		box, err := inbox.NewMemory(inbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		return box
	}},
	{"redis", func(b *testing.B) Inbox {
		client, prefix := testenv.RedisClient(b)
		box, err := inbox.NewRedis(inbox.RedisConfig{Client: client, Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		return box
	}},
}

// storeCostTypes are the pushes BenchmarkPushOnlineStore compares: a type that
// is stored for an offline device (notification.v1, store 28 days) and one
// that is not (playback.control.v1 without ack: no store).
var storeCostTypes = []struct {
	name string
	body func(device int) []byte
}{
	{"stored", func(d int) []byte {
		return fmt.Appendf(nil, `{"to":{"account":"bench","device":"d%d"},"type":"notification.v1","payload":%s,"timeout_ms":10000}`, d, benchNote)
	}},
	{"unstored", func(d int) []byte {
		return fmt.Appendf(nil, `{"to":{"account":"bench","device":"d%d"},"type":"playback.control.v1","payload":{"action":"pause"},"ack":false,"timeout_ms":10000}`, d)
	}},
}

// onlineDelivered is what every answer of BenchmarkPushOnlineStore holds: the device
// was online, so nothing was stored.
var onlineDelivered = []byte(`"status":"delivered"`)

// BenchmarkPushOnlineStore measures what store-and-forward adds to a sync push
// to a connected device: the API handler called directly, as in
// BenchmarkPush/handler, with no inbox, a memory inbox and a Redis inbox, for
// a type that is stored when its device is offline and one that is not. A
// message is stored only once its device was found offline, so every variant
// should cost the same; each fails if an answer is not delivered. Compare the
// inboxes with
//
//	go test -c -o /tmp/api.test ./api/
//	for i in 1 2 3 4 5 6; do /tmp/api.test -test.run '^$' -test.bench PushOnlineStore -test.benchmem >> store.txt; done
//	benchstat -col /inbox store.txt
func BenchmarkPushOnlineStore(b *testing.B) {
	for _, ib := range storeCostInboxes {
		b.Run("inbox="+ib.name, func(b *testing.B) {
			var box Inbox
			if ib.new != nil {
				box = ib.new(b)
			}
			st := mustStackWith(b, func(c *Config) { c.Inbox = box })
			counts := st.mustBenchDevices(b, benchDevices)
			var sent int64
			for _, ty := range storeCostTypes {
				bodies := make([][]byte, benchDevices)
				for d := range bodies {
					bodies[d] = ty.body(d)
				}
				b.Run("type="+ty.name, func(b *testing.B) {
					hb := st.newHandlerBench(b, "/v1/push")
					b.ReportAllocs()
					cpu := startCPU()
					for i := 0; b.Loop(); i++ {
						hb.do(b, bodies[i%len(bodies)])
						if !bytes.Contains(hb.w.body.Bytes(), onlineDelivered) {
							b.Fatalf("answer %s, want delivered", hb.w.body.Bytes())
						}
					}
					b.StopTimer()
					cpu.report(b, b.N)
					sent += int64(b.N)
					waitFrames(b, counts, sent)
				})
			}
		})
	}
}
