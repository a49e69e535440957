package processor

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// eventShapes are the shapes of Event the processor, the producer and the
// edges write: every optional field set and not, and strings that
// encoding/json escapes.
func eventShapes() map[string]Event {
	return map[string]Event{
		"empty":            {},
		"accepted":         {ID: "01J0", Account: "acme", Status: Queued, Priority: protocol.PriorityNormal, At: 1700000000000},
		"accepted topic":   {ID: "01J0", Topic: "scores", Status: Queued, Priority: protocol.PriorityHigh, At: 1},
		"delivered":        {ID: "01J0", Account: "acme", Device: "tv", Status: Delivered, Priority: protocol.PriorityLow, At: 1700000000123},
		"offline account":  {ID: "01J0", Account: "acme", Status: Offline, Priority: protocol.PriorityNormal, At: 5},
		"failed":           {ID: "01J0", Account: "acme", Device: "tv", Status: Failed, Error: "timeout: the message could not be written in time", Priority: protocol.PriorityNormal, At: 9},
		"queued stored":    {ID: "01J0", Account: "acme", Device: "tv", Status: Queued, Priority: protocol.PriorityNormal, At: 9, Expires: 1700002419200},
		"no priority":      {ID: "01J0", Account: "acme", Device: "tv", Status: Dropped, At: 9},
		"negative at":      {ID: "x", Account: "a", Status: Expired, At: -42, Expires: -1},
		"published":        {ID: "01J0", Topic: "scores", Status: Published, Priority: protocol.PriorityNormal, At: 7, Published: &protocol.PublishResult{Edges: 2, Devices: 10, Dropped: 1, Regions: 1, Seq: 99}},
		"published failed": {ID: "01J0", Topic: "scores", Status: Published, At: 7, Published: &protocol.PublishResult{Failed: []protocol.EdgeFailure{{Edge: "edge-2", Error: "dial: <refused> & gone"}}}},
		"published zero":   {ID: "01J0", Topic: "scores", Status: Published, At: 7, Published: &protocol.PublishResult{}},
		"escapes":          {ID: "a\"b\\c", Account: "<acme>&", Device: "tv\n\t\r\b\f\x00\x1f", Status: Failed, Error: "bad \xff utf-8 \u2028\u2029 é 😀", At: 1},
		"all":              {ID: "i", Account: "a", Device: "d", Topic: "t", Published: &protocol.PublishResult{Edges: 1}, Status: Failed, Error: "e", Priority: "p", At: 2, Expires: 3},
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for name, e := range eventShapes() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendEvent([]byte("prefix"), &e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("appendEvent:\n got %s\nwant prefix%s", got, want)
			}
		})
	}
}

func FuzzAppendEvent(f *testing.F) {
	for _, e := range eventShapes() {
		f.Add(e.ID, e.Account, e.Device, e.Topic, e.Error, string(e.Status), e.At, e.Expires, e.Published != nil)
	}
	f.Fuzz(func(t *testing.T, id, account, device, topic, errText, status string, at, expires int64, published bool) {
		e := Event{ID: id, Account: account, Device: device, Topic: topic, Error: errText, Status: Outcome(status), At: at, Expires: expires}
		if published {
			e.Published = &protocol.PublishResult{Edges: len(id), Failed: []protocol.EdgeFailure{{Edge: device, Error: errText}}}
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendEvent(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
		}
	})
}
