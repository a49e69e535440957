package processor

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

func TestMessageStatusWriteText(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(d time.Duration) int64 { return at.Add(d).UnixMilli() }
	stamp := func(d time.Duration) string { return time.UnixMilli(ms(d)).Format(time.RFC3339Nano) }
	for _, c := range []struct {
		name string
		st   MessageStatus
		want string
	}{
		{"queued", MessageStatus{ID: "m1", Account: "a1", Priority: "high", Status: "queued", Accepted: ms(0)},
			"message m1 to account a1, priority high: queued\naccepted " + stamp(0) + "\n"},
		{"a sync push stored, with steps", MessageStatus{ID: "m2", Account: "a1", Status: Mixed, Devices: []DeviceStatus{
			{Device: "tv1", Status: "acked", At: ms(2 * time.Second), History: []Step{{Status: "queued", At: ms(0)}, {Status: "acked", At: ms(2 * time.Second)}}},
			{Status: "expired", At: ms(time.Second), Error: "ttl"},
		}},
			"message m2 to account a1: mixed\n" +
				"DEVICE     STATUS   AT                    ERROR\n" +
				"tv1        acked    " + stamp(2*time.Second) + "  \n" +
				"(account)  expired  " + stamp(time.Second) + "  ttl\n" +
				"tv1: queued " + stamp(0) + ", acked " + stamp(2*time.Second) + "\n"},
		{"steps after acceptance", MessageStatus{ID: "m3", Account: "a1", Priority: "low", Status: "delivered", Accepted: ms(0), Devices: []DeviceStatus{
			{Device: "tv1", Status: "delivered", At: ms(time.Second), History: []Step{{Status: "queued", At: ms(10 * time.Millisecond)}, {Status: "delivered", At: ms(time.Second)}}},
		}},
			"message m3 to account a1, priority low: delivered\naccepted " + stamp(0) + "\n" +
				"DEVICE  STATUS     AT                    ERROR\n" +
				"tv1     delivered  " + stamp(time.Second) + "  \n" +
				"tv1: queued +10ms, delivered +1000ms\n"},
		{"topic", MessageStatus{ID: "m4", Topic: "news", Priority: "normal", Status: "published", Accepted: ms(0), At: ms(time.Second),
			Published: &protocol.PublishResult{Edges: 2, Devices: 5, Dropped: 1, Failed: []protocol.EdgeFailure{{Edge: "e3", Error: "timeout"}}}},
			"message m4 to topic news, priority normal: published\naccepted " + stamp(0) + "\nprocessed " + stamp(time.Second) + "\n" +
				"edges reached 2, devices 5, dropped 1, edges failed 1\n" +
				"FAILED EDGE  ERROR\n" +
				"e3           timeout\n"},
		{"topic failed", MessageStatus{ID: "m5", Topic: "news", Priority: "normal", Status: "failed", Error: "no edges"},
			"message m5 to topic news, priority normal: failed\nerror: no edges\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			if err := c.st.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
			}
		})
	}
}
