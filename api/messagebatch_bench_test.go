package api

import (
	"fmt"
	"testing"
)

// BenchmarkMessageBatch measures the request's own work in POST
// /v1/messages/batch, 20 messages a request, through the API handler: decoding,
// checking, the settling of each message and the queued statuses in the
// memory store, without Kafka (a queue that records the messages).
func BenchmarkMessageBatch(b *testing.B) {
	a := mustAsyncAPI(b, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	var body []byte
	body = append(body, `{"messages":[`...)
	for i := range 20 {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"to":{"account":"a%04x","device":"d"},"type":"notification.v1","payload":{"title":"bench-%d"}}`, i, i)
	}
	body = append(body, "]}"...)
	hb := a.stack.newHandlerBench(b, "/v1/messages/batch")
	b.ReportAllocs()
	for b.Loop() {
		hb.do(b, body)
		a.queue.mu.Lock()
		a.queue.msgs = a.queue.msgs[:0]
		a.queue.mu.Unlock()
	}
}
