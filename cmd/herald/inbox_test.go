package main

import (
	"context"
	"encoding/json"
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
// device that is offline: the message's device outcome is queued, and the
// device gets it from its inbox when it connects.
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
	tok, err := iss.Issue("a1", "tv7", time.Hour)
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
	defer c.CloseNow()
	d := &clusterDevice{c: c}
	if _, ok := d.next(t).(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	m, ok := d.next(t).(*protocol.Msg)
	if !ok || m.ID != sent.ID || m.Seq == 0 || m.TTL < 1 || m.TTL > 600 || m.From == nil || m.From.Service != "dev" {
		t.Fatalf("the device got %+v; want %s from its inbox", m, sent.ID)
	}
}
