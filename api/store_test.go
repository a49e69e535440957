package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// TestPushStoresForOfflineDevice checks which sync pushes to an offline device
// are put in its inbox (queued) and which are answered offline, and what is
// stored.
func TestPushStoresForOfflineDevice(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := mustStackWith(t, func(c *Config) { c.Inbox = box })
	before := time.Now()

	tests := []struct {
		name   string
		body   string
		status protocol.Status
		keep   time.Duration // the stored message's expiry past the push, when queued
	}{
		{"type's store", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"a"}}`, protocol.StatusQueued, protocol.MaxStore * time.Second},
		{"ttl shortens", `{"to":{"account":"a1","device":"tv2"},"type":"notification.v1","payload":{"title":"a"},"ttl":60}`, protocol.StatusQueued, time.Minute},
		{"ttl cut to the store", `{"to":{"account":"a1","device":"tv3"},"type":"profile.updated.v1","payload":{"profile_id":"p","fields":["name"]},"ttl":2419200}`, protocol.StatusQueued, 24 * time.Hour},
		{"ttl 0 is now or never", `{"to":{"account":"a1","device":"tv4"},"type":"notification.v1","payload":{"title":"a"},"ttl":0}`, protocol.StatusOffline, 0},
		{"type without store", `{"to":{"account":"a1","device":"tv5"},"type":"playback.control.v1","payload":{"action":"pause"},"ack":false}`, protocol.StatusOffline, 0},
		{"ack is stored", `{"to":{"account":"a1","device":"tv6"},"type":"notification.v1","payload":{"title":"a"},"ack":true,"timeout_ms":100}`, protocol.StatusQueued, protocol.MaxStore * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := st.mustPushOK(t, tt.body)
			if len(pr.Results) != 1 || pr.Results[0].Status != tt.status {
				t.Fatalf("results %+v, want one %s", pr.Results, tt.status)
			}
			var req PushRequest
			if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
				t.Fatal(err)
			}
			page, err := box.Pending(context.Background(), "a1", req.To.Device.ID, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tt.status != protocol.StatusQueued {
				if len(page.Messages) != 0 {
					t.Errorf("stored %+v, want nothing", page.Messages)
				}
				return
			}
			if len(page.Messages) != 1 {
				t.Fatalf("stored %d messages, want 1", len(page.Messages))
			}
			m := page.Messages[0]
			ack := req.Ack != nil && *req.Ack
			if m.ID != pr.ID || m.Type != req.Type || m.From != `{"service":"`+testKeyName+`"}` || m.Ack != ack {
				t.Errorf("stored %+v, want push %s from %s, ack %v", m, pr.ID, testKeyName, ack)
			}
			if lo, hi := before.Add(tt.keep), time.Now().Add(tt.keep); m.Expires.Before(lo.Truncate(time.Millisecond)) || m.Expires.After(hi) {
				t.Errorf("expires %v, want between %v and %v", m.Expires, lo, hi)
			}
		})
	}

	t.Run("bad ttl", func(t *testing.T) {
		for _, ttl := range []string{"-1", "2419201", "1.5", `"60"`} {
			resp, b := st.push(t, `{"to":{"account":"a1","device":"tv7"},"type":"notification.v1","payload":{"title":"a"},"ttl":`+ttl+`}`)
			checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
		}
	})

	t.Run("batch", func(t *testing.T) {
		resp, b := st.do(t, http.MethodPost, "/v1/push/batch", testAPIKey, []byte(`{"messages":[
			{"to":{"account":"a1","device":"tv8"},"type":"notification.v1","payload":{"title":"a"}},
			{"to":{"account":"a1","device":"tv8"},"type":"notification.v1","payload":{"title":"a"},"ttl":-1}]}`))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", resp.StatusCode, b)
		}
		var br PushBatchResponse
		if err := json.Unmarshal(b, &br); err != nil {
			t.Fatal(err)
		}
		if len(br.Results) != 2 || len(br.Results[0].Results) != 1 || br.Results[0].Results[0].Status != protocol.StatusQueued || br.Results[1].Error == nil {
			t.Errorf("batch answered %s, want queued and a bad ttl", b)
		}
	})

	t.Run("unavailable inbox", func(t *testing.T) {
		down := mustStackWith(t, func(c *Config) { c.Inbox = downInbox{} })
		pr := down.mustPushOK(t, `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"a"}}`)
		want := []protocol.Result{{Device: "tv1", Status: protocol.StatusRejected, Error: string(protocol.CodeUnavailable)}}
		if !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
	})
}

// downInbox is an inbox whose store cannot be reached.
type downInbox struct{}

func (downInbox) Put(context.Context, inbox.Message) (inbox.PutResult, error) {
	return inbox.PutResult{}, inbox.ErrUnavailable
}

// TestAccountPushStoresForListedDevices checks that a push to a whole account,
// of a type that stores, reaches its connected devices and is stored for the
// devices of its device list that are not connected (queued), while a type
// that does not store reaches the connected devices only; and that an account
// whose device list cannot be read still gets its connected devices.
func TestAccountPushStoresForListedDevices(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := mustStackWith(t, func(c *Config) { c.Inbox = box })
	for _, d := range []string{"tv1", "tv2"} {
		if resp, b := st.do(t, http.MethodPut, "/v1/accounts/s1/devices/"+d, testAPIKey, []byte(`{"platform":"tv"}`)); resp.StatusCode/100 != 2 {
			t.Fatalf("listing %s: %d %s", d, resp.StatusCode, b)
		}
	}
	st.mustDevice(t, "s1", "tv1")
	st.mustDevice(t, "s1", "phone9") // connected, not listed

	sorted := func(rs []protocol.Result) []protocol.Result {
		slices.SortFunc(rs, func(a, b protocol.Result) int { return strings.Compare(a.Device, b.Device) })
		return rs
	}
	pr := st.mustPushOK(t, `{"to":{"account":"s1"},"type":"notification.v1","payload":{"title":"all"}}`)
	want := []protocol.Result{{Device: "phone9", Status: protocol.StatusDelivered}, {Device: "tv1", Status: protocol.StatusDelivered}, {Device: "tv2", Status: protocol.StatusQueued}}
	if got := sorted(pr.Results); !slices.Equal(got, want) {
		t.Fatalf("results %+v, want %+v", got, want)
	}
	page, err := box.Pending(context.Background(), "s1", "tv2", 0, 10)
	if err != nil || len(page.Messages) != 1 || page.Messages[0].ID != pr.ID {
		t.Fatalf("tv2's inbox %+v %v, want the push %s", page.Messages, err, pr.ID)
	}

	pr = st.mustPushOK(t, `{"to":{"account":"s1"},"type":"playback.control.v1","payload":{"action":"pause"},"ack":false}`)
	want = []protocol.Result{{Device: "phone9", Status: protocol.StatusDelivered}, {Device: "tv1", Status: protocol.StatusDelivered}}
	if got := sorted(pr.Results); !slices.Equal(got, want) {
		t.Fatalf("a type without store: results %+v, want %+v", got, want)
	}

	t.Run("batch", func(t *testing.T) {
		resp, b := st.do(t, http.MethodPost, "/v1/push/batch", testAPIKey, []byte(`{"messages":[
			{"to":{"account":"s1"},"type":"notification.v1","payload":{"title":"b"}}]}`))
		var br PushBatchResponse
		if err := json.Unmarshal(b, &br); resp.StatusCode != http.StatusOK || err != nil || len(br.Results) != 1 {
			t.Fatalf("HTTP %d %s", resp.StatusCode, b)
		}
		want := []protocol.Result{{Device: "phone9", Status: protocol.StatusDelivered}, {Device: "tv1", Status: protocol.StatusDelivered}, {Device: "tv2", Status: protocol.StatusQueued}}
		if got := sorted(br.Results[0].Results); !slices.Equal(got, want) {
			t.Fatalf("results %+v, want %+v", got, want)
		}
	})

	t.Run("device list unreadable", func(t *testing.T) {
		down := mustStackWith(t, func(c *Config) { c.Inbox, c.Devices = box, downDevices{c.Devices} })
		down.mustDevice(t, "s2", "tv1")
		pr := down.mustPushOK(t, `{"to":{"account":"s2"},"type":"notification.v1","payload":{"title":"all"}}`)
		want := []protocol.Result{{Device: "tv1", Status: protocol.StatusDelivered}}
		if !slices.Equal(pr.Results, want) {
			t.Fatalf("results %+v, want %+v", pr.Results, want)
		}
	})
}

// downDevices is a device store whose List fails.
type downDevices struct{ DeviceStore }

func (downDevices) List(context.Context, string) ([]devicelist.Device, error) {
	return nil, errors.New("device list down")
}
