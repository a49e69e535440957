package processor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

// brokenInbox is an Inbox whose Redis is down; it counts the puts tried.
type brokenInbox struct{ puts atomic.Int64 }

func (b *brokenInbox) Put(_ context.Context, m inbox.Message) (inbox.PutResult, error) {
	b.puts.Add(1)
	return inbox.PutResult{}, fmt.Errorf("inbox: put %s/%s: %w", m.Account, m.Device, inbox.ErrUnavailable)
}

// startStoring starts a pipeline whose processor stores in in, with the
// built-in types: notification.v1 is stored 28 days, profile.updated.v1 a day,
// playback.control.v1 not at all.
func startStoring(t *testing.T, in Inbox) *pipeline {
	t.Helper()
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, newRecorder("a1/tv1"), false)
	p.adjust = func(c *Config) { c.Inbox, c.Types = in, types }
	p.start(t)
	return p
}

func TestProcessorStoresForOfflineDevices(t *testing.T) {
	mem, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := startStoring(t, mem)
	hour := time.Now().Add(time.Hour).UnixMilli()
	for _, tt := range []struct {
		name string
		msg  Message
		want Outcome
		// keep is how long the stored message waits, about; 0: not stored.
		keep time.Duration
	}{
		{"ttl within store", Message{Device: "off1", From: "billing", CollapseKey: "score", Expires: hour}, Queued, time.Hour},
		{"no ttl takes store", Message{Device: "off2", Type: "profile.updated.v1"}, Queued, 24 * time.Hour},
		{"type without store", Message{Device: "off3", Type: "playback.control.v1", Expires: hour}, Offline, 0},
		{"ack is stored", Message{Device: "off4", Ack: true, Expires: hour}, Queued, time.Hour},
		{"whole account", Message{Account: "a2", Expires: hour}, Offline, 0},
		{"online device", Message{Device: "tv1", Expires: hour}, Delivered, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.msg.Account == "" {
				tt.msg.Account = "a1"
			}
			m := p.send(t, tt.msg)
			p.waitStatus(t, m.ID, m.Device, tt.want)
			if m.Device == "" {
				return
			}
			page, err := mem.Pending(t.Context(), m.Account, m.Device, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tt.keep == 0 {
				if len(page.Messages) != 0 {
					t.Fatalf("inbox holds %+v; want nothing", page.Messages)
				}
				return
			}
			if len(page.Messages) != 1 {
				t.Fatalf("inbox holds %d messages; want 1", len(page.Messages))
			}
			got := page.Messages[0]
			if got.ID != m.ID || got.Type != m.Type || got.CollapseKey != m.CollapseKey || got.Priority != m.Priority || got.Ack != m.Ack ||
				string(got.Payload) != string(m.Payload) || got.Enqueued.UnixMilli() != m.Accepted {
				t.Errorf("stored %+v; want %+v", got, m)
			}
			if m.From != "" && got.From != `{"service":"`+m.From+`"}` {
				t.Errorf("stored from %q; want the service %q", got.From, m.From)
			}
			if left := time.Until(got.Expires); left > tt.keep || left < tt.keep-time.Minute {
				t.Errorf("stored for %v more; want about %v", left, tt.keep)
			}
		})
	}
	if s := p.proc.Stats(); s.Queued != 3 || s.Offline != 2 {
		t.Errorf("stats %+v; want 3 queued and 2 offline", s)
	}
}

func TestProcessorInboxUnavailable(t *testing.T) {
	broken := &brokenInbox{}
	p := startStoring(t, broken)
	m := p.send(t, Message{Account: "a1", Device: "off1"})
	p.waitStatus(t, m.ID, "off1", Failed)
	st, err := p.store.Get(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := st.Devices[0].Error; !strings.HasPrefix(e, string(protocol.CodeUnavailable)) {
		t.Errorf("error %q; want unavailable and why", e)
	}
	if n := broken.puts.Load(); n != DefaultMaxAttempts {
		t.Errorf("%d puts tried; want %d", n, DefaultMaxAttempts)
	}
}

// TestProcessorReportsInboxChanges checks that a put which drops or replaces a
// stored message reports that message's outcome, past its queued.
func TestProcessorReportsInboxChanges(t *testing.T) {
	mem, err := inbox.NewMemory(inbox.Config{Limits: inbox.Limits{MaxMessages: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p := startStoring(t, mem)
	for _, tt := range []struct {
		name, key string
		want      Outcome
	}{
		{"beyond MaxMessages", "", Dropped},
		{"same collapse key", "score", Collapsed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first := p.send(t, Message{Account: "a1", Device: "off1", CollapseKey: tt.key})
			p.waitStatus(t, first.ID, "off1", Queued)
			second := p.send(t, Message{Account: "a1", Device: "off1", CollapseKey: tt.key})
			p.waitStatus(t, second.ID, "off1", Queued)
			p.waitStatus(t, first.ID, "off1", tt.want)
		})
	}
}

func TestPutEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  inbox.PutResult
		want []Event
	}{
		{"a plain put changes no other message", inbox.PutResult{Seq: 1}, nil},
		{"collapsed, dropped and expired others, the put itself left out", inbox.PutResult{
			Replaced: "c1", Dropped: []string{"d1", "d2"}, Expired: []string{"e1", "m1"},
		}, []Event{
			{ID: "c1", Account: "a1", Device: "tv1", Status: Collapsed, At: 7},
			{ID: "d1", Account: "a1", Device: "tv1", Status: Dropped, Error: "the device's inbox was full", At: 7},
			{ID: "d2", Account: "a1", Device: "tv1", Status: Dropped, Error: "the device's inbox was full", At: 7},
			{ID: "e1", Account: "a1", Device: "tv1", Status: Expired, At: 7},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PutEvents("a1", "tv1", "m1", tc.res, 7); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PutEvents = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// listed is a DeviceList of fixed device ids per account; an account named
// "down" cannot be read.
type listed map[string][]string

func (l listed) Listed(_ context.Context, account string) ([]string, error) {
	if account == "down" {
		return nil, errors.New("device list down")
	}
	return l[account], nil
}

// TestProcessorStoresForListedDevices checks that a message to a whole account
// of a type that stores reaches its connected devices and is stored for the
// listed devices that are not connected; that one of a type that does not
// store reaches the connected only; and that an account whose device list
// cannot be read gets its connected devices.
func TestProcessorStoresForListedDevices(t *testing.T) {
	mem, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, newRecorder("a1/tv1", "down/tv1"), false)
	p.adjust = func(c *Config) {
		c.Inbox, c.Types, c.Devices = mem, types, listed{"a1": {"tv1", "off5"}}
		c.MaxAttempts, c.RetryBackoff = 2, time.Millisecond
	}
	p.start(t)
	hour := time.Now().Add(time.Hour).UnixMilli()

	m := p.send(t, Message{Account: "a1", Expires: hour})
	p.waitStatus(t, m.ID, "tv1", Delivered)
	p.waitStatus(t, m.ID, "off5", Queued)
	page, err := mem.Pending(t.Context(), "a1", "off5", 0, 10)
	if err != nil || len(page.Messages) != 1 || page.Messages[0].ID != m.ID {
		t.Fatalf("off5's inbox %+v %v; want %s", page.Messages, err, m.ID)
	}

	m = p.send(t, Message{Account: "a1", Type: "playback.control.v1", Expires: hour})
	p.waitStatus(t, m.ID, "tv1", Delivered)
	if page, _ := mem.Pending(t.Context(), "a1", "off5", 0, 10); len(page.Messages) != 1 {
		t.Errorf("a type without store was stored: %+v", page.Messages)
	}

	m = p.send(t, Message{Account: "down", Expires: hour})
	p.waitStatus(t, m.ID, "tv1", Delivered)
}
