package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// batchSeeds are batch bodies in and out of the plain form.
var batchSeeds = []string{
	`{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"1"}},{"to":{"account":"a2"},"type":"notification.v1","payload":{"title":"2"},"priority":"high","ttl":60,"ack":true,"collapse_key":"k"}]}`,
	"{ \"messages\" : [\n  { \"to\" : { \"account\" : \"a1\" , \"device\" : null } , \"type\" : \"t\" , \"payload\" : [ 1 , \"x\\u00e9\" , 2.5e3 ] }\n] }\n",
	`{"messages":[]}`, `{"messages":null}`, `{"messages":[null]}`, `{"messages":[{}]}`, `{}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","payload":null,"ack":false,"ttl":0,"priority":"urgent"}]}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","payload":"text","idempotency_key":"k1"}]}`,
	`{"messages":[{"to":{"account":"a1"},"TYPE":"t","payload":{}}]}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","type":"u","payload":{}}]}`,
	`{"messages":[{"to":{"account":"a1","account":"a2"},"type":"t","payload":{}}]}`,
	`{"messages":[{"to":{"account":"a\u0031"},"type":"t","payload":{}}]}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","payload":{},"ttl":1.0}]}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","payload":{},"ttl":99999999999999999999}]}`,
	`{"messages":[{"to":{"account":"a1"},"type":"t","payload":{}}],"messages":[]}`,
	`{"messages":[{"to":{"account":"a1","device_id":"d"},"type":"t","payload":{}}]}`,
	"{\"messages\":[{\"to\":{\"account\":\"\xff\"},\"type\":\"t\",\"payload\":{}}]}",
}

// FuzzDecodeMessageBatch holds decodeMessageBatch to encoding/json with the
// fields check: a body it takes, they take, with the same result, and each
// message's text is the raw message encoding/json reads.
func FuzzDecodeMessageBatch(f *testing.F) {
	addSeeds(f, batchSeeds...)
	addSeeds(f, malformedSeeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		var plain MessageBatchRequest
		texts, ok := decodeMessageBatch(body, &plain)
		if !ok {
			return
		}
		var raw struct{ Messages []json.RawMessage }
		if err := json.Unmarshal(body, &raw); err != nil || texts != nil && len(raw.Messages) != len(texts) {
			t.Fatalf("decodeMessageBatch(%q) has %d texts; encoding/json reads %d raw messages (%v)", body, len(texts), len(raw.Messages), err)
		}
		for i, m := range plain.Messages {
			switch {
			case m.IdempotencyKey != "" && (texts == nil || texts[i] == nil):
				t.Fatalf("decodeMessageBatch(%q): keyed message %d without its text", body, i)
			case texts != nil && texts[i] != nil && string(texts[i]) != string(raw.Messages[i]):
				t.Fatalf("decodeMessageBatch(%q): message %d's text %q, encoding/json's %q", body, i, texts[i], raw.Messages[i])
			}
		}
		var want MessageBatchRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("decodeMessageBatch took %q, which encoding/json refuses: %v", body, err)
		}
		if p := messageBatchFields.check(body); p != nil {
			t.Fatalf("decodeMessageBatch took %q, which the fields check refuses: %s", body, p.Detail)
		}
		if !reflect.DeepEqual(plain, want) {
			t.Fatalf("decodeMessageBatch(%q) = %+v, encoding/json's %+v", body, plain, want)
		}
	})
}

func TestDecodeMessageBatchPlain(t *testing.T) {
	for _, tt := range []struct {
		name  string
		body  string
		plain bool // decodeMessageBatch takes it; the others go to encoding/json
	}{
		{"compact", batchSeeds[0], true},
		{"with whitespace", batchSeeds[1], true},
		{"empty list", `{"messages":[]}`, true},
		{"null list", `{"messages":null}`, false},
		{"null message", `{"messages":[null]}`, false},
		{"idempotency key", batchSeeds[8], true},
		{"idempotency key with an escape", `{"messages":[{"to":{"account":"a1"},"type":"t","payload":{},"idempotency_key":"k\u0031"}]}`, false},
		{"name in another case", batchSeeds[9], false},
		{"member twice", batchSeeds[10], false},
		{"escape in a string", batchSeeds[12], false},
		{"ttl with a fraction", batchSeeds[13], false},
		{"unknown member", batchSeeds[16], false},
		{"invalid UTF-8", batchSeeds[17], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var plain MessageBatchRequest
			if _, got := decodeMessageBatch([]byte(tt.body), &plain); got != tt.plain {
				t.Fatalf("decodeMessageBatch(%q) = %v, want %v", tt.body, got, tt.plain)
			}
			// Either way, decodeBatchRequest makes what encoding/json makes,
			// with the messages' texts when it read them plainly.
			var got, want MessageBatchRequest
			texts, ok := decodeBatchRequest([]byte(tt.body), &got)
			if keyed := strings.Contains(tt.body, "idempotency_key"); (texts != nil) != (tt.plain && keyed) {
				t.Fatalf("decodeBatchRequest(%q) gave texts %q, want them only for keyed messages read plainly", tt.body, texts)
			}
			wantOK := json.Unmarshal([]byte(tt.body), &want) == nil && messageBatchFields.check([]byte(tt.body)) == nil
			if ok != wantOK || ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeBatchRequest(%q) = %+v, %v; want %+v, %v", tt.body, got, ok, want, wantOK)
			}
		})
	}
}

func TestDecodeMessageBatchPayloadIsBodys(t *testing.T) {
	body := []byte(`{"messages":[{"to":{"account":"a1"},"type":"t","payload":{"x":1}}]}`)
	var req MessageBatchRequest
	texts, ok := decodeMessageBatch(body, &req)
	if !ok {
		t.Fatal("not taken")
	}
	if texts != nil {
		t.Fatalf("texts %q without a key", texts)
	}
	p := req.Messages[0].Payload
	if string(p) != `{"x":1}` || cap(p) != len(p) {
		t.Fatalf("payload %q with cap %d: want {\"x\":1} capped at its length, so that an append copies", p, cap(p))
	}
	if !strings.Contains(string(body), string(p)) {
		t.Fatal("payload not from the body")
	}
}

// TestDecodeMessageBatchTexts: the texts start at the first keyed message,
// each a part of the body capped at its length.
func TestDecodeMessageBatchTexts(t *testing.T) {
	msgs := []string{
		`{"to":{"account":"a1"},"type":"t","payload":{"x":1}}`,
		`{"to":{"account":"a2"},"type":"t","payload":{},"idempotency_key":"k2"}`,
		`{ "to" : {"account":"a3"}, "type":"t", "payload":[] }`,
	}
	body := []byte("{\"messages\":[ " + strings.Join(msgs, " ,\n") + " ]}")
	var req MessageBatchRequest
	texts, ok := decodeMessageBatch(body, &req)
	if !ok || len(texts) != 3 {
		t.Fatalf("decodeMessageBatch = %q, %v; want 3 texts", texts, ok)
	}
	if texts[0] != nil {
		t.Errorf("a text %q before the first keyed message", texts[0])
	}
	for i := 1; i < 3; i++ {
		if string(texts[i]) != msgs[i] || cap(texts[i]) != len(texts[i]) {
			t.Errorf("text %d %q (cap %d), want %q capped at its length", i, texts[i], cap(texts[i]), msgs[i])
		}
	}
}
