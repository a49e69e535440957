package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestStoredAckSurvivesEdgeKill checks the rule that a stored message with ack
// survives its edge being SIGKILLed between the write and the ack: two edges and
// an API process on one Redis; a push with ack to an offline device is queued;
// the device connects with the Go SDK to edge 1 and receives it; edge 1 dies
// before the ack; the SDK reconnects to edge 2, which writes the message again;
// the SDK drops the duplicate (OnMessage sees the message once). Without
// AutoAck the app then acks it on edge 2; with AutoAck (whose ack of the first
// delivery was lost: OnMessage returned only after the kill) the SDK acks the
// duplicate itself. Either way the inbox is empty after, and a third connection
// gets no stored message.
func TestStoredAckSurvivesEdgeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	const prefix = "killack-test:"
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", prefix, "--cluster-key", clusterKey}
	api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey}, common...)...)
	box := redisInbox(t, rd.Addr, prefix)

	for _, tt := range []struct {
		name    string
		autoAck bool
	}{
		{"the app acks on the next edge", false},
		{"auto-ack acks the duplicate", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			device := "tv-manual"
			if tt.autoAck {
				device = "tv-auto"
			}
			var edges []*proc
			for _, id := range []string{device + "-edge-1", device + "-edge-2"} {
				edges = append(edges, startProc(t, id, append([]string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...))
			}

			id, res := pushJSON(t, api.addr, `{"to":{"account":"a1","device":"`+device+`"},"type":"notification.v1","payload":{"title":"stored"},"ack":true}`)
			if res.Status != protocol.StatusQueued {
				t.Fatalf("push with ack to an offline device: %+v, want queued", res)
			}

			var (
				mu     sync.Mutex
				got    []string // guarded by mu: what OnMessage saw
				writes int      // guarded by mu: msg frames of id
			)
			first, release, marked := make(chan struct{}), make(chan struct{}), make(chan struct{})
			c, stop := startEdgeClient(t, device, []string{edges[0].addr, edges[1].addr}, herald.Config{
				AutoAck: tt.autoAck,
				OnFrame: func(f protocol.Frame) {
					if m, ok := f.(*protocol.Msg); ok && m.ID == id {
						mu.Lock()
						writes++
						mu.Unlock()
					}
				},
				OnMessage: func(m *protocol.Msg) {
					mu.Lock()
					got = append(got, m.ID)
					mu.Unlock()
					if m.ID != id {
						close(marked) // the live push
						return
					}
					close(first)
					if tt.autoAck {
						<-release // AutoAck acks once OnMessage returns: after the kill
					}
				},
			})
			recvWithin(t, first, waitBound)
			if c.Welcome().Edge != edges[0].Name {
				t.Fatalf("the first connection is on %s, want %s", c.Welcome().Edge, edges[0].Name)
			}
			edges[0].Kill()
			close(release)

			// Edge 2 writes the message again, right after its welcome.
			waitFor(t, "the message written again by edge 2", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return writes == 2
			})
			if w := c.Welcome(); w.Edge != edges[1].Name {
				t.Fatalf("the second connection is on %s, want %s", w.Edge, edges[1].Name)
			}
			// A live push comes after the stored ones: once OnMessage has it, the
			// duplicate was handled.
			marker, res := pushJSON(t, api.addr, `{"to":{"account":"a1","device":"`+device+`"},"type":"notification.v1","payload":{"title":"live"},"ttl":0}`)
			if res.Status != protocol.StatusDelivered {
				t.Fatalf("live push to the device on edge 2: %+v", res)
			}
			recvWithin(t, marked, waitBound)
			mu.Lock()
			seen := slices.Clone(got)
			mu.Unlock()
			if want := []string{id, marker}; !slices.Equal(seen, want) {
				t.Fatalf("OnMessage saw %v, want %v: the duplicate must be dropped", seen, want)
			}

			sdkRoundTrip(t, c) // edge 2 has read what the SDK wrote before
			stored := pendingOf(t, box, device)
			if tt.autoAck {
				if len(stored) != 0 {
					t.Fatalf("with AutoAck the inbox still holds %v after the duplicate", stored)
				}
			} else {
				if !slices.Equal(stored, []string{id}) {
					t.Fatalf("before the app's ack the inbox holds %v, want [%s]", stored, id)
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitBound)
				defer cancel()
				if err := c.Ack(ctx, id); err != nil {
					t.Fatalf("the app's ack on edge 2: %v", err)
				}
				sdkRoundTrip(t, c)
				if stored := pendingOf(t, box, device); len(stored) != 0 {
					t.Fatalf("after the app's ack the inbox holds %v", stored)
				}
			}

			// A third connection gets no stored message: the first frame after
			// its welcome is a live push.
			stop()
			tv := dialDevice(t, edges[1].addr, "a1", device)
			live, res := pushJSON(t, api.addr, `{"to":{"account":"a1","device":"`+device+`"},"type":"notification.v1","payload":{"title":"third"},"ttl":0}`)
			if res.Status != protocol.StatusDelivered {
				t.Fatalf("push to the third connection: %+v", res)
			}
			if m, ok := tv.next(t).(*protocol.Msg); !ok || m.ID != live || m.Seq != 0 {
				t.Fatalf("the third connection got %+v first, want the live push %s", m, live)
			}
		})
	}
}

// startEdgeClient runs a Go SDK client of a1/device with cfg's callbacks until
// stop or the end of the test; stop checks that Run returned nil. It dials the first of edges that accepts a connection,
// as a load balancer in front of them would: edge 1 while it lives, then edge 2.
func startEdgeClient(t *testing.T, device string, edges []string, cfg herald.Config) (c *herald.Client, stop func()) {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(clusterSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token, err = iss.Issue("a1", device, time.Hour); err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	cfg.URL = "ws://edges.test"
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var errs []error
			for _, addr := range edges {
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
	}}
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	if c, err = herald.New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// pushJSON sends body as a sync push through the API process and returns the
// message id and its one result.
func pushJSON(t *testing.T, apiAddr, body string) (string, protocol.Result) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+apiAddr+"/v1/push", strings.NewReader(body))
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

// redisInbox opens the inbox that the processes share in Redis, to look into.
func redisInbox(t *testing.T, addr, prefix string) *inbox.Redis {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	box, err := inbox.NewRedis(inbox.RedisConfig{Client: client, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// pendingOf returns the ids of what a1/device's inbox holds.
func pendingOf(t *testing.T, box *inbox.Redis, device string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	page, err := box.Pending(ctx, "a1", device, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// sdkRoundTrip sends a msg with the SDK and waits for the edge's answer (a
// receipt, or an error frame): an edge reads a connection's frames in order,
// so it has then handled every frame the SDK wrote before, acks included.
func sdkRoundTrip(t *testing.T, c *herald.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	_, err := c.Send(ctx, protocol.Target{Device: "phone1"}, "playback.control.v1", map[string]any{"action": "pause"})
	var se *herald.ServerError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("round trip: %v", err)
	}
}
