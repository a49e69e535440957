package herald_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// startAs runs a client of a1/device against cfg's endpoints until the test
// ends; cfg.Token is filled in.
func startAs(t *testing.T, device string, cfg herald.Config) *herald.Client {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token, err = iss.Issue("a1", device, time.Hour); err != nil {
		t.Fatal(err)
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	c, err := herald.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run of %s = %v", device, err)
		}
	})
	return c
}

// mustConnected waits for c's welcome.
func mustConnected(t *testing.T, c *herald.Client) {
	t.Helper()
	select {
	case <-c.Connected():
	case <-time.After(failAfterEdge):
		t.Fatal("not connected")
	}
}

// TestRealEdgeFailover runs a device against two real edges, the preferred
// one (A, behind a proxy) and a fallback (B). When A goes down, as a region
// lost, the device fails over to B and receives a message there; once A
// answers again, the device returns to it after FallbackRetry and receives
// there.
func TestRealEdgeFailover(t *testing.T) {
	a := mustEdge(t, edge.Config{})
	b := mustEdge(t, edge.Config{})
	proxy := testenv.StartProxy(t, strings.TrimPrefix(a.url, "http://"))
	preferred := "http://" + proxy.Addr

	type change struct {
		state    herald.State
		endpoint string
		err      error
	}
	changes := make(chan change, 100)
	var (
		mu   sync.Mutex
		tv   *herald.Client
		msgs = make(chan *protocol.Msg, 10)
	)
	mu.Lock()
	tv = startAs(t, "tv1", herald.Config{
		URL: preferred, FallbackURLs: []string{b.url}, FallbackRetry: 200 * time.Millisecond,
		OnState: func(s herald.State, err error) {
			mu.Lock()
			c := tv
			mu.Unlock()
			select {
			case changes <- change{s, c.Endpoint(), err}:
			default:
				t.Errorf("more than %d state changes", cap(changes))
			}
		},
		OnMessage: func(m *protocol.Msg) { msgs <- m },
	})
	mu.Unlock()

	// connectedTo waits for the next StateConnected, which must be on want.
	connectedTo := func(want string) {
		t.Helper()
		deadline := time.After(failAfterEdge)
		for {
			select {
			case ch := <-changes:
				if ch.state != herald.StateConnected {
					continue
				}
				if ch.endpoint != want {
					t.Fatalf("connected to %s, want %s", ch.endpoint, want)
				}
				return
			case <-deadline:
				t.Fatalf("not connected to %s within %v", want, failAfterEdge)
			}
		}
	}
	// receives has a sibling on url send a msg to tv1, which must arrive.
	receives := func(url, id string) {
		t.Helper()
		phone := startAs(t, "phone-"+id, herald.Config{URL: url})
		mustConnected(t, phone)
		ctx, cancel := context.WithTimeout(context.Background(), failAfterEdge)
		defer cancel()
		r, err := phone.SendToDevice(ctx, "tv1", "playback.control.v1", map[string]string{"action": "pause"}, herald.WithID(id))
		if err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("receipt of %s: %+v, want delivered to tv1", id, r.Results)
		}
		select {
		case m := <-msgs:
			if m.ID != id {
				t.Fatalf("tv1 received %s, want %s", m.ID, id)
			}
		case <-time.After(failAfterEdge):
			t.Fatalf("tv1 did not receive %s", id)
		}
	}

	connectedTo(preferred)
	receives(preferred, "m-a1")

	proxy.Stop() // region A lost: its connections cut, new ones refused
	connectedTo(b.url)
	if got := tv.Endpoint(); got != b.url {
		t.Errorf("Endpoint() = %s on the fallback, want %s", got, b.url)
	}
	receives(b.url, "m-b")

	proxy.Start() // A is back: the client returns once FallbackRetry has passed
	connectedTo(preferred)
	receives(preferred, "m-a2")
	if got := tv.Endpoint(); got != preferred {
		t.Errorf("Endpoint() = %s back on the preferred, want %s", got, preferred)
	}
	waitUntil(t, "B to count the client's own close on leaving it", func() bool {
		return b.disconnects(t, "client_closed", "1000") >= 1
	})
}
