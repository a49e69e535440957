package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestClusterStoreAndForward runs an edge and an API-only process of `herald
// serve` on one Redis: a push to a device that is not connected is queued in
// its inbox in Redis, arrives right after the welcome when the device
// connects to the edge, and not again on its next connection.
func TestClusterStoreAndForward(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "store-test:", "--cluster-key", clusterKey}
	edge := startProc(t, "edge", append([]string{"--roles=edge", "--edge-id", "edge-1", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey}, common...)...)

	pushBody := func(body string) (string, protocol.Result) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+api.addr+"/v1/push", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.SplitN(clusterAPIKey, ":", 2)[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			ID      string
			Results []protocol.Result
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || len(out.Results) != 1 {
			t.Fatalf("push: %s %s", resp.Status, b)
		}
		return out.ID, out.Results[0]
	}

	id, res := pushBody(`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"stored"}}`)
	if res.Status != protocol.StatusQueued {
		t.Fatalf("push to an offline device: %+v, want queued", res)
	}
	tv := dialDevice(t, edge.addr, "a1", "tv1")
	m, ok := tv.next(t).(*protocol.Msg)
	if !ok || m.ID != id || m.Seq == 0 || m.From == nil || m.From.Service != "backend" {
		t.Fatalf("after the welcome got %+v, want the stored push %s with a seq", m, id)
	}
	_ = tv.c.CloseNow()

	// The next connection, resuming after the stored message's seq as the
	// SDKs do, gets only what is sent after it. (The edge removes a written
	// message from the inbox after the write; a device that closes at once
	// may race that removal, and its cursor is what skips the message then.)
	tv = dialDeviceQuery(t, edge.addr, "a1", "tv1", fmt.Sprintf("after=%d", m.Seq))
	id, res = pushBody(`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"live"}}`)
	if res.Status != protocol.StatusDelivered {
		t.Fatalf("push to the connected device: %+v", res)
	}
	if m, ok := tv.next(t).(*protocol.Msg); !ok || m.ID != id || m.Seq != 0 {
		t.Fatalf("second connection got %+v first, want the live push %s", m, id)
	}
}
