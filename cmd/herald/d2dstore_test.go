package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// storedD2D is a device-to-device type that stores: no built-in type does both.
const storedD2D = `{
	"type": "object",
	"properties": {"text": {"type": "string"}},
	"x-herald": {"directions": ["device_to_device"], "store": 3600, "description": "a note between devices"}
}`

// TestDeviceToDeviceStoredCluster runs two edges on a private Redis: a msg from a
// device on edge 1 to an offline sibling is queued in the shared inbox, and the
// sibling gets it when it connects to edge 2.
func TestDeviceToDeviceStoredCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "note.d2d.v1.json"), []byte(storedD2D), 0o644); err != nil {
		t.Fatal(err)
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--roles=edge,api", "--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "d2ds:", "--cluster-key", clusterKey,
		"--token-secret", clusterSecret, "--api-keys", clusterAPIKey, "--internal-addr", "127.0.0.1:0", "--schemas-dir", dir}
	e1 := startProc(t, "edge-1", append([]string{"--edge-id", "edge-1"}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--edge-id", "edge-2"}, common...)...)

	// tv1 was connected to edge 2 once: it is listed, and offline now.
	tv := dialDevice(t, e2.addr, "a1", "tv1")
	_ = tv.c.Close(websocket.StatusNormalClosure, "")
	phone := dialDevice(t, e1.addr, "a1", "phone1")
	for _, tt := range []struct {
		id   string
		ttl  int
		want protocol.Status
	}{
		{"n1", 600, protocol.StatusQueued},
		{"n2", 0, protocol.StatusOffline},
	} {
		// "ttl" written even when 0: an absent one takes the type's store.
		frame := fmt.Sprintf(`{"t":"msg","id":%q,"type":"note.d2d.v1","to":{"device":"tv1"},"ttl":%d,"payload":{"text":"hi"}}`, tt.id, tt.ttl)
		if err := phone.c.Write(t.Context(), websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := nextOf[*protocol.Receipt](t, phone)
		if r.ID != tt.id || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: tt.want}) {
			t.Fatalf("receipt %+v, want %s", r, tt.want)
		}
	}
	// A msg with ack, stored too: its sender on edge 1 gets a late acked
	// receipt over the link when tv1 acks it on edge 2.
	phone.send(t, &protocol.Msg{ID: "a1", Type: "note.d2d.v1", To: &protocol.Target{Device: "tv1"}, Ack: true, Payload: []byte(`{"text":"ack me"}`)})
	if r := nextOf[*protocol.Receipt](t, phone); r.ID != "a1" || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQueued {
		t.Fatalf("receipt %+v, want queued", r)
	}
	tv = dialDevice(t, e2.addr, "a1", "tv1")
	m := nextOf[*protocol.Msg](t, tv)
	if m.ID != "n1" || m.From == nil || m.From.Device != "phone1" || m.Seq == 0 || m.TTL <= 0 || m.TTL > 600 {
		t.Fatalf("tv got %+v", m)
	}
	if m := nextOf[*protocol.Msg](t, tv); m.ID != "a1" || !m.Ack {
		t.Fatalf("tv got %+v, want the stored msg with ack", m)
	}
	tv.send(t, &protocol.Ack{ID: "a1"})
	if r := nextOf[*protocol.Receipt](t, phone); r.ID != "a1" || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
		t.Fatalf("phone got %+v, want the late acked receipt from edge 2", r)
	}
}
