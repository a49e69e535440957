package herald

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// receiptFrame returns a receipt frame for id with one result per
// device:status pair.
func receiptFrame(id string, pairs ...string) string {
	f := `{"t":"receipt","id":"` + id + `","results":[`
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			f += ","
		}
		f += `{"device":"` + pairs[i] + `","status":"` + pairs[i+1] + `"}`
	}
	return f + "]}"
}

// answerServer starts a server whose first connection reads one msg, hands it
// to the test on the returned channel, and runs answer on it; later
// connections only drain.
func answerServer(t *testing.T, answer func(sc *srvConn, m *protocol.Msg)) (*scriptServer, <-chan *protocol.Msg) {
	t.Helper()
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
		answer(sc, m)
		sc.drain()
	})
	return s, got
}

func TestSendTargets(t *testing.T) {
	tests := []struct {
		name string
		send func(c *Client) (*protocol.Receipt, error)
		want protocol.Target
	}{
		{
			name: "SendToDevice",
			send: func(c *Client) (*protocol.Receipt, error) {
				return c.SendToDevice(context.Background(), "tv1", "playback.control.v1", map[string]string{"action": "play"})
			},
			want: protocol.Target{Device: "tv1"},
		},
		{
			name: "SendToDevices",
			send: func(c *Client) (*protocol.Receipt, error) {
				return c.SendToDevices(context.Background(), []string{"tv1", "tab1"}, "playback.control.v1", map[string]string{"action": "play"})
			},
			want: protocol.Target{Devices: []string{"tv1", "tab1"}},
		},
		{
			name: "SendToSiblings",
			send: func(c *Client) (*protocol.Receipt, error) {
				return c.SendToSiblings(context.Background(), "playback.control.v1", map[string]string{"action": "play"})
			},
			want: protocol.Target{Siblings: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := answerServer(t, func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID, "tv1", "delivered"))
			})
			r := startClient(t, Config{URL: s.URL, Token: "tok"})
			r.connected(t)
			rc, err := tt.send(r.c)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			m := recv(t, got)
			if m.To == nil || m.To.Device != tt.want.Device || !slices.Equal(m.To.Devices, tt.want.Devices) || m.To.Siblings != tt.want.Siblings {
				t.Errorf("to = %+v, want %+v", m.To, tt.want)
			}
			if m.Ack || m.Type != "playback.control.v1" || string(m.Payload) != `{"action":"play"}` {
				t.Errorf("server got msg %+v", m)
			}
			if rc.ID != m.ID {
				t.Errorf("receipt id %s, want %s", rc.ID, m.ID)
			}
		})
	}
}

// deadlineCtx is a context whose deadline the test decides: once expire is
// called, it is done with context.DeadlineExceeded. It keeps tests free of
// timing.
type deadlineCtx struct {
	context.Context
	once sync.Once
	done chan struct{}
}

func newDeadlineCtx() *deadlineCtx {
	return &deadlineCtx{Context: context.Background(), done: make(chan struct{})}
}

func (d *deadlineCtx) expire()               { d.once.Do(func() { close(d.done) }) }
func (d *deadlineCtx) Done() <-chan struct{} { return d.done }

func (d *deadlineCtx) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// expireAfterWrite makes the test's deadline pass (a msg "expire" that
// OnMessage turns into deadlineCtx.expire), but only once the client's write
// of the msg being answered has returned: a deadline that passes during a
// write closes the connection. The client's auto ack of a msg "sync" is
// written after that write has returned, since writes take turns.
func expireAfterWrite(sc *srvConn) {
	sc.send(msgFrame("sync", true))
	if _, ok := mustRead[*protocol.Ack](sc); !ok {
		return
	}
	sc.send(msgFrame("expire", false))
}

func TestSendAndWait(t *testing.T) {
	tests := []struct {
		name   string
		answer func(sc *srvConn, m *protocol.Msg)
		want   []protocol.Result // the receipt returned; nil: no receipt
		err    error             // wrapped by the error returned; nil: no error
		code   protocol.Code     // the code of the *ServerError returned
	}{
		{
			name: "second receipt is final",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame("unrelated", "tv1", "acked"))
				sc.send(receiptFrame(m.ID, "tv1", "delivered", "tab1", "offline"))
				sc.send(receiptFrame(m.ID, "tv1", "acked", "tab1", "offline"))
			},
			want: []protocol.Result{{Device: "tv1", Status: protocol.StatusAcked}, {Device: "tab1", Status: protocol.StatusOffline}},
		},
		{
			name: "ack timed out",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID, "tv1", "delivered"))
				sc.send(receiptFrame(m.ID, "tv1", "timeout"))
			},
			want: []protocol.Result{{Device: "tv1", Status: protocol.StatusTimeout}},
		},
		{
			name: "first receipt already final",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID, "tv1", "offline", "tab1", "rejected"))
				// Nothing follows: SendAndWait must not wait for a second receipt.
			},
			want: []protocol.Result{{Device: "tv1", Status: protocol.StatusOffline}, {Device: "tab1", Status: protocol.StatusRejected}},
		},
		{
			name: "no targets",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID))
			},
			want: []protocol.Result{},
		},
		{
			name: "second receipt never comes",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID, "tv1", "delivered"))
				expireAfterWrite(sc)
			},
			want: []protocol.Result{{Device: "tv1", Status: protocol.StatusDelivered}},
			err:  context.DeadlineExceeded,
		},
		{
			name: "connection lost after the first receipt",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(receiptFrame(m.ID, "tv1", "delivered"))
				sc.ws.CloseNow()
			},
			want: []protocol.Result{{Device: "tv1", Status: protocol.StatusDelivered}},
			err:  ErrNotConnected,
		},
		{
			name: "connection lost before the first receipt",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.ws.CloseNow()
			},
			err: ErrNotConnected,
		},
		{
			name: "error frame",
			answer: func(sc *srvConn, m *protocol.Msg) {
				sc.send(`{"t":"error","re":"` + m.ID + `","code":"forbidden","message":"tv9 is not a device of a1"}`)
			},
			code: protocol.CodeForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := answerServer(t, tt.answer)
			ctx := newDeadlineCtx()
			r := startClient(t, Config{
				URL: s.URL, Token: "tok", MinBackoff: time.Hour, MaxBackoff: time.Hour,
				AutoAck: true,
				OnMessage: func(m *protocol.Msg) {
					if m.ID == "expire" {
						ctx.expire()
					}
				},
			})
			r.connected(t)
			go func() { // a failure bound only: every case ends without it
				select {
				case <-time.After(failAfter):
					t.Errorf("SendAndWait still waiting after %v", failAfter)
					ctx.expire()
				case <-ctx.Done():
				}
			}()
			defer ctx.expire()

			rc, err := r.c.SendAndWait(ctx, protocol.Target{Device: "tv1"}, "playback.control.v1",
				map[string]string{"action": "pause"}, WithAck(false), WithID("01JWAIT"))

			m := recv(t, got)
			if m.ID != "01JWAIT" || !m.Ack {
				t.Errorf("server got msg %s with ack %t, want 01JWAIT with ack:true", m.ID, m.Ack)
			}
			var se *ServerError
			switch {
			case tt.code != "":
				if !errors.As(err, &se) || se.Frame.Code != tt.code {
					t.Fatalf("SendAndWait error %v, want a *ServerError %s", err, tt.code)
				}
			case tt.err == nil && err != nil:
				t.Fatalf("SendAndWait: %v", err)
			case !errors.Is(err, tt.err):
				t.Fatalf("SendAndWait error %v, want %v", err, tt.err)
			}
			if tt.want == nil {
				if rc != nil {
					t.Errorf("receipt %+v, want none", rc)
				}
				return
			}
			if rc == nil || rc.ID != m.ID || !slices.Equal(rc.Results, tt.want) {
				t.Errorf("receipt %+v, want id %s with %v", rc, m.ID, tt.want)
			}
		})
	}
}

func TestSendAndWaitReleasesPending(t *testing.T) {
	// After a SendAndWait returns, another one with the same id can wait: the
	// pending entry is gone, whichever way the first one ended.
	s := newScriptServer(t, func(sc *srvConn) {
		for i := range 2 {
			m, ok := mustRead[*protocol.Msg](sc)
			if !ok {
				return
			}
			sc.send(receiptFrame(m.ID, "tv1", "delivered"))
			if i == 1 {
				sc.send(receiptFrame(m.ID, "tv1", "acked"))
			} else {
				expireAfterWrite(sc)
			}
		}
		sc.drain()
	})
	ctx := newDeadlineCtx()
	r := startClient(t, Config{
		URL: s.URL, Token: "tok", AutoAck: true,
		OnMessage: func(m *protocol.Msg) {
			if m.ID == "expire" {
				ctx.expire()
			}
		},
	})
	r.connected(t)
	to := protocol.Target{Device: "tv1"}
	if _, err := r.c.SendAndWait(ctx, to, "a.b.v1", 1, WithID("same")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first SendAndWait = %v, want context.DeadlineExceeded", err)
	}
	rc, err := r.c.SendAndWait(context.Background(), to, "a.b.v1", 1, WithID("same"))
	if err != nil || rc.Results[0].Status != protocol.StatusAcked {
		t.Fatalf("second SendAndWait = %+v, %v; want acked", rc, err)
	}
}

func TestOnReceipt(t *testing.T) {
	s, got := answerServer(t, func(sc *srvConn, m *protocol.Msg) {
		sc.send(receiptFrame(m.ID, "tv1", "delivered"))
		sc.send(receiptFrame("other", "tab1", "offline"))
		sc.send(receiptFrame(m.ID, "tv1", "acked"))
		sc.send(msgFrame("end", false))
	})
	var (
		mu       sync.Mutex
		receipts []string
	)
	end := make(chan struct{})
	r := startClient(t, Config{
		URL: s.URL, Token: "tok",
		OnReceipt: func(rc *protocol.Receipt) {
			mu.Lock()
			defer mu.Unlock()
			receipts = append(receipts, rc.ID+":"+string(rc.Results[0].Status))
		},
		OnMessage: func(m *protocol.Msg) {
			if m.ID == "end" {
				close(end)
			}
		},
	})
	r.connected(t)
	rc, err := r.c.Send(context.Background(), protocol.Target{Device: "tv1"}, "a.b.v1", 1, WithAck(true), WithID("m1"))
	if err != nil || rc.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("Send = %+v, %v; want the first receipt", rc, err)
	}
	recv(t, got)
	recv(t, end)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"m1:delivered", "other:offline", "m1:acked"}; !slices.Equal(receipts, want) {
		t.Errorf("OnReceipt saw %v, want %v", receipts, want)
	}
}

func TestOnPresence(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		sc.send(`{"t":"presence","device":"phone1","online":true,"platform":"ios","ts":1763884800123}`)
		sc.send(`{"t":"presence","device":"phone1","online":false,"ts":1763884800456}`)
		sc.drain()
	})
	presence := make(chan *protocol.Presence, 2)
	startClient(t, Config{
		URL: s.URL, Token: "tok",
		OnPresence: func(p *protocol.Presence) { presence <- p },
	})
	want := []protocol.Presence{
		{Device: "phone1", Online: true, Platform: "ios", TS: 1763884800123},
		{Device: "phone1", Online: false, TS: 1763884800456},
	}
	for i, w := range want {
		if p := recv(t, presence); *p != w {
			t.Errorf("presence %d = %+v, want %+v", i+1, *p, w)
		}
	}
}
