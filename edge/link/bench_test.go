package link

import (
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// linkBenchMsg is the message of the link codec benchmarks: a device-to-device
// message like those of edge's BenchmarkD2DLatency.
var linkBenchMsg = &protocol.Msg{
	ID: "01JD2Z4X7QH8K3M5N6P7R8S9T0", Type: "playback.control.v1", From: &protocol.Sender{Device: "phone1"},
	TS: 1763884800123, TTL: 30, Ack: true,
	Payload: []byte(`{"action":"seek","position_ms":120000,"title_id":"81234567"}`),
}

// BenchmarkLinkEncodeMsg measures encoding the msg frame sent over a link for
// every delivery to another edge, into a pooled buffer.
func BenchmarkLinkEncodeMsg(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		f := GetFrame()
		var err error
		*f, err = AppendMsg(*f, "a1", 9999, "tv1", "", linkBenchMsg)
		if err != nil {
			b.Fatal(err)
		}
		PutFrame(f)
	}
}

// BenchmarkLinkDecodeMsg measures decoding a link's msg frame on the far edge;
// the message's strings and payload are its only allocations.
func BenchmarkLinkDecodeMsg(b *testing.B) {
	data, err := AppendMsg(nil, "a1", 9999, "tv1", "", linkBenchMsg)
	if err != nil {
		b.Fatal(err)
	}
	var sc Scanner
	var in InMsg
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := sc.DecodeMsg(data, &in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinkEncodeResult measures encoding the receipt that answers a
// delivery over a link.
func BenchmarkLinkEncodeResult(b *testing.B) {
	r := protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}
	b.ReportAllocs()
	for b.Loop() {
		f := GetFrame()
		*f = AppendReceipt(*f, linkBenchMsg.ID, &r)
		PutFrame(f)
	}
}

// BenchmarkLinkDecodeResult measures decoding that receipt on the sending edge.
func BenchmarkLinkDecodeResult(b *testing.B) {
	data := AppendReceipt(nil, linkBenchMsg.ID, &protocol.Result{Device: "tv1", Status: protocol.StatusDelivered})
	var sc Scanner
	var lr Result
	b.ReportAllocs()
	for b.Loop() {
		if err := sc.DecodeReceipt(data, &lr); err != nil {
			b.Fatal(err)
		}
	}
}
