package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// downDevices is a device list whose Touch fails while down is set, as while
// its store is unreachable, and always for the devices in refuse, as for a
// reason of their own. It counts the calls to Touch.
type downDevices struct {
	DeviceList
	down    atomic.Bool
	refuse  map[string]bool // set before use, then read only
	touches atomic.Int64
}

func (d *downDevices) Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error {
	d.touches.Add(1)
	if d.down.Load() {
		return errors.New("device list store down")
	}
	if d.refuse[device] {
		return errors.New("refused: " + device)
	}
	return d.DeviceList.Touch(ctx, account, device, info)
}

// unlistedCount returns how many devices wait to be listed.
func (e *testEdge) unlistedCount() int {
	e.srv.unlistedMu.Lock()
	defer e.srv.unlistedMu.Unlock()
	return len(e.srv.unlisted)
}

// TestDevicesConnectedDuringAnOutageAreListed: a device that connects while the
// device list cannot take it is added at a heartbeat once the store is back,
// while it is still connected; one that left meanwhile is not.
func TestDevicesConnectedDuringAnOutageAreListed(t *testing.T) {
	var list *downDevices
	e := mustEdge(t, func(c *Config) {
		list = &downDevices{DeviceList: c.Devices}
		c.Devices = list
		c.HeartbeatInterval = 50 * time.Millisecond
	})
	listed := func(account, device string) bool {
		ids, err := e.devs.IDs(context.Background(), account)
		return err == nil && slices.Contains(ids, device)
	}
	list.down.Store(true)
	e.mustDial(t, "a1", "tv1")
	gone := e.mustDial(t, "a2", "tv1")
	if listed("a1", "tv1") || listed("a2", "tv1") {
		t.Fatal("listed while the store was down")
	}
	_ = gone.c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "a2/tv1 to disconnect", func() bool { return e.srv.Stats().Connections == 1 })
	time.Sleep(200 * time.Millisecond) // heartbeats while down: still not listed
	if listed("a1", "tv1") {
		t.Fatal("listed while the store was down")
	}

	list.down.Store(false)
	eventually(t, "a1/tv1 to be listed", func() bool { return listed("a1", "tv1") })
	eventually(t, "the retry list to empty", func() bool { return e.unlistedCount() == 0 })
	if listed("a2", "tv1") {
		t.Fatal("a device that left during the outage was listed")
	}
}

// TestRelistGoesOnPastAFailure: devices that the device list refuses for a
// reason of their own hold up no other device: one pass lists every other
// waiting device, whatever the order, and keeps the refused ones for the next.
func TestRelistGoesOnPastAFailure(t *testing.T) {
	list := &downDevices{refuse: map[string]bool{"bad1": true, "bad2": true, "bad3": true}}
	e := mustEdge(t, func(c *Config) {
		list.DeviceList = c.Devices
		c.Devices = list
		c.HeartbeatInterval = time.Hour // the test runs the passes itself
	})
	list.down.Store(true)
	var good []string
	for i := range 8 {
		good = append(good, fmt.Sprintf("tv%d", i))
		e.mustDial(t, "a1", good[i])
	}
	for _, d := range []string{"bad1", "bad2", "bad3"} {
		e.mustDial(t, "a1", d)
	}
	if n := e.unlistedCount(); n != 11 {
		t.Fatalf("%d devices wait to be listed, want 11", n)
	}
	list.down.Store(false)
	e.srv.relist()
	ids, err := e.devs.IDs(context.Background(), "a1")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range good {
		if !slices.Contains(ids, d) {
			t.Errorf("%s not listed by the pass; listed: %v", d, ids)
		}
	}
	if n := e.unlistedCount(); n != 3 {
		t.Fatalf("%d devices wait after the pass, want the 3 refused ones", n)
	}
	e.srv.relist()
	if n := e.unlistedCount(); n != 3 {
		t.Fatalf("%d devices wait after a second pass, want the 3 refused ones", n)
	}
}

// TestRelistStopsWhileTheStoreIsDown: while every add fails, a pass stops after
// relistMaxStreak of them instead of trying each waiting device, and keeps them
// all.
func TestRelistStopsWhileTheStoreIsDown(t *testing.T) {
	list := &downDevices{}
	e := mustEdge(t, func(c *Config) {
		list.DeviceList = c.Devices
		c.Devices = list
		c.HeartbeatInterval = time.Hour
	})
	list.down.Store(true)
	const n = 3 * relistMaxStreak
	for i := range n {
		e.mustDial(t, "a1", fmt.Sprintf("tv%d", i))
	}
	list.touches.Store(0)
	e.srv.relist()
	if got := list.touches.Load(); got != relistMaxStreak {
		t.Fatalf("the pass tried %d adds, want %d", got, relistMaxStreak)
	}
	if got := e.unlistedCount(); got != n {
		t.Fatalf("%d devices wait, want %d", got, n)
	}
}

// TestOutageWarningsAreRateLimited: every device that connects while the device
// list is down is kept for relisting, but the warning is a noisy line: at most
// noisyPerSecond a second are logged, with the count of those suppressed.
func TestOutageWarningsAreRateLimited(t *testing.T) {
	logs := &logBuffer{}
	var list *downDevices
	e := mustEdge(t, func(c *Config) {
		list = &downDevices{DeviceList: c.Devices}
		c.Devices = list
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.HeartbeatInterval = time.Hour // no relisting during the test
	})
	list.down.Store(true)
	const devices = 30
	start := time.Now()
	for i := range devices {
		e.mustDial(t, "a1", fmt.Sprint("tv", i))
	}
	elapsed := time.Since(start)
	eventually(t, "every device kept for relisting", func() bool { return e.unlistedCount() == devices })
	warned := strings.Count(logs.String(), "adding the device to the device list failed")
	if limit := noisyPerSecond * (int(elapsed/time.Second) + 2); warned > limit || warned == 0 {
		t.Fatalf("%d warnings for %d devices in %v, want 1 to %d", warned, devices, elapsed, limit)
	}
}
