package api

import (
	"fmt"
	"testing"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/scripts/testenv"
)

// BenchmarkMessageBatch measures the request's own work in POST
// /v1/messages/batch, 20 messages a request, through the API handler: decoding,
// checking, the settling of each message and the queued statuses in the
// memory store, without Kafka (a queue that records the messages). keyed
// gives each message an idempotency_key of its own, as the sender SDKs do,
// claimed in the memory store (herald dev's) or in Redis (the test's, as
// herald serve with --redis-addr); each request's keys are new.
func BenchmarkMessageBatch(b *testing.B) {
	for _, v := range []struct {
		name  string
		keyed bool
		redis bool
	}{{"plain", false, false}, {"keyed", true, false}, {"keyed-redis", true, true}} {
		keyed := v.keyed
		b.Run(v.name, func(b *testing.B) {
			a := mustAsyncAPI(b, func(c *Config) {
				c.MaxBodyBytes = 1 << 20
				if v.redis {
					client, prefix := testenv.RedisClient(b)
					c.Idempotency = processor.NewRedisIdempotency(client, prefix)
				}
			})
			hb := a.stack.newHandlerBench(b, "/v1/messages/batch")
			var body []byte
			req := 0
			b.ReportAllocs()
			for b.Loop() {
				body = append(body[:0], `{"messages":[`...)
				for i := range 20 {
					if i > 0 {
						body = append(body, ',')
					}
					body = fmt.Appendf(body, `{"to":{"account":"a%04x","device":"d"},"type":"notification.v1","payload":{"title":"bench-%d"}`, i, i)
					if keyed {
						body = fmt.Appendf(body, `,"idempotency_key":"k-%d-%d"`, req, i)
					}
					body = append(body, '}')
				}
				body = append(body, "]}"...)
				req++
				hb.do(b, body)
				a.queue.mu.Lock()
				a.queue.msgs = a.queue.msgs[:0]
				a.queue.mu.Unlock()
			}
		})
	}
}
