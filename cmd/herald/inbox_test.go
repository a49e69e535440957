package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// TestAsyncStoreAndForward sends through `herald dev` (its embedded Kafka) to a
// device that is offline: the message's device outcome is queued, the device
// gets it from its inbox when it connects, and the status moves on to
// delivered. Then the status of a stored sync push (queued, delivered, acked,
// as herald status prints them), two async sends with one collapse key
// (collapsed, the newer delivered) and a push that expires in the inbox.
func TestAsyncStoreAndForward(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald dev")
	}
	dev := mustDev(t)
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, dev.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+settings.DevAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := call(http.MethodPost, "/v1/messages", `{"to":{"account":"a1","device":"tv7"},"type":"notification.v1","payload":{"title":"later"},"ttl":600}`)
	var sent struct{ ID string }
	if err := json.Unmarshal(body, &sent); code != http.StatusAccepted || err != nil {
		t.Fatalf("POST /v1/messages: %d %s", code, body)
	}
	waitFor(t, "the device's outcome queued", func() bool {
		code, body := call(http.MethodGet, "/v1/messages/"+sent.ID, "")
		var st processor.MessageStatus
		_ = json.Unmarshal(body, &st)
		return code == http.StatusOK && st.Status == processor.Queued && len(st.Devices) == 1 &&
			st.Devices[0].Device == "tv7" && st.Devices[0].Status == processor.Queued
	})

	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	connect := func(device string) *clusterDevice {
		t.Helper()
		tok, err := iss.Issue("a1", device, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws://"+dev.addr+"/v1/connect", &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		d := &clusterDevice{c: c}
		if _, ok := d.next(t).(*protocol.Welcome); !ok {
			t.Fatal("no welcome")
		}
		return d
	}
	// waitStatus waits until the message's status is want, with device's
	// outcome want too.
	waitStatus := func(id, device string, want processor.Outcome) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%s of %s for %s", want, id, device), func() bool {
			code, body := call(http.MethodGet, "/v1/messages/"+id, "")
			var st processor.MessageStatus
			_ = json.Unmarshal(body, &st)
			return code == http.StatusOK && st.Status == want && len(st.Devices) == 1 &&
				st.Devices[0].Device == device && st.Devices[0].Status == want
		})
	}
	push := func(device, extra string) string {
		t.Helper()
		code, body := call(http.MethodPost, "/v1/push", `{"to":{"account":"a1","device":"`+device+`"},"type":"notification.v1","payload":{"title":"later"}`+extra+`}`)
		var out struct {
			ID      string
			Results []protocol.Result
		}
		if err := json.Unmarshal(body, &out); code != http.StatusOK || err != nil || len(out.Results) != 1 || out.Results[0].Status != protocol.StatusQueued {
			t.Fatalf("POST /v1/push to offline %s: %d %s; want queued", device, code, body)
		}
		return out.ID
	}

	d := connect("tv7")
	m, ok := d.next(t).(*protocol.Msg)
	if !ok || m.ID != sent.ID || m.Seq == 0 || m.TTL < 1 || m.TTL > 600 || m.From == nil || m.From.Service != "dev" {
		t.Fatalf("the device got %+v; want %s from its inbox", m, sent.ID)
	}
	waitStatus(sent.ID, "tv7", processor.Delivered)

	t.Run("a stored sync push: queued, delivered, acked; herald status shows each", func(t *testing.T) {
		id := push("tv8", `,"ack":true`)
		waitStatus(id, "tv8", processor.Queued)
		statusCLI := func() string {
			t.Helper()
			var out, errb strings.Builder
			if err := runStatus(t.Context(), []string{"--url", dev.base, id}, &out, &errb); err != nil {
				t.Fatalf("herald status: %v %s", err, errb.String())
			}
			return out.String()
		}
		if out := statusCLI(); !strings.Contains(out, ": queued\n") || !strings.Contains(out, "tv8") {
			t.Errorf("herald status before the device connects:\n%s", out)
		}
		d := connect("tv8")
		m, ok := d.next(t).(*protocol.Msg)
		if !ok || m.ID != id || !m.Ack {
			t.Fatalf("tv8 got %+v; want %s from its inbox", m, id)
		}
		waitStatus(id, "tv8", processor.Delivered)
		if out := statusCLI(); !strings.Contains(out, ": delivered\n") {
			t.Errorf("herald status once written:\n%s", out)
		}
		d.send(t, &protocol.Ack{ID: id})
		waitStatus(id, "tv8", processor.Acked)
		// Its steps, in the order they happened.
		out := statusCLI()
		q, dl, ak := strings.Index(out, "tv8: queued +"), strings.Index(out, ", delivered +"), strings.Index(out, ", acked +")
		if q < 0 || dl < q || ak < dl {
			t.Errorf("herald status once acked, want the device's steps queued, delivered, acked:\n%s", out)
		}
	})

	t.Run("two separate async sends with one collapse key: the newer replaces the older in the inbox", func(t *testing.T) {
		send := func(title string) string {
			t.Helper()
			code, body := call(http.MethodPost, "/v1/messages", `{"to":{"account":"a1","device":"tv11"},"type":"notification.v1","payload":{"title":"`+title+`"},"collapse_key":"score"}`)
			var sent struct{ ID string }
			if err := json.Unmarshal(body, &sent); code != http.StatusAccepted || err != nil {
				t.Fatalf("POST /v1/messages: %d %s", code, body)
			}
			return sent.ID
		}
		older := send("1-0")
		waitStatus(older, "tv11", processor.Queued)
		newer := send("2-0")
		waitStatus(newer, "tv11", processor.Queued)
		waitStatus(older, "tv11", processor.Collapsed)
		d := connect("tv11")
		if m, ok := d.next(t).(*protocol.Msg); !ok || m.ID != newer {
			t.Fatalf("tv11 got %+v; want only the newer %s", m, newer)
		}
		waitStatus(newer, "tv11", processor.Delivered)
	})

	t.Run("a stored push that expires before its device connects: expired", func(t *testing.T) {
		id := push("tv9", `,"ttl":1`)
		waitStatus(id, "tv9", processor.Queued)
		time.Sleep(1100 * time.Millisecond)
		d := connect("tv9")
		waitStatus(id, "tv9", processor.Expired)
		// Nothing but what is sent now reaches the device.
		code, body := call(http.MethodPost, "/v1/push", `{"to":{"account":"a1","device":"tv9"},"type":"notification.v1","payload":{"title":"now"}}`)
		if code != http.StatusOK {
			t.Fatalf("push: %d %s", code, body)
		}
		if m, ok := d.next(t).(*protocol.Msg); !ok || m.ID == id {
			t.Fatalf("tv9 got %+v; want only the live push, not the expired %s", m, id)
		}
	})
}
