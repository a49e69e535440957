package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// nudges records the devices the API nudged; err, when set, is what each
// nudge returns.
type nudges struct {
	mu  sync.Mutex
	got []string // account/device
	err error
}

func (n *nudges) Nudge(_ context.Context, account, device string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, account+"/"+device)
	return n.err
}

func (n *nudges) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	got := n.got
	n.got = nil
	return got
}

// TestPushNudgesAfterStoring checks that a sync push stored for an offline
// device (queued) nudges the device's edge once, single or in a batch, and
// that nothing else does: a push answered offline or delivered, a put of a
// message the inbox already holds. A failed nudge leaves the push queued.
func TestPushNudgesAfterStoring(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := &nudges{}
	st := mustStackWith(t, func(c *Config) { c.Inbox, c.Nudger = box, n })
	st.mustDevice(t, "a1", "tv1")

	for _, tt := range []struct {
		name, body string
		status     protocol.Status
		nudged     []string
	}{
		{"stored", `{"to":{"account":"a1","device":"off1"},"type":"notification.v1","payload":{"title":"a"}}`, protocol.StatusQueued, []string{"a1/off1"}},
		{"ttl 0 is not stored", `{"to":{"account":"a1","device":"off2"},"type":"notification.v1","payload":{"title":"a"},"ttl":0}`, protocol.StatusOffline, nil},
		{"delivered", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"a"}}`, protocol.StatusDelivered, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr := st.mustPushOK(t, tt.body)
			if len(pr.Results) != 1 || pr.Results[0].Status != tt.status {
				t.Fatalf("results %+v, want one %s", pr.Results, tt.status)
			}
			if got := n.take(); !slices.Equal(got, tt.nudged) {
				t.Fatalf("nudged %v, want %v", got, tt.nudged)
			}
		})
	}

	t.Run("batch", func(t *testing.T) {
		resp, b := st.do(t, http.MethodPost, "/v1/push/batch", testAPIKey, []byte(`{"messages":[
			{"to":{"account":"a1","device":"off3"},"type":"notification.v1","payload":{"title":"a"}},
			{"to":{"account":"a1","device":"off4"},"type":"notification.v1","payload":{"title":"a"}}]}`))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", resp.StatusCode, b)
		}
		got := n.take()
		slices.Sort(got)
		if want := []string{"a1/off3", "a1/off4"}; !slices.Equal(got, want) {
			t.Fatalf("nudged %v, want %v", got, want)
		}
	})

	t.Run("duplicate put", func(t *testing.T) {
		m := &protocol.Msg{ID: "dup1", Type: "notification.v1", From: &protocol.Sender{Service: "backend"}}
		for i, want := range [][]string{{"a1/off5"}, nil} {
			if res := st.api.store(t.Context(), st.api.cfg.Now(), "a1", "off5", m, time.Hour); res.Status != protocol.StatusQueued {
				t.Fatalf("put %d: %+v, want queued", i, res)
			}
			if got := n.take(); !slices.Equal(got, want) {
				t.Fatalf("put %d nudged %v, want %v", i, got, want)
			}
		}
	})

	t.Run("failed nudge", func(t *testing.T) {
		n.mu.Lock()
		n.err = errors.New("registry unreachable")
		n.mu.Unlock()
		pr := st.mustPushOK(t, `{"to":{"account":"a1","device":"off6"},"type":"notification.v1","payload":{"title":"a"}}`)
		if len(pr.Results) != 1 || pr.Results[0].Status != protocol.StatusQueued {
			t.Fatalf("results %+v, want queued: the push is stored whatever the nudge", pr.Results)
		}
		if got := n.take(); !slices.Equal(got, []string{"a1/off6"}) {
			t.Fatalf("nudged %v", got)
		}
	})
}
