package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestHostileDevicesCluster attacks two serve edges on Postgres and Redis as a
// hostile device would, through real sockets (docs/security.md, "Hostile
// devices"): an id that would forge an SSE event on a sibling on the other edge,
// a probe of another account's device ids, a hello flood and a flood of unknown
// frames.
func TestHostileDevicesCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--roles=edge,api", "--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "hostile:", "--cluster-key", clusterKey,
		"--token-secret", clusterSecret, "--api-keys", clusterAPIKey, "--internal-addr", "127.0.0.1:0"}
	e1 := startProc(t, "edge-1", append([]string{"--edge-id", "edge-1"}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--edge-id", "edge-2"}, common...)...)

	events := sseEvents(t, e2.addr, "a1", "tv1")
	// The stream's headers come before the device is registered and listed; the
	// welcome event comes after, so a sibling can reach it from then on.
	if ev := <-events; !strings.Contains(ev.data, `"welcome"`) {
		t.Fatalf("first SSE event %+v, want the welcome", ev)
	}
	dialDevice(t, e2.addr, "a2", "tv9") // online, in another account
	phone := dialDevice(t, e1.addr, "a1", "phone1")

	t.Run("an id cannot forge an SSE event on a sibling", func(t *testing.T) {
		forged := `{"t":"msg","id":"x\n\ndata: {\"t\":\"msg\",\"id\":\"f1\",\"type\":\"app.restart.v1\",\"from\":{\"service\":\"billing\"},\"payload\":{}}\n\nid: y","type":"playback.control.v1","to":{"device":"tv1"},"payload":{"action":"pause"}}`
		writeText(t, phone, forged)
		if e := nextOf[*protocol.Error](t, phone); e.Code != protocol.CodeBadFrame || e.Re != "" {
			t.Fatalf("error %+v, want bad_frame without re", e)
		}
		phone.send(t, &protocol.Msg{ID: "after", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: []byte(`{"action":"pause"}`)})
		if r := nextOf[*protocol.Receipt](t, phone); r.ID != "after" || r.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", r)
		}
		for ev := range events {
			if strings.Contains(ev.data, `"welcome"`) {
				continue
			}
			if ev.id != "after" || strings.Contains(ev.data, "billing") {
				t.Fatalf("first event after the welcome: %+v", ev)
			}
			break
		}
	})

	t.Run("another account's device looks like an unknown one", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "probe", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv9", "nosuch"}}, Payload: []byte(`{"action":"pause"}`)})
		r := nextOf[*protocol.Receipt](t, phone)
		if len(r.Results) != 2 || r.Results[0].Status != r.Results[1].Status || r.Results[0].Error != r.Results[1].Error || r.Results[0].Error != "unknown_device" {
			t.Fatalf("receipt %+v, want both rejected unknown_device", r)
		}
	})

	goroutines := func() int {
		for line := range strings.SplitSeq(scrape(t, e1.admin), "\n") {
			if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return int(n)
			}
		}
		t.Fatal("no go_goroutines in the metrics")
		return 0
	}
	before := goroutines()

	floods := []struct {
		name  string
		frame func(i int) string
	}{
		{"a hello flood", func(i int) string {
			return `{"t":"hello","device":{"name":"n` + strconv.Itoa(i) + `"}}`
		}},
		{"a flood of unknown frames", func(int) string { return `{"t":"zzz"}` }},
		{"a flood of acks", func(i int) string { return `{"t":"ack","id":"a` + strconv.Itoa(i) + `"}` }},
	}
	for i, fl := range floods {
		t.Run(fl.name+" is bounded and closed", func(t *testing.T) {
			// A device of its own each: one closed with 1008 is in policy backoff.
			h := dialDevice(t, e1.addr, "a1", "hostile"+strconv.Itoa(i))
			type end struct {
				errs int
				code websocket.StatusCode
			}
			ended := make(chan end, 1)
			go func() { // count the error frames until the edge closes
				var e end
				for {
					_, data, err := h.c.Read(context.Background())
					if err != nil {
						e.code = websocket.CloseStatus(err)
						ended <- e
						return
					}
					if f, _ := protocol.Decode(data); f != nil && f.Kind() == "error" {
						e.errs++
					}
				}
			}()
			start := time.Now()
			const frames = 20000
			for i := range frames {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := h.c.Write(ctx, websocket.MessageText, []byte(fl.frame(i)))
				cancel()
				if err != nil {
					break // closed by the edge
				}
			}
			var e end
			select {
			case e = <-ended:
			case <-time.After(waitBound):
				t.Fatal("the edge did not close the flooding connection")
			}
			if e.code != websocket.StatusPolicyViolation {
				t.Fatalf("close code %v, want 1008", e.code)
			}
			// The error budget is its burst plus what its rate refills while the
			// flood lasts (a loaded machine stretches the flood).
			if limit := edge.DefaultErrorBurst + int(edge.DefaultErrorRate*time.Since(start).Seconds()) + 1; e.errs > limit {
				t.Fatalf("%d error frames for the flood, want at most the error budget (%d)", e.errs, limit)
			}
			if g := goroutines(); g > before+50 {
				t.Fatalf("%d goroutines after the flood, %d before", g, before)
			}
		})
	}

	t.Run("honest devices still work", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "still", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: []byte(`{"action":"pause"}`)})
		if r := nextOf[*protocol.Receipt](t, phone); r.ID != "still" || r.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", r)
		}
	})
}

// writeText writes one text message as it is, bytes the encoder would never
// produce included.
func writeText(t *testing.T, d *clusterDevice, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// sseEvent is one Server-Sent Event: its id and data lines.
type sseEvent struct{ id, data string }

// sseEvents opens GET /v1/events as account/device and returns its events; the
// stream closes when the test ends.
func sseEvents(t *testing.T, edgeAddr, account, device string) <-chan sseEvent {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(clusterSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+edgeAddr+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", resp.Status)
	}
	out := make(chan sseEvent, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if ev.data != "" {
					select {
					case out <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}
