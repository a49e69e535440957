package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

// playbackSchema is shaped like schemas/playback.control.v1.json (which protocol
// cannot import) for benchmarks and fuzzing.
var playbackSchema = schemaDoc(`{"directions":["device_to_device","service_to_device"],"priority":"high","ttl":30,"ack":true,"description":"playback"}`,
	`"additionalProperties":false,"required":["action"],
	"properties":{
		"action":{"enum":["play","pause","seek","volume","stop"]},
		"position_ms":{"type":"integer","minimum":0},
		"volume":{"type":"integer","minimum":0,"maximum":100},
		"title_id":{"type":"string","minLength":1}},
	"allOf":[
		{"if":{"properties":{"action":{"const":"seek"}},"required":["action"]},"then":{"required":["position_ms"]}},
		{"if":{"properties":{"action":{"const":"volume"}},"required":["action"]},"then":{"required":["volume"]}}]`)

var benchMsg = []byte(`{"t":"msg","id":"01JD2Z4X7QH8K3M5N6P7R8S9T0","type":"playback.control.v1","to":{"device":"tv1"},"ttl":30,"ack":true,"payload":{"action":"seek","position_ms":120000,"title_id":"81234567"}}`)

func BenchmarkDecodeMsg(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMsg)))
	for b.Loop() {
		if _, err := Decode(benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAck(b *testing.B) {
	data := []byte(`{"t":"ack","id":"01JD2Z4X7QH8K3M5N6P7R8S9T0"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMsg(b *testing.B) {
	m := &Msg{
		ID: "01JD2Z4X7QH8K3M5N6P7R8S9T0", Type: "playback.control.v1", From: &Sender{Device: "phone1"},
		TS: 1763884800123, TTL: 30, Ack: true,
		Payload: json.RawMessage(`{"action":"seek","position_ms":120000,"title_id":"81234567"}`),
	}
	// "checked": the payload marked valid (PayloadValid), as the processor
	// does for the messages it decoded; "unchecked": scanned again.
	for _, valid := range []bool{false, true} {
		name := "payload=unchecked"
		if valid {
			name = "payload=checked"
		}
		b.Run(name, func(b *testing.B) {
			m := *m
			if valid {
				m.PayloadValid()
			}
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = AppendEncode(buf[:0], &m)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkEncodeReceipt(b *testing.B) {
	r := &Receipt{ID: "01JD2Z4X7QH8K3M5N6P7R8S9T0", Results: []Result{{Device: "tv1", Status: StatusDelivered}, {Device: "tab1", Status: StatusOffline}}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendEncode(buf[:0], r)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	typ := mustParseType(b, "playback.control.v1", playbackSchema)
	payload := []byte(`{"action":"seek","position_ms":120000,"title_id":"81234567"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := typ.Validate(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePayload compares the two ways decodePayload reads a payload
// for its schema check: plainValue, and the json.Decoder it falls back to.
func BenchmarkDecodePayload(b *testing.B) {
	payload := []byte(`{"title":"Your show is back","body":"Season 3 is out now.","deep_link":"app://title/81234567","data":{"campaign":"s3","n":"12"}}`)
	for _, c := range []struct {
		name   string
		decode func([]byte) (any, error)
	}{
		{"plainValue", func(p []byte) (any, error) {
			v, ok := plainValue(p)
			if !ok {
				return nil, errors.New("not plain")
			}
			return v, nil
		}},
		{"json.Decoder", decoderValue},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := c.decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
