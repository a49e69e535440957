package edge

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// downDevices is a device list whose Touch fails while down is set, as while
// its store is unreachable.
type downDevices struct {
	DeviceList
	down atomic.Bool
}

func (d *downDevices) Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error {
	if d.down.Load() {
		return errors.New("device list store down")
	}
	return d.DeviceList.Touch(ctx, account, device, info)
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
	eventually(t, "the retry list to empty", func() bool {
		e.srv.unlistedMu.Lock()
		defer e.srv.unlistedMu.Unlock()
		return len(e.srv.unlisted) == 0
	})
	if listed("a2", "tv1") {
		t.Fatal("a device that left during the outage was listed")
	}
}
