package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// restCall makes one REST call with the cluster API key and returns the
// status, the Content-Type and the body.
func restCall(t *testing.T, addr, method, path, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.SplitN(clusterAPIKey, ":", 2)[1])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestMisspeltPushTargets pushes misspelt targets through a real herald
// process to an account whose two devices are connected over WebSocket
// (docs/security.md, "Senders"): each push is refused with a 400 problem that
// names the field, neither device receives anything, and a correct push
// reaches only the device it names.
func TestMisspeltPushTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	p := startProc(t, "serve", "--roles=edge,api", "--edge-id", "edge-1", "--token-secret", clusterSecret, "--api-keys", clusterAPIKey)
	d1 := dialDevice(t, p.addr, "bc", "d1")
	d2 := dialDevice(t, p.addr, "bc", "d2")

	msg := `"type":"notification.v1","payload":{"title":"typo"}`
	for _, tt := range []struct {
		name, body, field string
	}{
		{"devices in to", `{"to":{"account":"bc","devices":["d1"]},` + msg + `}`, `"to.devices"`},
		{"device_id in to", `{"to":{"account":"bc","device_id":"d1"},` + msg + `}`, `"to.device_id"`},
		{"an empty device", `{"to":{"account":"bc","device":""},` + msg + `}`, `"to.device"`},
		{"a null device", `{"to":{"account":"bc","device":null},` + msg + `}`, `"to.device"`},
		{"an invalid device id", `{"to":{"account":"bc","device":"d1 d2"},` + msg + `}`, `"to.device"`},
		{"payload misspelt", `{"to":{"account":"bc","device":"d1"},"type":"notification.v1","paylod":{"title":"typo"}}`, `"paylod"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, ct, b := restCall(t, p.addr, http.MethodPost, "/v1/push", tt.body)
			var pr protocol.Problem
			if code != http.StatusBadRequest || ct != protocol.ProblemContentType || json.Unmarshal(b, &pr) != nil {
				t.Fatalf("HTTP %d %s %s, want a 400 problem", code, ct, b)
			}
			if pr.Code != protocol.CodeBadRequest || !strings.Contains(pr.Detail, tt.field) {
				t.Errorf("problem %+v, want bad_request naming %s", pr, tt.field)
			}
		})
	}
	t.Run("a misspelt batch message is refused alone", func(t *testing.T) {
		code, _, b := restCall(t, p.addr, http.MethodPost, "/v1/push/batch",
			`{"messages":[{"to":{"account":"bc","device_id":"d2"},`+msg+`}]}`)
		var br struct {
			Results []struct {
				Error *protocol.Problem `json:"error"`
			} `json:"results"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &br) != nil || len(br.Results) != 1 || br.Results[0].Error == nil ||
			br.Results[0].Error.Status != http.StatusBadRequest || !strings.Contains(br.Results[0].Error.Detail, `"to.device_id"`) {
			t.Fatalf("HTTP %d %s, want the message's 400 naming to.device_id", code, b)
		}
	})

	t.Run("a correct push reaches only the named device", func(t *testing.T) {
		push := func(device string) string {
			t.Helper()
			code, _, b := restCall(t, p.addr, http.MethodPost, "/v1/push",
				`{"to":{"account":"bc","device":"`+device+`"},"type":"notification.v1","payload":{"title":"ok"},"timeout_ms":5000}`)
			var pr struct {
				ID      string            `json:"id"`
				Results []protocol.Result `json:"results"`
			}
			if code != http.StatusOK || json.Unmarshal(b, &pr) != nil {
				t.Fatalf("push to %s: HTTP %d %s", device, code, b)
			}
			if want := []protocol.Result{{Device: device, Status: protocol.StatusDelivered}}; !slices.Equal(pr.Results, want) {
				t.Fatalf("push to %s: results %+v, want %+v", device, pr.Results, want)
			}
			return pr.ID
		}
		// Each device's first msg is the one pushed to it now: none of the
		// refused pushes, and not the other device's.
		id1 := push("d1")
		if m := nextOf[*protocol.Msg](t, d1); m.ID != id1 {
			t.Errorf("d1 got msg %s (%s), want %s", m.ID, m.Payload, id1)
		}
		id2 := push("d2")
		if m := nextOf[*protocol.Msg](t, d2); m.ID != id2 {
			t.Errorf("d2 got msg %s (%s), want %s", m.ID, m.Payload, id2)
		}
	})
}
