package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

// The tests here hold the trust rules a hostile device meets (docs/security.md,
// "Hostile devices"): each floods or forges one thing through a real WebSocket.

// TestIDsAreCheckedAtAdmission: message ids and target ids that break the
// contract's rule are a final bad_frame, never echoed back, never delivered.
func TestIDsAreCheckedAtAdmission(t *testing.T) {
	e := mustEdge(t, nil)
	e.mustList(t, "a1", "tv1")
	d := e.mustDial(t, "a1", "phone1")
	tv := e.mustDial(t, "a1", "tv1")
	tests := []struct {
		name  string
		frame string
	}{
		{"msg id with LF", `{"t":"msg","id":"x\n\ndata: {}","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`},
		{"msg id with CR", `{"t":"msg","id":"x\rdata","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`},
		{"msg id with a space", `{"t":"msg","id":"a b","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`},
		{"msg id not ASCII", `{"t":"msg","id":"é","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`},
		{"msg id too long", `{"t":"msg","id":"` + strings.Repeat("i", protocol.MaxMsgIDLen+1) + `","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`},
		{"target id with a space", `{"t":"msg","id":"m1","type":"tiny.echo.v1","to":{"device":"a b"},"payload":{}}`},
		{"target id with LF", `{"t":"msg","id":"m2","type":"tiny.echo.v1","to":{"devices":["tv1","x\ny"]},"payload":{}}`},
		{"target id empty in a list", `{"t":"msg","id":"m3","type":"tiny.echo.v1","to":{"devices":["tv1",""]},"payload":{}}`},
		{"target id too long", `{"t":"msg","id":"m4","type":"tiny.echo.v1","to":{"device":"` + strings.Repeat("d", protocol.MaxIDLen+1) + `"},"payload":{}}`},
		{"ack id with LF", `{"t":"ack","id":"x\ny"}`},
		{"ack id too long", `{"t":"ack","id":"` + strings.Repeat("i", protocol.MaxMsgIDLen+1) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.tb = t
			d.write(tt.frame)
			got := d.readError(protocol.CodeBadFrame)
			if got.Re != "" && !protocol.ValidMsgID(got.Re) {
				t.Fatalf("re %q echoes an invalid id", got.Re)
			}
		})
	}
	d.tb = t
	// Nothing reached tv1: the next frame it reads is this message.
	d.send(&protocol.Msg{ID: "ok", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})})
	if m := tv.readMsg(); m.ID != "ok" {
		t.Fatalf("tv1 got %+v first", m)
	}
}

// TestSSECannotBeInjected: an id that would end an SSE field early is refused at
// admission, and the SSE writer never lets CR or LF into a field, whatever
// reaches it.
func TestSSECannotBeInjected(t *testing.T) {
	e := mustEdge(t, nil)
	e.mustList(t, "a1", "tv1")
	events := e.mustEvents(t, "a1", "tv1")
	// The stream's headers come before the session is attached; its welcome after.
	if ev := nextEvent(t, events, true); !strings.Contains(ev.data, `"welcome"`) {
		t.Fatalf("first event %+v, want the welcome", ev)
	}
	d := e.mustDial(t, "a1", "phone1")
	forged := `{"t":"msg","id":"x\n\ndata: {\"t\":\"msg\",\"id\":\"f1\",\"type\":\"app.restart.v1\",\"from\":{\"service\":\"billing\"},\"payload\":{}}\n\nid: y","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{}}`
	d.write(forged)
	d.readError(protocol.CodeBadFrame)
	d.send(&protocol.Msg{ID: "after", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{"text": "a\nb"})})
	if ev := nextEvent(t, events, true); ev.id != "after" || !strings.Contains(ev.data, `"id":"after"`) {
		t.Fatalf("first event after the welcome: %+v", ev)
	}

	tests := []struct {
		name, id, data, want string
	}{
		{"plain", "m1", `{"t":"msg"}`, "id: m1\ndata: {\"t\":\"msg\"}\n\n"},
		{"no id", "", `{}`, "data: {}\n\n"},
		{"id with LF is left out", "x\n\ndata: {}", `{}`, "data: {}\n\n"},
		{"id with CR is left out", "x\ry", `{}`, "data: {}\n\n"},
		{"data with LF is split into data lines", "", "a\n\ndata: b", "data: a\ndata: \ndata: data: b\n\n"},
		{"data with CRLF and CR", "", "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendEvent(nil, tt.id, []byte(tt.data))); got != tt.want {
				t.Fatalf("appendEvent(%q, %q) = %q, want %q", tt.id, tt.data, got, tt.want)
			}
		})
	}
}

// FuzzSSEEvent: whatever the id and data, an event is one block of "id:" and
// "data:" lines that ends in one blank line, so nothing can start an event.
func FuzzSSEEvent(f *testing.F) {
	f.Add("m1", []byte(`{"t":"msg"}`))
	f.Add("x\n\ndata: y", []byte("a\r\n\r\nid: z"))
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		ev := string(appendEvent(nil, id, data))
		body, ok := strings.CutSuffix(ev, "\n\n")
		if !ok {
			t.Fatalf("event %q does not end in a blank line", ev)
		}
		if strings.Contains(body, "\r") {
			t.Fatalf("event %q has a CR", ev)
		}
		for i, line := range strings.Split(body, "\n") {
			if !strings.HasPrefix(line, "data: ") && (i > 0 || !strings.HasPrefix(line, "id: ")) {
				t.Fatalf("event %q has line %q", ev, line)
			}
		}
	})
}

// slowList is a device list whose Touch blocks until released and counts the
// writes in flight.
type slowList struct {
	*devicelist.Memory
	release  chan struct{}
	inFlight atomic.Int32
	peak     atomic.Int32
	touches  atomic.Int32
	mu       sync.Mutex
	last     *protocol.DeviceInfo
}

func (l *slowList) Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error {
	if info == nil {
		return l.Memory.Touch(ctx, account, device, nil)
	}
	n := l.inFlight.Add(1)
	defer l.inFlight.Add(-1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	l.touches.Add(1)
	select {
	case <-l.release:
	case <-ctx.Done():
	}
	l.mu.Lock()
	l.last = info
	l.mu.Unlock()
	return l.Memory.Touch(ctx, account, device, info)
}

// TestHelloFlood: however many hellos a connection sends, one device-list write
// of its is in flight, the latest metadata is the one written last, hellos over
// the hello budget are answered rate_limited, and invalid metadata is refused
// before it reaches a sibling.
func TestHelloFlood(t *testing.T) {
	list := &slowList{Memory: devicelist.NewMemory(), release: make(chan struct{})}
	e := mustEdge(t, func(c *Config) {
		c.Devices = list
		c.HelloRate, c.HelloBurst = 1000, 1000
		c.FrameRate, c.FrameBurst = 10000, 10000
	})
	d := e.mustDial(t, "a1", "tv1")
	const hellos = 500
	for i := range hellos {
		d.send(&protocol.Hello{Device: &protocol.DeviceInfo{Name: fmt.Sprintf("n%d", i)}})
	}
	// Every hello was handled once a message after them is answered. The writer may
	// start before the last hello or after it: one write or a few, the last the latest.
	d.send(&protocol.Msg{ID: "sync", Type: "no.such.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})})
	d.readError(protocol.CodeUnknownType)
	close(list.release)
	eventually(t, "the writes to end", func() bool { return list.inFlight.Load() == 0 && list.touches.Load() >= 1 })
	if p := list.peak.Load(); p != 1 {
		t.Fatalf("%d metadata writes in flight at once, want 1", p)
	}
	if n := list.touches.Load(); n > 3 {
		t.Fatalf("%d metadata writes for %d hellos, want the first and the latest (coalesced)", n, hellos)
	}
	eventually(t, "the latest metadata written", func() bool {
		list.mu.Lock()
		defer list.mu.Unlock()
		return list.last != nil && list.last.Name == fmt.Sprintf("n%d", hellos-1)
	})

	t.Run("over the hello budget", func(t *testing.T) {
		e := mustEdge(t, func(c *Config) { c.HelloRate, c.HelloBurst = 0.001, 3 })
		d := e.mustDial(t, "a1", "tv1")
		for range 3 {
			d.send(&protocol.Hello{})
		}
		d.send(&protocol.Hello{})
		d.readError(protocol.CodeRateLimited)
		if got := e.metric(t, "herald_edge_over_budget_total", "budget", "hellos"); got != 1 {
			t.Fatalf("over_budget{hellos} = %v, want 1", got)
		}
	})
	t.Run("invalid metadata is refused", func(t *testing.T) {
		e := mustEdge(t, nil)
		d := e.mustDial(t, "a1", "tv1")
		for _, info := range []*protocol.DeviceInfo{
			{Platform: strings.Repeat("p", protocol.MaxPlatformLen+1)},
			{Name: "a\x00b"},
			{Capabilities: []string{""}},
		} {
			d.send(&protocol.Hello{Device: info})
			d.readError(protocol.CodeBadFrame)
		}
	})
}

// countingList counts the device-list queries of the edge: account lists, and
// lookups of which accounts own a device id (which the edge once made for each
// unknown target).
type countingList struct {
	*devicelist.Memory
	ids atomic.Int32
}

func (l *countingList) IDs(ctx context.Context, account string) ([]string, error) {
	l.ids.Add(1)
	return l.Memory.IDs(ctx, account)
}

func (l *countingList) Owners(ctx context.Context, device string) ([]string, error) {
	l.ids.Add(1)
	return l.Memory.Owners(ctx, device)
}

// TestUnknownTargetsCostNoQuery: a message naming unknown devices is answered
// from the cached device list, without one store query per target: the list
// is read once, and once more for the unknown targets (a device just added
// elsewhere), at most once a second (the edge's clock stands still here).
func TestUnknownTargetsCostNoQuery(t *testing.T) {
	list := &countingList{Memory: devicelist.NewMemory()}
	clock := &testClock{now: time.Now()}
	e := mustEdge(t, func(c *Config) {
		c.Devices, c.Now = list, clock.Now
		c.MsgRate, c.MsgBurst = 100000, 100000
	})
	e.mustList(t, "a1", "tv1")
	d := e.mustDial(t, "a1", "phone1")
	before := list.ids.Load()
	const msgs, targets = 20, 100
	for i := range msgs {
		to := make([]string, targets)
		for j := range to {
			to[j] = fmt.Sprintf("nosuch-%d-%d", i, j)
		}
		d.send(&protocol.Msg{ID: fmt.Sprintf("m%d", i), Type: "tiny.echo.v1", To: &protocol.Target{Devices: to}, Payload: payload(map[string]any{})})
		r := d.readReceipt()
		if len(r.Results) != targets || r.Results[0].Error != errUnknownDevice {
			t.Fatalf("receipt %+v", r)
		}
	}
	if n := list.ids.Load() - before; n > 1+rereadBurst {
		t.Fatalf("%d device-list reads for %d messages of %d unknown targets, want at most %d", n, msgs, targets, 1+rereadBurst)
	}
	// A second later, one read more; no more.
	clock.advance(rereadEvery)
	d.send(&protocol.Msg{ID: "again", Type: "tiny.echo.v1", To: &protocol.Target{Device: "nosuch"}, Payload: payload(map[string]any{})})
	d.readReceipt()
	for i := range rereadBurst + 2 {
		d.send(&protocol.Msg{ID: fmt.Sprint("again-", i), Type: "tiny.echo.v1", To: &protocol.Target{Device: "nosuch"}, Payload: payload(map[string]any{})})
		d.readReceipt()
	}
	if n := list.ids.Load() - before; n > 1+2*rereadBurst {
		t.Fatalf("%d device-list reads after a second more, want at most %d", n, 1+2*rereadBurst)
	}
}

// TestTargetsCountAgainstTheRate: each target past the first takes a token of
// the message budget.
func TestTargetsCountAgainstTheRate(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.MsgRate, c.MsgBurst = 0.001, 10 })
	e.mustList(t, "a1", "a", "b", "c", "d", "e", "f", "g", "h")
	d := e.mustDial(t, "a1", "phone1")
	eight := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	d.send(&protocol.Msg{ID: "m1", Type: "tiny.echo.v1", To: &protocol.Target{Devices: eight}, Payload: payload(map[string]any{})})
	d.readReceipt() // 8 of 10 tokens
	d.send(&protocol.Msg{ID: "m2", Type: "tiny.echo.v1", To: &protocol.Target{Devices: eight[:3]}, Payload: payload(map[string]any{})})
	if e := d.readError(protocol.CodeRateLimited); e.Re != "m2" {
		t.Fatalf("error %+v", e)
	}
	d.send(&protocol.Msg{ID: "m3", Type: "tiny.echo.v1", To: &protocol.Target{Device: "a"}, Payload: payload(map[string]any{})})
	if r := d.readReceipt(); r.ID != "m3" {
		t.Fatalf("receipt %+v", r)
	}
}

// TestAckWaitsAreTheSenders: a second sender's message with the id that a first
// sender awaits an ack for is rejected for that device, so it can neither take
// over, cancel nor resolve the first sender's wait; the device's ack resolves
// the first sender's.
func TestAckWaitsAreTheSenders(t *testing.T) {
	e := mustEdge(t, nil)
	e.mustList(t, "a1", "tv1", "phone1")
	tv := e.mustDial(t, "a1", "tv1")
	phone := e.mustDial(t, "a1", "phone1")
	res := make(chan protocol.Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res <- e.srv.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "X", Type: "tiny.echo.v1", From: &protocol.Sender{Service: "billing"}, Ack: true, Payload: payload(map[string]any{})}, nil)
	}()
	if m := tv.readMsg(); m.ID != "X" {
		t.Fatalf("tv1 got %+v", m)
	}
	for _, ack := range []bool{true, false} {
		phone.send(&protocol.Msg{ID: "X", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Ack: ack, Payload: payload(map[string]any{})})
		r := phone.readReceipt()
		if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusRejected || r.Results[0].Error != errIDInUse.Error() {
			t.Fatalf("ack %v: receipt %+v, want rejected %s", ack, r, errIDInUse)
		}
	}
	select {
	case r := <-res:
		t.Fatalf("the service's wait ended early: %+v", r)
	default:
	}
	tv.send(&protocol.Ack{ID: "X"})
	if r := <-res; r.Status != protocol.StatusAcked {
		t.Fatalf("service push %+v, want acked", r)
	}
	// With the wait over, the id is free again.
	phone.send(&protocol.Msg{ID: "X", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})})
	if r := phone.readReceipt(); r.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("receipt %+v", r)
	}
}

// TestFrameBudget: every frame kind counts against the frame budget; error
// replies are bounded by the error budget; frames over the budget in a row close
// the connection with 1008.
func TestFrameBudget(t *testing.T) {
	tests := []struct {
		name  string
		frame string
	}{
		{"acks", `{"t":"ack","id":"m"}`},
		{"unknown kinds", `{"t":"zzz"}`},
		{"hellos", `{"t":"hello"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, func(c *Config) {
				c.FrameRate, c.FrameBurst = 0.001, 50
				c.ErrorRate, c.ErrorBurst = 0.001, 10
				c.HelloRate, c.HelloBurst = 1000, 1000
				c.MaxRateHits = 20
			})
			d := e.mustDial(t, "a1", "tv1")
			for range 50 + 20 {
				d.write(tt.frame)
			}
			errs := 0
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, data, err := d.c.Read(ctx)
				cancel()
				if err != nil {
					if s := websocket.CloseStatus(err); s != ClosePolicy {
						t.Fatalf("read: %v, want close %v", err, ClosePolicy)
					}
					break
				}
				if f, _ := protocol.Decode(data); f != nil && f.Kind() == "error" {
					errs++
				}
			}
			if errs > 10 {
				t.Fatalf("%d error frames, want at most the error burst 10", errs)
			}
			if got := e.metric(t, "herald_edge_over_budget_total", "budget", "frames"); got != 20 {
				t.Fatalf("over_budget{frames} = %v, want 20", got)
			}
		})
	}
}

// TestInvalidUTF8Closes1007: a text message that is not UTF-8 fails the
// connection with 1007 (RFC 6455, section 8.1).
func TestInvalidUTF8Closes1007(t *testing.T) {
	e := mustEdge(t, nil)
	d := e.mustDial(t, "a1", "tv1")
	d.write("{\"t\":\"ack\",\"id\":\"\xff\"}")
	if got := d.closeStatus(); got != CloseInvalidUTF8 {
		t.Fatalf("close status %v, want %v", got, CloseInvalidUTF8)
	}
}

// TestAckBodyIDs: POST /v1/acks refuses an id that breaks the rule with 400.
func TestAckBodyIDs(t *testing.T) {
	e := mustEdge(t, nil)
	for _, body := range []string{`{"ids":["a\nb"]}`, `{"ids":["ok",""]}`, `{"ids":["` + strings.Repeat("i", 129) + `"]}`} {
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %s, want 400", body, resp.Status)
		}
	}
}

// TestAckBodyRate: the ids of POST /v1/acks count against the frame budget.
func TestAckBodyRate(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.FrameRate, c.FrameBurst = 0.001, 5 })
	e.mustEvents(t, "a1", "tv1")
	eventually(t, "the SSE session", func() bool { return e.srv.session("a1", "tv1") != nil })
	post := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(`{"ids":["a","b","c","d"]}`); got != http.StatusOK {
		t.Fatalf("4 of 5 tokens: %d, want 200", got)
	}
	if got := post(`{"ids":["e","f"]}`); got != http.StatusTooManyRequests {
		t.Fatalf("2 more: %d, want 429", got)
	}
}

// TestTokenIDsAreChecked: a validly signed token whose account or sub breaks
// the id rule is refused with 401 on both transports, before the device is
// connected, listed or retried, and no log line quotes the id.
func TestTokenIDsAreChecked(t *testing.T) {
	logs := &logBuffer{}
	e := mustEdge(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const marker = "HOSTILE"
	long := marker + strings.Repeat("x", 48<<10)
	tests := []struct{ name, account, sub string }{
		{"account with a space", marker + " 1", "tv1"},
		{"account too long", long, "tv1"},
		{"account empty", "", "tv1"},
		{"sub with a newline", "a1", marker + "\nlevel=ERROR"},
		{"sub with a control character", "a1", marker + "\x01"},
		{"sub too long", "a1", long},
		{"sub empty", "a1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"account": tt.account, "sub": tt.sub, "exp": time.Now().Add(time.Hour).Unix()})
			raw, err := tok.SignedString(testSecret)
			if err != nil {
				t.Fatal(err)
			}
			hdr := http.Header{"Authorization": {"Bearer " + raw}}
			if c, resp, err := e.dial("", "", hdr); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				if c != nil {
					c.CloseNow()
				}
				t.Fatalf("websocket: %v %v, want 401", resp, err)
			}
			req, _ := http.NewRequest(http.MethodGet, e.hs.URL+"/v1/events", nil)
			req.Header = hdr
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("events: %s, want 401", resp.Status)
			}
		})
	}
	if n := e.srv.Stats().Connections; n != 0 {
		t.Fatalf("%d connections", n)
	}
	e.srv.unlistedMu.Lock()
	unlisted := len(e.srv.unlisted)
	e.srv.unlistedMu.Unlock()
	if unlisted != 0 {
		t.Fatalf("%d devices waiting to be listed", unlisted)
	}
	if out := logs.String(); strings.Contains(out, marker) {
		t.Fatalf("the logs quote a refused id:\n%.500s", out)
	}
	if !strings.Contains(logs.String(), `"msg":"authentication failed"`) {
		t.Fatal("the refusals were not logged")
	}
}

// TestTargetAddedElsewhereFoundAtOnce: a device added to the account's list
// whose version change has not reached this edge yet (the registry's
// client-side cache) is found by the list's read past the cache, not
// answered unknown.
func TestTargetAddedElsewhereFoundAtOnce(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e := mustEdge(t, func(c *Config) { c.Now = clock.Now })
	e.mustList(t, "a1", "phone1")
	d := e.mustDial(t, "a1", "phone1")
	send := func(id string) protocol.Result {
		t.Helper()
		d.send(&protocol.Msg{ID: id, Type: "tiny.echo.v1", To: &protocol.Target{Device: "car1"}, Payload: payload(map[string]any{})})
		r := d.readReceipt()
		if len(r.Results) != 1 {
			t.Fatalf("receipt %+v", r)
		}
		return r.Results[0]
	}
	if r := send("m1"); r.Error != errUnknownDevice {
		t.Fatalf("before it is listed: %+v, want unknown", r)
	}
	// Listed, without the version bump that would reach this edge's cache.
	if _, _, err := e.devs.Put(context.Background(), devicelist.Device{Account: "a1", ID: "car1"}); err != nil {
		t.Fatal(err)
	}
	clock.advance(rereadEvery)
	if r := send("m2"); r.Status != protocol.StatusOffline {
		t.Fatalf("once listed: %+v, want offline (a sibling, not connected)", r)
	}
}
