package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

func TestWelcomeStored(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) { sc.drain() })
	r := startClient(t, Config{URL: s.URL, Token: "tok"})
	if w := r.c.Welcome(); w != nil {
		t.Logf("welcome before Connected: %+v", w) // allowed: it may already be there
	}
	r.connected(t)
	w := r.c.Welcome()
	if w == nil || w.Session != "s_1" || w.Device != "tv1" || w.PingMS != 30000 {
		t.Fatalf("Welcome() = %+v, want session s_1 of device tv1", w)
	}
	if got := r.nextStates(t, 2); !slices.Equal(got, []State{StateConnecting, StateConnected}) {
		t.Errorf("states = %v, want [connecting connected]", got)
	}
}

func TestMessagesDeduplicated(t *testing.T) {
	tests := []struct {
		name      string
		dedupSize int
		ids       []string
		want      []string
	}{
		{"in order", 0, []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"duplicates dropped", 0, []string{"a", "b", "a", "c", "b", "c"}, []string{"a", "b", "c"}},
		{"forgotten id delivered again", 2, []string{"a", "b", "c", "a"}, []string{"a", "b", "c", "a"}},
		{"recent ids still dropped", 2, []string{"a", "b", "c", "b", "c", "a", "c"}, []string{"a", "b", "c", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, func(sc *srvConn) {
				for _, id := range append(tt.ids, "end") {
					sc.send(msgFrame(id, false))
				}
				sc.drain()
			})
			var (
				mu  sync.Mutex
				got []string
			)
			end := make(chan struct{})
			var frames atomic.Int32
			startClient(t, Config{
				URL: s.URL, Token: "tok", DedupSize: tt.dedupSize,
				OnFrame: func(f protocol.Frame) {
					if f.Kind() == protocol.KindMsg {
						frames.Add(1)
					}
				},
				OnMessage: func(m *protocol.Msg) {
					if m.ID == "end" {
						close(end)
						return
					}
					if m.From == nil || m.From.Device != "phone1" || string(m.Payload) != `{"id":"`+m.ID+`"}` {
						t.Errorf("msg %+v: wrong from or payload", m)
					}
					mu.Lock()
					got = append(got, m.ID)
					mu.Unlock()
				},
			})
			recv(t, end)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tt.want) {
				t.Errorf("OnMessage got %v, want %v", got, tt.want)
			}
			if n := int(frames.Load()); n != len(tt.ids)+1 {
				t.Errorf("OnFrame saw %d msgs, want all %d", n, len(tt.ids)+1)
			}
		})
	}
}

func TestSend(t *testing.T) {
	type answer func(sc *srvConn, m *protocol.Msg)
	tests := []struct {
		name   string
		answer answer
		check  func(t *testing.T, r *protocol.Receipt, err error, id string)
	}{
		{
			name: "receipt by id",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(`{"t":"receipt","id":"unrelated","results":[{"device":"tab1","status":"offline"}]}`)
				sc.send(`{"t":"receipt","id":"` + m.ID + `","results":[{"device":"tv2","status":"delivered"}]}`)
				sc.send(`{"t":"receipt","id":"` + m.ID + `","results":[{"device":"tv2","status":"acked"}]}`)
			},
			check: func(t *testing.T, r *protocol.Receipt, err error, id string) {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				want := []protocol.Result{{Device: "tv2", Status: protocol.StatusDelivered}}
				if r.ID != id || !slices.Equal(r.Results, want) {
					t.Errorf("receipt = %+v, want id %s with %v", r, id, want)
				}
			},
		},
		{
			name: "error frame naming the msg",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(`{"t":"error","re":"unrelated","code":"rate_limited","message":"slow down"}`)
				sc.send(`{"t":"error","re":"` + m.ID + `","code":"schema_invalid","message":"/action: required"}`)
			},
			check: func(t *testing.T, r *protocol.Receipt, err error, id string) {
				var se *ServerError
				if !errors.As(err, &se) || se.Frame.Code != protocol.CodeSchemaInvalid || se.Frame.Re != id {
					t.Fatalf("Send = %v, %v; want a *ServerError schema_invalid", r, err)
				}
				if want := "herald: schema_invalid: /action: required"; se.Error() != want {
					t.Errorf("Error() = %q, want %q", se.Error(), want)
				}
			},
		},
		{
			name:   "no answer times out",
			answer: func(*srvConn, *protocol.Msg) {},
			check: func(t *testing.T, r *protocol.Receipt, err error, id string) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Send = %v, %v; want context.DeadlineExceeded", r, err)
				}
			},
		},
		{
			name:   "connection lost",
			answer: func(sc *srvConn, m *protocol.Msg) { sc.ws.CloseNow() },
			check: func(t *testing.T, r *protocol.Receipt, err error, id string) {
				if !errors.Is(err, ErrNotConnected) {
					t.Fatalf("Send = %v, %v; want ErrNotConnected", r, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *protocol.Msg, 1)
			s := newScriptServer(t, func(sc *srvConn) {
				if sc.n > 1 {
					sc.drain()
					return
				}
				m, ok := mustRead[*protocol.Msg](sc)
				if !ok {
					return
				}
				got <- m
				tt.answer(sc, m)
				sc.drain()
			})
			acked := make(chan string, 1)
			r := startClient(t, Config{
				URL: s.URL, Token: "tok", SendTimeout: 300 * time.Millisecond,
				OnFrame: func(f protocol.Frame) {
					if rc, ok := f.(*protocol.Receipt); ok && rc.Results[0].Status == protocol.StatusAcked {
						acked <- rc.ID
					}
				},
			})
			r.connected(t)
			rc, err := r.c.Send(context.Background(), protocol.Target{Device: "tv2"}, "playback.control.v1",
				map[string]string{"action": "pause"}, WithAck(true), WithTTL(30), WithID("01JTESTID"))
			m := recv(t, got)
			if m.ID != "01JTESTID" || m.Type != "playback.control.v1" || m.To == nil || m.To.Device != "tv2" ||
				!m.Ack || m.TTL != 30 || string(m.Payload) != `{"action":"pause"}` || m.From != nil {
				t.Errorf("server got msg %+v to %+v", m, m.To)
			}
			tt.check(t, rc, err, m.ID)
			if tt.name == "receipt by id" {
				if id := recv(t, acked); id != m.ID {
					t.Errorf("later acked receipt for %s, want %s", id, m.ID)
				}
			}
		})
	}
}

func TestSendConcurrentReceipts(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		first, ok1 := mustRead[*protocol.Msg](sc)
		second, ok2 := mustRead[*protocol.Msg](sc)
		if !ok1 || !ok2 {
			return
		}
		// Answer in reverse order, each result naming the msg's type.
		for _, m := range []*protocol.Msg{second, first} {
			sc.send(`{"t":"receipt","id":"` + m.ID + `","results":[{"device":"` + m.Type + `","status":"delivered"}]}`)
		}
		sc.drain()
	})
	r := startClient(t, Config{URL: s.URL, Token: "tok"})
	r.connected(t)
	var wg sync.WaitGroup
	for _, typ := range []string{"test.one.v1", "test.two.v1"} {
		wg.Go(func() {
			rc, err := r.c.Send(context.Background(), protocol.Target{Siblings: true}, typ, json.RawMessage(`{"n":1}`))
			if err != nil {
				t.Errorf("Send %s: %v", typ, err)
				return
			}
			if rc.Results[0].Device != typ {
				t.Errorf("Send %s got the receipt of %s", typ, rc.Results[0].Device)
			}
		})
	}
	wg.Wait()
}

func TestSendChecks(t *testing.T) {
	c, err := New(Config{URL: "ws://localhost:1", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		to   protocol.Target
		typ  string
		opts []SendOption
		want error // nil: any error but ErrNotConnected
	}{
		{"no target", protocol.Target{}, "a.b.v1", nil, nil},
		{"two targets", protocol.Target{Device: "x", Siblings: true}, "a.b.v1", nil, nil},
		{"no type", protocol.Target{Device: "x"}, "", nil, nil},
		{"negative ttl", protocol.Target{Device: "x"}, "a.b.v1", []SendOption{WithTTL(-1)}, nil},
		{"id with LF", protocol.Target{Device: "x"}, "a.b.v1", []SendOption{WithID("a\nb")}, nil},
		{"id with a space", protocol.Target{Device: "x"}, "a.b.v1", []SendOption{WithID("a b")}, nil},
		{"id too long", protocol.Target{Device: "x"}, "a.b.v1", []SendOption{WithID(strings.Repeat("i", protocol.MaxMsgIDLen+1))}, nil},
		{"invalid target id", protocol.Target{Device: "a b"}, "a.b.v1", nil, nil},
		{"invalid id in targets", protocol.Target{Devices: []string{"x", "y\n"}}, "a.b.v1", nil, nil},
		{"empty id in targets", protocol.Target{Devices: []string{"x", ""}}, "a.b.v1", nil, nil},
		{"not connected", protocol.Target{Device: "x"}, "a.b.v1", nil, ErrNotConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Send(ctx, tt.to, tt.typ, 1, tt.opts...)
			switch {
			case err == nil:
				t.Fatal("Send succeeded")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Send = %v, want %v", err, tt.want)
			case tt.want == nil && errors.Is(err, ErrNotConnected):
				t.Errorf("Send = %v, want a validation error", err)
			}
		})
	}
}

func TestReconnectFrame(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	second := make(chan string, 1)
	s := newScriptServer(t, func(sc *srvConn) {
		if sc.n == 1 {
			sc.send(`{"t":"reconnect","after_ms":50,"reason":"drain"}`)
			closed <- sc.closeStatus()
			return
		}
		second <- "connection " + string(rune('0'+sc.n))
		sc.drain()
	})
	var disconnects atomic.Int32
	var disconnectErr atomic.Value
	var reconnectFrame atomic.Pointer[protocol.Reconnect]
	r := startClient(t, Config{
		URL: s.URL, Token: "tok",
		MinBackoff: time.Hour, MaxBackoff: time.Hour, // a backoff would fail the test
		OnState: func(s State, err error) {
			if s == StateDisconnected {
				disconnects.Add(1)
				if err != nil {
					disconnectErr.Store(err)
				}
			}
		},
		OnFrame: func(f protocol.Frame) {
			if rf, ok := f.(*protocol.Reconnect); ok {
				reconnectFrame.Store(rf)
			}
		},
	})
	if got := recv(t, closed); got != websocket.StatusNormalClosure {
		t.Errorf("server saw close status %v from the client, want %v", got, websocket.StatusNormalClosure)
	}
	if got := recv(t, second); got != "connection 2" {
		t.Errorf("got %s", got)
	}
	r.connected(t)
	if n, err := disconnects.Load(), disconnectErr.Load(); n != 1 || err != nil {
		t.Errorf("%d disconnects, error %v: want one, with no error, since the server asked for it", n, err)
	}
	if rf := reconnectFrame.Load(); rf == nil || rf.AfterMS != 50 || rf.Reason != "drain" {
		t.Errorf("OnFrame saw reconnect %+v, want after_ms 50, reason drain", rf)
	}
	want := []State{StateConnecting, StateConnected, StateDisconnected, StateConnecting, StateConnected}
	if got := r.nextStates(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

func TestReplacedIsFinal(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		sc.ws.Close(closeReplaced, "replaced")
	})
	r := startClient(t, Config{URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	err := r.wait(t)
	if !errors.Is(err, ErrReplaced) {
		t.Fatalf("Run = %v, want ErrReplaced", err)
	}
	if n := len(s.acceptedTokens()); n != 1 {
		t.Errorf("%d connections, want 1: no reconnect after 4000", n)
	}
	want := []State{StateConnecting, StateConnected, StateDisconnected, StateClosed}
	if got := r.nextStates(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	if _, err := r.c.Send(context.Background(), protocol.Target{Device: "x"}, "a.b.v1", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Run = %v, want ErrClosed", err)
	}
	if err := r.c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Run = %v, want ErrClosed", err)
	}
}

func TestTokenExpiredReconnectsWithFreshToken(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		if sc.n == 1 {
			sc.ws.Close(closeTokenExpired, "token expired")
			return
		}
		sc.drain()
	})
	s.auth = func(token string) int {
		if !strings.HasPrefix(token, "fresh-") {
			return http.StatusUnauthorized
		}
		return 0
	}
	var calls atomic.Int32
	r := startClient(t, Config{
		URL: s.URL,
		TokenFunc: func(context.Context) (string, error) {
			return "fresh-" + string(rune('0'+calls.Add(1))), nil
		},
		MinBackoff: time.Hour, MaxBackoff: time.Hour, // reconnecting at once is required
	})
	r.connected(t)
	for len(s.acceptedTokens()) < 2 {
		select {
		case <-r.c.Connected():
		case <-time.After(failAfter):
			t.Fatal("no second connection")
		}
		time.Sleep(time.Millisecond)
	}
	if got := s.acceptedTokens(); !slices.Equal(got, []string{"fresh-1", "fresh-2"}) {
		t.Errorf("tokens = %v, want [fresh-1 fresh-2]", got)
	}
}

func TestHandshakeStatus(t *testing.T) {
	tests := []struct {
		name      string
		status    int  // answered to the first dial
		tokenFunc bool // the client has a TokenFunc
		want      error
	}{
		{"401 without TokenFunc is final", http.StatusUnauthorized, false, ErrUnauthorized},
		{"403 is final", http.StatusForbidden, true, ErrForbidden},
		{"401 with TokenFunc retries", http.StatusUnauthorized, true, nil},
		{"503 retries", http.StatusServiceUnavailable, false, nil},
		{"429 retries", http.StatusTooManyRequests, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, func(sc *srvConn) { sc.drain() })
			var dials atomic.Int32
			var first time.Time
			s.auth = func(string) int {
				if dials.Add(1) == 1 {
					first = time.Now()
					return tt.status
				}
				return 0
			}
			cfg := Config{URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
			if tt.tokenFunc {
				cfg.TokenFunc = func(context.Context) (string, error) { return "tok", nil }
			}
			r := startClient(t, cfg)
			if tt.want != nil {
				if err := r.wait(t); !errors.Is(err, tt.want) {
					t.Fatalf("Run = %v, want %v", err, tt.want)
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("%d dials, want 1", n)
				}
				return
			}
			r.connected(t)
			if n := dials.Load(); n != 2 {
				t.Errorf("%d dials, want 2", n)
			}
			// The server's 429 and 503 carry Retry-After: 1, longer than the backoff.
			if retry := tt.status == http.StatusTooManyRequests || tt.status == http.StatusServiceUnavailable; retry && time.Since(first) < time.Second {
				t.Errorf("dialled again %v after a Retry-After of 1s", time.Since(first))
			}
		})
	}
}

func TestServerDropReconnects(t *testing.T) {
	tests := []struct {
		name string
		drop func(ws *websocket.Conn)
	}{
		{"abrupt", func(ws *websocket.Conn) { ws.CloseNow() }},
		{"normal closure", func(ws *websocket.Conn) { ws.Close(websocket.StatusNormalClosure, "") }},
		{"going away", func(ws *websocket.Conn) { ws.Close(websocket.StatusGoingAway, "drain") }},
		{"internal error", func(ws *websocket.Conn) { ws.Close(websocket.StatusInternalError, "") }},
		{"lifetime ended", func(ws *websocket.Conn) { ws.Close(4002, "lifetime") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptServer(t, func(sc *srvConn) {
				if sc.n == 1 {
					tt.drop(sc.ws)
					return
				}
				sc.send(msgFrame("on-second", false))
				sc.drain()
			})
			got := make(chan string, 1)
			startClient(t, Config{
				URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
				OnMessage: func(m *protocol.Msg) { got <- m.ID },
			})
			if id := recv(t, got); id != "on-second" {
				t.Errorf("got %s", id)
			}
		})
	}
}

func TestSilentConnectionIsDropped(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		if sc.n == 2 {
			sc.send(msgFrame("on-second", false))
		}
		sc.drain() // and never ping
	})
	s.welcome = func(n int) string {
		ping := 0 // the second connection announces no pings, so it is never idle
		if n == 1 {
			ping = 20
		}
		return fmt.Sprintf(`{"t":"welcome","session":"s","account":"a1","device":"tv1","edge":"e","ping_ms":%d}`, ping)
	}
	got := make(chan string, 1)
	startClient(t, Config{
		URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnMessage: func(m *protocol.Msg) {
			select {
			case got <- m.ID:
			default:
			}
		},
	})
	if id := recv(t, got); id != "on-second" {
		t.Errorf("got %s", id)
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		name    string
		autoAck bool
		appAcks string   // the id that OnMessage acks with Client.Ack, if any
		want    []string // ack ids the server reads, in order
	}{
		// m1 and m3 ask for an ack, m2 does not; the duplicate of m1 is acked again.
		{"auto", true, "", []string{"m1", "m3", "m1", "manual"}},
		// The duplicate of m1, which the app has not acked, is left to the app.
		{"manual", false, "", []string{"manual"}},
		// The app acked m1: its duplicate is acked again by the client, m3 is not.
		{"manual, app acked the first", false, "m1", []string{"m1", "m1", "manual"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks := make(chan string, 8)
			s := newScriptServer(t, func(sc *srvConn) {
				sc.send(msgFrame("m1", true))
				sc.send(msgFrame("m2", false))
				sc.send(msgFrame("m3", true))
				sc.send(msgFrame("m1", true))
				sc.send(msgFrame("end", false))
				for {
					a, ok := mustRead[*protocol.Ack](sc)
					if !ok {
						return
					}
					acks <- a.ID
					if a.ID == "manual" {
						break
					}
				}
				sc.drain()
			})
			end := make(chan struct{})
			var delivered []string
			var client atomic.Pointer[Client]
			r := startClient(t, Config{
				URL: s.URL, Token: "tok", AutoAck: tt.autoAck,
				OnMessage: func(m *protocol.Msg) {
					if m.ID == "end" {
						close(end)
						return
					}
					delivered = append(delivered, m.ID)
					if m.ID == tt.appAcks {
						for client.Load() == nil {
							time.Sleep(time.Millisecond) // startClient has not returned yet
						}
						if err := client.Load().Ack(context.Background(), m.ID); err != nil {
							t.Errorf("Ack(%s) in OnMessage: %v", m.ID, err)
						}
					}
				},
			})
			client.Store(r.c)
			recv(t, end)
			if want := []string{"m1", "m2", "m3"}; !slices.Equal(delivered, want) {
				t.Errorf("delivered %v, want %v", delivered, want)
			}
			if err := r.c.Ack(context.Background(), "manual"); err != nil {
				t.Fatalf("Ack: %v", err)
			}
			var got []string
			for range tt.want {
				got = append(got, recv(t, acks))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("server read acks %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHelloSentAgainAfterReconnect(t *testing.T) {
	hellos := make(chan *protocol.Hello, 2)
	s := newScriptServer(t, func(sc *srvConn) {
		h, ok := mustRead[*protocol.Hello](sc)
		if !ok {
			return
		}
		hellos <- h
		if sc.n == 1 {
			return // drop the connection
		}
		sc.drain()
	})
	r := startClient(t, Config{URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	r.connected(t)
	info := protocol.DeviceInfo{Platform: "tv", Name: "Living room", Capabilities: []string{"playback"}}
	if err := r.c.Hello(context.Background(), info, true); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	for i := range 2 {
		h := recv(t, hellos)
		if h.Device == nil || h.Device.Name != "Living room" || h.Presence == nil || !*h.Presence {
			t.Errorf("hello %d = %+v", i+1, h)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	s := newScriptServer(t, func(sc *srvConn) { closed <- sc.closeStatus() })
	r := startClient(t, Config{URL: s.URL, Token: "tok"})
	r.connected(t)
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := recv(t, closed); got != websocket.StatusNormalClosure {
		t.Errorf("server saw close status %v, want %v", got, websocket.StatusNormalClosure)
	}
	if err := r.c.Ack(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Run = %v, want ErrClosed", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantURL string // "" means New must fail
	}{
		{"ws base", Config{URL: "ws://localhost:8080", Token: "t"}, "ws://localhost:8080/v1/connect"},
		{"http becomes ws", Config{URL: "http://edge:80/", Token: "t"}, "ws://edge:80/v1/connect"},
		{"https becomes wss", Config{URL: "https://edge.example.com/herald", Token: "t"}, "wss://edge.example.com/herald/v1/connect"},
		{"full path kept", Config{URL: "wss://edge/v1/connect?x=1", Token: "t"}, "wss://edge/v1/connect?x=1"},
		{"token func only", Config{URL: "ws://edge", TokenFunc: func(context.Context) (string, error) { return "", nil }}, "ws://edge/v1/connect"},
		{"no url", Config{Token: "t"}, ""},
		{"no token", Config{URL: "ws://edge"}, ""},
		{"bad scheme", Config{URL: "ftp://edge", Token: "t"}, ""},
		{"no host", Config{URL: "ws:///x", Token: "t"}, ""},
		{"max below min", Config{URL: "ws://edge", Token: "t", MinBackoff: time.Second, MaxBackoff: time.Millisecond}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantURL == "" {
				if err == nil {
					t.Fatalf("New succeeded with %s", c.eps[0].connect)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.eps[0].connect != tt.wantURL {
				t.Errorf("dial URL %s, want %s", c.eps[0].connect, tt.wantURL)
			}
			if c.cfg.MinBackoff != DefaultMinBackoff || c.cfg.MaxBackoff != DefaultMaxBackoff ||
				c.cfg.DedupSize != DefaultDedupSize || c.cfg.SendTimeout != DefaultSendTimeout || c.cfg.FallbackRetry != DefaultFallbackRetry || c.cfg.Logger == nil {
				t.Errorf("defaults not filled: %+v", c.cfg)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		StateConnecting: "connecting", StateConnected: "connected",
		StateDisconnected: "disconnected", StateClosed: "closed", State(9): "State(9)",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestRemovedIsFinal(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		sc.ws.Close(closeRemoved, "device removed")
	})
	r := startClient(t, Config{URL: s.URL, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err := r.wait(t); !errors.Is(err, ErrRemoved) {
		t.Fatalf("Run = %v, want ErrRemoved", err)
	}
	if n := len(s.acceptedTokens()); n != 1 {
		t.Errorf("%d connections, want 1: no reconnect after 4003", n)
	}
}
