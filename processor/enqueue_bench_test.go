package processor

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// BenchmarkEnqueueBatch is one EnqueueBatch of 20 messages to a kfake
// cluster in the same process, one after the other: the produce round trip
// of a POST /v1/messages/batch, its queued events included, on every core
// the process has.
func BenchmarkEnqueueBatch(b *testing.B) {
	prod, _ := mustProducer(b, 10*time.Second, Topics{}.All()...)
	ms := make([]*Message, 20)
	for i := range ms {
		ms[i] = &Message{ID: "m" + strconv.Itoa(i), Account: "a" + strconv.Itoa(i), Device: "d", Type: "notification.v1",
			Payload: json.RawMessage(`{"title":"hello"}`), Priority: protocol.PriorityNormal, Accepted: 1}
	}
	for _, err := range prod.EnqueueBatch(b.Context(), ms) { // the topics' metadata, the producer id
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, err := range prod.EnqueueBatch(b.Context(), ms) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
