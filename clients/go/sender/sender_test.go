package sender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/clients/go/msgtypes"
	"github.com/heraldpush/herald/clients/go/sender"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/heraldpush/herald/settings"
)

// heraldBin is the herald binary the tests run, built once in TestMain.
var heraldBin string

// exampleURL is the `herald dev` the examples send to, started by TestMain.
var exampleURL string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "herald-sender-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if heraldBin, err = testenv.BuildHerald(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr, stop, err := startDev()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	exampleURL = "http://" + addr
	return m.Run()
}

// startDev runs `herald dev` on a free port of 127.0.0.1 for the examples
// and waits until it answers.
func startDev() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr = ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(heraldBin, "dev", "--addr", addr, "--admin-addr", "", "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("herald dev did not answer in 60 s")
}

// dev starts a `herald dev` of the test's own with args.
func dev(t *testing.T, args ...string) string {
	t.Helper()
	h := testenv.StartHerald(t, heraldBin, "dev", "dev", args...)
	return "http://" + h.Addr
}

func mustClient(t *testing.T, base string, mutate func(*sender.Config)) *sender.Client {
	t.Helper()
	cfg := sender.Config{URL: base, APIKey: settings.DevAPIKey, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := sender.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// device is a raw WebSocket device of a `herald dev`.
type device struct {
	t *testing.T
	c *websocket.Conn
}

func connect(t *testing.T, base, account, id string, topics ...string) *device {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.IssueTopics(account, id, time.Hour, topics)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &device{t: t, c: c}
	if _, ok := d.next().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	return d
}

func (d *device) next() protocol.Frame {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 10*time.Second)
	defer cancel()
	_, data, err := d.c.Read(ctx)
	if err != nil {
		d.t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		d.t.Fatal(err)
	}
	return f
}

func (d *device) msg() *protocol.Msg {
	d.t.Helper()
	for {
		if m, ok := d.next().(*protocol.Msg); ok {
			return m
		}
	}
}

type note struct {
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// waitStatus polls Status until every device of id has want.
func waitStatus(t *testing.T, c *sender.Client, id, want string) sender.Status {
	t.Helper()
	var st sender.Status
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err = c.Status(t.Context(), id)
		if err == nil && st.Status == want {
			return st
		}
	}
	t.Fatalf("status of %s: %+v, %v; want %s", id, st, err, want)
	return st
}

// TestSenderAgainstDev runs every call of the Client against a real
// `herald dev` and a real device.
func TestSenderAgainstDev(t *testing.T) {
	base := dev(t)
	c := mustClient(t, base, nil)
	ctx := t.Context()
	tv := connect(t, base, "a1", "tv1", "news.*")

	t.Run("push", func(t *testing.T) {
		res, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "hi"}, Timeout: 5 * time.Second})
		if err != nil || res.ID == "" || len(res.Results) != 1 || res.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("Push = %+v, %v", res, err)
		}
		if m := tv.msg(); m.ID != res.ID || !strings.Contains(string(m.Payload), `"hi"`) {
			t.Fatalf("tv got %+v", m)
		}
	})
	t.Run("push of a generated type", func(t *testing.T) {
		res, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Payload: msgtypes.NotificationV1{Title: "typed"}})
		if err != nil || res.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("Push = %+v, %v", res, err)
		}
		if m := tv.msg(); m.Type != "notification.v1" || !strings.Contains(string(m.Payload), `"typed"`) {
			t.Fatalf("tv got %+v", m)
		}
	})
	t.Run("push batch", func(t *testing.T) {
		res, err := c.PushBatch(ctx, []sender.Push{
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "one"}},
			{To: sender.Device("a1", "tv1"), Type: "no.such.type.v1", Payload: note{Title: "two"}},
		}, 5*time.Second)
		if err != nil || len(res) != 2 {
			t.Fatalf("PushBatch = %+v, %v", res, err)
		}
		if res[0].Err != nil || len(res[0].Results) != 1 || res[0].Results[0].Status != protocol.StatusDelivered {
			t.Errorf("first: %+v", res[0])
		}
		if res[1].Err == nil || res[1].Err.Code != protocol.CodeUnknownType {
			t.Errorf("second: %+v, want unknown_type", res[1])
		}
		tv.msg()
	})
	t.Run("send and status", func(t *testing.T) {
		id, err := c.Send(ctx, sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "later"}, Ack: ptr(true)})
		if err != nil || id == "" {
			t.Fatalf("Send = %q, %v", id, err)
		}
		m := tv.msg()
		if m.ID != id {
			t.Fatalf("tv got %+v", m)
		}
		waitStatus(t, c, id, "delivered")
		if err := tv.c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"t":"ack","id":%q}`, id)); err != nil {
			t.Fatal(err)
		}
		st := waitStatus(t, c, id, "acked")
		if len(st.Devices) != 1 || st.Devices[0].Device != "tv1" || st.Account != "a1" {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("send batch", func(t *testing.T) {
		res, err := c.SendBatch(ctx, []sender.Message{
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "first"}},
			{To: sender.Device("a1", "tv1"), Payload: msgtypes.NotificationV1{Title: "second"}, IdempotencyKey: "batch-second"},
		})
		if err != nil || len(res) != 2 {
			t.Fatalf("SendBatch = %+v, %v", res, err)
		}
		for i, r := range res {
			if r.Err != nil || r.ID == "" || r.Replayed || r.IdempotencyKey == "" {
				t.Errorf("message %d: %+v, want accepted under a key", i, r)
			}
		}
		if res[1].IdempotencyKey != "batch-second" {
			t.Errorf("key of the second: %q, want the message's own", res[1].IdempotencyKey)
		}
		for _, r := range res {
			if m := tv.msg(); m.ID != r.ID {
				t.Fatalf("tv got %+v, want %s", m, r.ID)
			}
		}
		st := waitStatus(t, c, res[0].ID, "delivered")
		if st.Account != "a1" {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("send batch with a bad message", func(t *testing.T) {
		res, err := c.SendBatch(ctx, []sender.Message{
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "good"}},
			{To: sender.Device("a1", "tv1"), Type: "no.such.type.v1", Payload: note{Title: "bad"}},
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: map[string]any{"title": 7}},
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "also good"}},
		})
		if err != nil || len(res) != 4 {
			t.Fatalf("SendBatch = %+v, %v", res, err)
		}
		for _, i := range []int{0, 3} {
			if res[i].Err != nil || res[i].ID == "" {
				t.Errorf("message %d: %+v, want accepted", i, res[i])
			}
		}
		if p := res[1].Err; p == nil || p.Code != protocol.CodeUnknownType || res[1].ID != "" {
			t.Errorf("message 1: %+v, want unknown_type", res[1])
		}
		if p := res[2].Err; p == nil || p.Code != protocol.CodeSchemaInvalid || p.Status != http.StatusUnprocessableEntity || len(p.Details) == 0 || p.Details[0].Pointer != "/title" {
			t.Errorf("message 2: %+v, want schema_invalid at /title", res[2])
		}
		for _, i := range []int{0, 3} {
			if m := tv.msg(); m.ID != res[i].ID {
				t.Fatalf("tv got %+v, want %s", m, res[i].ID)
			}
		}
	})
	t.Run("send batch again with the same keys", func(t *testing.T) {
		batch := []sender.Message{
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "keyed one"}, IdempotencyKey: "again-1"},
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "keyed two"}, IdempotencyKey: "again-2"},
		}
		first, err := c.SendBatch(ctx, batch)
		if err != nil || len(first) != 2 || first[0].Replayed || first[1].Replayed {
			t.Fatalf("SendBatch = %+v, %v", first, err)
		}
		again, err := c.SendBatch(ctx, batch)
		if err != nil || len(again) != 2 {
			t.Fatalf("SendBatch again = %+v, %v", again, err)
		}
		for i := range again {
			if !again[i].Replayed || again[i].ID != first[i].ID || again[i].Err != nil {
				t.Errorf("message %d again: %+v, want replayed %s", i, again[i], first[i].ID)
			}
		}
		batch[0].Payload = note{Title: "another text"}
		other, err := c.SendBatch(ctx, batch[:1])
		if err != nil || len(other) != 1 || other[0].Err == nil || other[0].Err.Code != protocol.CodeConflict {
			t.Errorf("a key with another message: %+v, %v, want its conflict", other, err)
		}
		for _, r := range first {
			if m := tv.msg(); m.ID != r.ID {
				t.Fatalf("tv got %+v, want %s", m, r.ID)
			}
		}
	})
	t.Run("publish and count", func(t *testing.T) {
		sub := `{"t":"sub","id":"s1","topics":["news.sports"]}`
		if err := tv.c.Write(ctx, websocket.MessageText, []byte(sub)); err != nil {
			t.Fatal(err)
		}
		if _, ok := tv.next().(*protocol.Subs); !ok {
			t.Fatal("no subs answer")
		}
		res, err := c.Publish(ctx, "news.sports", sender.Publication{Type: "notification.v1", Payload: note{Title: "goal"}})
		if err != nil || res.Devices != 1 || res.ID == "" {
			t.Fatalf("Publish = %+v, %v", res, err)
		}
		if m := tv.msg(); m.Topic != "news.sports" {
			t.Fatalf("tv got %+v", m)
		}
		n, err := c.TopicCount(ctx, "news.sports")
		if err != nil || n.Subscribers != 1 {
			t.Fatalf("TopicCount = %+v, %v", n, err)
		}
	})
	t.Run("devices", func(t *testing.T) {
		d, err := c.PutDevice(ctx, "a1", "radio1", sender.DeviceUpdate{Platform: "web", Name: "Kitchen radio"})
		if err != nil || d.ID != "radio1" || d.Name != "Kitchen radio" {
			t.Fatalf("PutDevice (new) = %+v, %v", d, err)
		}
		if d, err = c.PutDevice(ctx, "a1", "radio1", sender.DeviceUpdate{Platform: "web", Name: "Radio"}); err != nil || d.Name != "Radio" {
			t.Fatalf("PutDevice (update) = %+v, %v", d, err)
		}
		list, err := c.Devices(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		online := map[string]bool{}
		for _, d := range list {
			online[d.ID] = d.Online
		}
		if !online["tv1"] || online["radio1"] {
			t.Fatalf("Devices = %+v", list)
		}
		if err := c.DeleteDevice(ctx, "a1", "radio1"); err != nil {
			t.Fatal(err)
		}
		var p *sender.Problem
		if err := c.DeleteDevice(ctx, "a1", "radio1"); !errors.As(err, &p) || p.Code != protocol.CodeNotFound || p.Status != http.StatusNotFound {
			t.Fatalf("deleting again: %v, want a not_found Problem", err)
		}
	})
	t.Run("problems are typed", func(t *testing.T) {
		_, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: map[string]any{"title": 7}})
		var p *sender.Problem
		if !errors.As(err, &p) || p.Code != protocol.CodeSchemaInvalid || p.Status != http.StatusUnprocessableEntity || len(p.Details) == 0 || p.Details[0].Pointer != "/title" {
			t.Fatalf("err %v (%+v), want schema_invalid at /title", err, p)
		}
		bad := mustClient(t, base, func(c *sender.Config) { c.APIKey = "wrong" })
		if _, err := bad.Status(ctx, "x"); !errors.As(err, &p) || p.Code != protocol.CodeUnauthorized {
			t.Fatalf("wrong key: %v", err)
		}
	})
}

// faultProxy stands in front of a herald and answers the first requests of
// a path itself, or forwards them and then loses the answer.
type faultProxy struct {
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu     sync.Mutex
	keys   []string // the Idempotency-Key of every request seen
	bodies [][]byte // the body of every request seen
	// script is what happens to the next requests, in turn: "503", "503ra"
	// (with Retry-After: 1), "429", "lose" (forwarded, answer replaced by a
	// 502), "" or nothing left: forwarded.
	script []string
	seen   atomic.Int32
}

func newFaultProxy(t *testing.T, base string, script ...string) (*faultProxy, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{target: u, proxy: httputil.NewSingleHostReverseProxy(u), script: script}
	hs := httptest.NewServer(fp)
	t.Cleanup(hs.Close)
	return fp, hs.URL
}

func (fp *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fp.seen.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	fp.mu.Lock()
	fp.keys = append(fp.keys, r.Header.Get("Idempotency-Key"))
	fp.bodies = append(fp.bodies, body)
	step := ""
	if len(fp.script) > 0 {
		step, fp.script = fp.script[0], fp.script[1:]
	}
	fp.mu.Unlock()
	switch step {
	case "503":
		protocol.NewProblem(protocol.CodeUnavailable, "injected").Write(w)
	case "503ra":
		w.Header().Set("Retry-After", "1")
		protocol.NewProblem(protocol.CodeUnavailable, "injected").Write(w)
	case "429":
		w.Header().Set("Retry-After", "1")
		protocol.NewProblem(protocol.CodeRateLimited, "injected").Write(w)
	case "lose":
		fp.proxy.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "bad gateway", http.StatusBadGateway)
	default:
		fp.proxy.ServeHTTP(w, r)
	}
}

func (fp *faultProxy) seenKeys() []string {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return append([]string(nil), fp.keys...)
}

// seenBatchKeys returns the idempotency_key of each message of every batch
// request seen, one list per request.
func (fp *faultProxy) seenBatchKeys(t *testing.T) [][]string {
	t.Helper()
	fp.mu.Lock()
	defer fp.mu.Unlock()
	var all [][]string
	for _, b := range fp.bodies {
		var req struct {
			Messages []struct {
				Key string `json:"idempotency_key"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatalf("a request's body %q: %v", b, err)
		}
		var keys []string
		for _, m := range req.Messages {
			keys = append(keys, m.Key)
		}
		all = append(all, keys)
	}
	return all
}

// TestSenderRetries injects failures between the Client and a real herald:
// a Send is retried under one Idempotency-Key and enqueued once, even when
// an answer is lost after the server took it; a Push is retried only when
// the server said it did nothing.
func TestSenderRetries(t *testing.T) {
	base := dev(t)
	ctx := t.Context()
	tv := connect(t, base, "a1", "tv1")

	t.Run("send through 503s and a lost answer is enqueued once", func(t *testing.T) {
		fp, via := newFaultProxy(t, base, "503", "lose", "503")
		c := mustClient(t, via, nil)
		id, err := c.Send(ctx, sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "once"}})
		if err != nil {
			t.Fatal(err)
		}
		keys := fp.seenKeys()
		if len(keys) != 4 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] || keys[3] != keys[0] {
			t.Fatalf("Idempotency-Keys of the attempts: %q, want 4 of one key", keys)
		}
		if m := tv.msg(); m.ID != id {
			t.Fatalf("tv got %+v, want %s", m, id)
		}
		// A marker sent after: had the lost attempt been enqueued twice, its
		// repeat would come before it.
		marker, err := c.Send(ctx, sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "marker"}})
		if err != nil {
			t.Fatal(err)
		}
		if m := tv.msg(); m.ID != marker {
			t.Fatalf("tv got %+v after the message, want only the marker %s", m, marker)
		}
	})
	t.Run("send batch through a 503 and a lost answer is enqueued once", func(t *testing.T) {
		fp, via := newFaultProxy(t, base, "503", "lose")
		c := mustClient(t, via, nil)
		res, err := c.SendBatch(ctx, []sender.Message{
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "batch one"}},
			{To: sender.Device("a1", "tv1"), Type: "no.such.type.v1", Payload: note{Title: "never"}},
			{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "batch two"}, IdempotencyKey: "retried-two"},
		})
		if err != nil || len(res) != 3 {
			t.Fatalf("SendBatch = %+v, %v", res, err)
		}
		attempts := fp.seenBatchKeys(t)
		if len(attempts) != 3 {
			t.Fatalf("%d attempts, want 3", len(attempts))
		}
		first := attempts[0]
		if len(first) != 3 || first[0] == "" || first[1] == "" || first[0] == first[1] || first[2] != "retried-two" {
			t.Fatalf("keys of the first attempt: %q, want 3 distinct, the last the message's own", first)
		}
		for i, keys := range attempts[1:] {
			if !slices.Equal(keys, first) {
				t.Fatalf("keys of attempt %d: %q, want %q", i+2, keys, first)
			}
		}
		for _, i := range []int{0, 2} {
			if r := res[i]; r.Err != nil || r.ID == "" || !r.Replayed || r.IdempotencyKey != first[i] {
				t.Errorf("message %d: %+v, want replayed under %s", i, r, first[i])
			}
		}
		if res[1].Err == nil || res[1].Err.Code != protocol.CodeUnknownType {
			t.Errorf("message 1: %+v, want unknown_type", res[1])
		}
		marker, err := c.Send(ctx, sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "batch marker"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{res[0].ID, res[2].ID, marker} {
			if m := tv.msg(); m.ID != id {
				t.Fatalf("tv got %+v, want %s: each message once, then the marker", m, id)
			}
		}
	})
	t.Run("push is not retried after a 503 without Retry-After", func(t *testing.T) {
		fp, via := newFaultProxy(t, base, "503")
		c := mustClient(t, via, nil)
		_, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "x"}})
		var p *sender.Problem
		if !errors.As(err, &p) || p.Code != protocol.CodeUnavailable || fp.seen.Load() != 1 {
			t.Fatalf("err %v after %d attempts, want one unavailable", err, fp.seen.Load())
		}
	})
	t.Run("push is retried after a 429 and a 503 with Retry-After", func(t *testing.T) {
		fp, via := newFaultProxy(t, base, "429", "503ra")
		c := mustClient(t, via, func(c *sender.Config) { c.MaxBackoff = time.Second })
		res, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "y"}})
		if err != nil || res.Results[0].Status != protocol.StatusDelivered || fp.seen.Load() != 3 {
			t.Fatalf("Push = %+v, %v after %d attempts", res, err, fp.seen.Load())
		}
		if m := tv.msg(); m.ID != res.ID {
			t.Fatalf("tv got %+v", m)
		}
	})
	t.Run("retries stop at MaxRetries", func(t *testing.T) {
		fp, via := newFaultProxy(t, base, "503", "503", "503", "503", "503")
		c := mustClient(t, via, func(c *sender.Config) { c.MaxRetries = 2 })
		_, err := c.Status(ctx, "01K0000000000000000000000")
		var p *sender.Problem
		if !errors.As(err, &p) || p.Code != protocol.CodeUnavailable || fp.seen.Load() != 3 {
			t.Fatalf("err %v after %d attempts, want unavailable after 3", err, fp.seen.Load())
		}
	})
	t.Run("the context bounds the retries", func(t *testing.T) {
		_, via := newFaultProxy(t, base, "429", "429", "429")
		c := mustClient(t, via, func(c *sender.Config) { c.MaxBackoff = 10 * time.Second })
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := c.Push(cctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "z"}})
		var p *sender.Problem
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &p) || p.Code != protocol.CodeRateLimited {
			t.Fatalf("err %v, want the deadline with the last rate_limited", err)
		}
	})
}

// TestSenderKafkaDown sends while the Kafka cluster behind a herald is
// gone: Send retries, then reports the server's unavailable as a Problem;
// SendBatch reports it for each message.
func TestSenderKafkaDown(t *testing.T) {
	kafka := testenv.Kafka(t, 1)
	base := dev(t, "--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--kafka-produce-timeout", "1s")
	c := mustClient(t, base, func(c *sender.Config) { c.MaxRetries = 1 })
	if _, err := c.Send(t.Context(), sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "up"}}); err != nil {
		t.Fatalf("Send with Kafka up: %v", err)
	}
	kafka.Close()
	_, err := c.Send(t.Context(), sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "down"}})
	var p *sender.Problem
	if !errors.As(err, &p) || p.Code != protocol.CodeUnavailable || p.Status != http.StatusServiceUnavailable {
		t.Fatalf("Send with Kafka down: %v, want an unavailable Problem", err)
	}
	// A batch is answered, each message with the queue's unavailable: not
	// accepted, and left to the caller to send again.
	res, err := c.SendBatch(t.Context(), []sender.Message{
		{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "down 1"}},
		{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "down 2"}},
	})
	if err != nil || len(res) != 2 {
		t.Fatalf("SendBatch with Kafka down = %+v, %v", res, err)
	}
	for i, r := range res {
		if r.Err == nil || r.Err.Code != protocol.CodeUnavailable || r.Err.Status != http.StatusServiceUnavailable || r.ID != "" {
			t.Errorf("message %d with Kafka down: %+v, want an unavailable Problem", i, r)
		}
	}
}

// TestSendBatchRefused checks what SendBatch answers when the request as a
// whole is not a batch: the server's Problem, not retried, or an error
// before any request.
func TestSendBatchRefused(t *testing.T) {
	base := dev(t)
	one := sender.Message{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note{Title: "x"}}
	for _, c := range []struct {
		name     string
		msgs     []sender.Message
		code     protocol.Code
		status   int
		requests int32
	}{
		{"no messages", nil, protocol.CodeBadRequest, http.StatusBadRequest, 1},
		{"over MaxBatch", slices.Repeat([]sender.Message{one}, 501), protocol.CodeTooLarge, http.StatusRequestEntityTooLarge, 1},
		{"a payload that is not JSON", []sender.Message{one, {To: one.To, Type: one.Type, Payload: make(chan int)}}, "", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			fp, via := newFaultProxy(t, base)
			res, err := mustClient(t, via, nil).SendBatch(t.Context(), c.msgs)
			if err == nil {
				t.Fatalf("SendBatch = %+v, want an error", res)
			}
			var p *sender.Problem
			if c.code != "" && (!errors.As(err, &p) || p.Code != c.code || p.Status != c.status) {
				t.Errorf("err %v, want %s %d", err, c.code, c.status)
			}
			if n := fp.seen.Load(); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  sender.Config
	}{
		{"no URL", sender.Config{APIKey: "k"}},
		{"not http", sender.Config{URL: "ws://h:1", APIKey: "k"}},
		{"no host", sender.Config{URL: "http://", APIKey: "k"}},
		{"no key", sender.Config{URL: "http://h:1"}},
		{"backoffs crossed", sender.Config{URL: "http://h:1", APIKey: "k", MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
	} {
		if _, err := sender.New(c.cfg); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// A push to a device that is not connected, now or never.
func ExampleClient_Push() {
	c, err := sender.New(sender.Config{URL: exampleURL, APIKey: "dev-api-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	res, err := c.Push(context.Background(), sender.Push{
		To:      sender.Device("a1", "tv-example"),
		Type:    "notification.v1",
		Payload: map[string]string{"title": "Hello"},
		TTL:     ptr[int64](0),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Results {
		fmt.Println(r.Device, r.Status)
	}
	// Output: tv-example offline
}

// An asynchronous message, and what became of it: the device is offline, so
// the message waits in its inbox.
func ExampleClient_Send() {
	c, err := sender.New(sender.Config{URL: exampleURL, APIKey: "dev-api-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	id, err := c.Send(ctx, sender.Message{
		To:      sender.Device("a1", "tv-example"),
		Type:    "notification.v1",
		Payload: map[string]string{"title": "Later"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := c.Status(ctx, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Status)
	// Output: queued
}

// Asynchronous messages in one request: each has its id, or the problem
// that kept it from being enqueued.
func ExampleClient_SendBatch() {
	c, err := sender.New(sender.Config{URL: exampleURL, APIKey: "dev-api-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	res, err := c.SendBatch(context.Background(), []sender.Message{
		{To: sender.Device("a1", "tv-example"), Type: "notification.v1", Payload: map[string]string{"title": "One"}},
		{To: sender.Device("a1", "tv-example"), Type: "no.such.type.v1", Payload: map[string]string{"title": "Two"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, r := range res {
		if r.Err != nil {
			fmt.Println(i, r.Err.Code)
			continue
		}
		fmt.Println(i, "enqueued")
	}
	// Output:
	// 0 enqueued
	// 1 unknown_type
}

// TestSenderAgainstCluster sends through the API process of a cluster (two
// edges and an API process on one Redis and Postgres) to a device on the
// second edge, synchronously and through Kafka.
func TestSenderAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const secret = "sender-cluster-token-secret-32-bytes-long"
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	kafka := testenv.Kafka(t, 1)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "sender:", "--cluster-key", "sender-cluster-key-0123456789",
		"--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--token-secret", secret}
	testenv.StartHerald(t, heraldBin, "edge-1", "serve", append([]string{"--roles=edge", "--edge-id", "edge-1", "--internal-addr", "127.0.0.1:0"}, common...)...)
	e2 := testenv.StartHerald(t, heraldBin, "edge-2", "serve", append([]string{"--roles=edge", "--edge-id", "edge-2", "--internal-addr", "127.0.0.1:0"}, common...)...)
	api := testenv.StartHerald(t, heraldBin, "api", "serve", append([]string{"--roles=api,processor", "--edge-id", "api-1", "--api-keys", "backend:cluster-sender-secret"}, common...)...)

	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("a1", "tv1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+e2.Addr+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	tv := &device{t: t, c: c}
	if _, ok := tv.next().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}

	s, err := sender.New(sender.Config{URL: "http://" + api.Addr, APIKey: "cluster-sender-secret", MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Payload: msgtypes.NotificationV1{Title: "across edges"}})
	if err != nil || res.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("Push = %+v, %v", res, err)
	}
	if m := tv.msg(); m.ID != res.ID {
		t.Fatalf("tv got %+v", m)
	}
	id, err := s.Send(ctx, sender.Message{To: sender.Device("a1", "tv1"), Payload: msgtypes.NotificationV1{Title: "through Kafka"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := tv.msg(); m.ID != id {
		t.Fatalf("tv got %+v, want %s", m, id)
	}
	waitStatus(t, s, id, "delivered")
}
