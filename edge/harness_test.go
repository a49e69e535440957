package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var testSecret = []byte("edge-test-secret-of-at-least-32-bytes!")

// testEdge is one edge server on an httptest listener with the in-memory registry.
type testEdge struct {
	srv     *Server
	hs      *httptest.Server
	reg     *registry.Memory
	devs    *devicelist.Memory
	iss     *token.Issuer
	metrics *prometheus.Registry // the edge's Config.Metrics
}

// extraTypes adds a service-only and a tiny type to the built-in ones.
var extraTypes = fstest.MapFS{
	"tiny.echo.v1.json": {Data: []byte(`{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type": "object",
		"properties": {"text": {"type": "string"}},
		"x-herald": {"directions": ["device_to_device", "service_to_device"], "max_bytes": 64, "description": "test echo"}
	}`)},
}

func mustTypes(tb testing.TB) *protocol.Types {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS, extraTypes)
	if err != nil {
		tb.Fatal(err)
	}
	return types
}

// mustEdge starts an edge; mutate adjusts its config before New.
func mustEdge(tb testing.TB, mutate func(*Config)) *testEdge {
	tb.Helper()
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: testSecret}}})
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	metrics := prometheus.NewRegistry()
	cfg := Config{ID: "edge-1", Verifier: v, Registry: reg, Types: mustTypes(tb), Devices: devs, Versions: reg, Metrics: metrics}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &testEdge{srv: s, hs: hs, reg: reg, devs: devs, iss: iss, metrics: metrics}
}

func (e *testEdge) token(tb testing.TB, account, device string) string {
	tb.Helper()
	tok, err := e.iss.Issue(account, device, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (e *testEdge) wsURL() string { return "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/v1/connect" }

// device is a raw WebSocket client of the test.
type device struct {
	tb      testing.TB
	c       *websocket.Conn
	welcome *protocol.Welcome
}

// mustDial connects account/device and reads its welcome.
func (e *testEdge) mustDial(tb testing.TB, account, dev string) *device {
	tb.Helper()
	c, _, err := e.dial(account, dev, nil)
	if err != nil {
		tb.Fatalf("dial %s/%s: %v", account, dev, err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: tb, c: c}
	w, ok := d.read().(*protocol.Welcome)
	if !ok {
		tb.Fatalf("first frame is not a welcome")
	}
	d.welcome = w
	return d
}

func (e *testEdge) dial(account, dev string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	if hdr == nil {
		hdr = http.Header{}
	}
	if account != "" {
		tok, err := e.iss.Issue(account, dev, time.Hour)
		if err != nil {
			return nil, nil, err
		}
		hdr.Set("Authorization", "Bearer "+tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{protocol.Subprotocol}})
}

// read returns the next frame, failing the test after 5 s.
func (d *device) read() protocol.Frame {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := d.c.Read(ctx)
	if err != nil {
		d.tb.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		d.tb.Fatalf("read a binary message")
	}
	f, err := protocol.Decode(data)
	if err != nil {
		d.tb.Fatalf("decode %s: %v", data, err)
	}
	return f
}

// readError reads the next frame and requires an error frame with code.
func (d *device) readError(code protocol.Code) *protocol.Error {
	d.tb.Helper()
	f := d.read()
	e, ok := f.(*protocol.Error)
	if !ok || e.Code != code {
		d.tb.Fatalf("got %#v, want an error frame %s", f, code)
	}
	return e
}

// readReceipt reads the next frame and requires a receipt.
func (d *device) readReceipt() *protocol.Receipt {
	d.tb.Helper()
	f := d.read()
	r, ok := f.(*protocol.Receipt)
	if !ok {
		d.tb.Fatalf("got %#v, want a receipt", f)
	}
	return r
}

// readMsg reads the next frame and requires a msg.
func (d *device) readMsg() *protocol.Msg {
	d.tb.Helper()
	f := d.read()
	m, ok := f.(*protocol.Msg)
	if !ok {
		d.tb.Fatalf("got %#v, want a msg", f)
	}
	return m
}

// closeStatus reads until the connection ends and returns its close code.
func (d *device) closeStatus() websocket.StatusCode {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := d.c.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				d.tb.Fatalf("connection still open")
			}
			return websocket.CloseStatus(err)
		}
	}
}

func (d *device) write(s string) {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		d.tb.Fatalf("write: %v", err)
	}
}

func (d *device) send(f protocol.Frame) {
	d.tb.Helper()
	b, err := protocol.Encode(f)
	if err != nil {
		d.tb.Fatal(err)
	}
	d.write(string(b))
}

// eventually polls cond until it holds, failing after 10 s.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func payload(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func mustIssuerAt(tb testing.TB, at time.Time) *token.Issuer {
	tb.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	iss.SetClock(func() time.Time { return at })
	return iss
}

// mustList puts devices of account in the device list.
func (e *testEdge) mustList(tb testing.TB, account string, devices ...string) {
	tb.Helper()
	for _, d := range devices {
		if _, _, err := e.devs.Put(context.Background(), devicelist.Device{Account: account, ID: d}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.reg.BumpAccount(context.Background(), account); err != nil {
		tb.Fatal(err)
	}
}

// metric returns the value of the metric called name whose labels include the
// given name/value pairs, gathered from the edge's registry: a counter's or a
// gauge's value, a histogram's sample count; 0 when there is no such series.
func (e *testEdge) metric(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	families, err := e.metrics.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
