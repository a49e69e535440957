package ceiling

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// waitBound bounds every wait of these tests; nothing asserts that anything
// happens faster.
const waitBound = 30 * time.Second

// fakeToken is a device token whose claims the ceiling reads; it checks no
// signature, so there is none.
func fakeToken(claims string) string {
	return "e30." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
}

func TestUnverifiedClaims(t *testing.T) {
	tests := []struct {
		name            string
		header, query   string
		account, device string
		ok              bool
	}{
		{"header", "Bearer " + fakeToken(`{"account":"a1","sub":"tv1"}`), "", "a1", "tv1", true},
		{"query", "", fakeToken(`{"account":"a1","sub":"tv1"}`), "a1", "tv1", true},
		{"header wins", "Bearer " + fakeToken(`{"account":"a1","sub":"tv1"}`), fakeToken(`{"account":"a2","sub":"tv2"}`), "a1", "tv1", true},
		{"no token", "", "", "", "", false},
		{"two parts", "Bearer e30.e30", "", "", "", false},
		{"not base64", "Bearer e30.!!.sig", "", "", "", false},
		{"no account", "Bearer " + fakeToken(`{"sub":"tv1"}`), "", "", "", false},
		{"no device", "Bearer " + fakeToken(`{"account":"a1"}`), "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://x/v1/connect?access_token="+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			account, device, ok := unverifiedClaims(r)
			if account != tt.account || device != tt.device || ok != tt.ok {
				t.Errorf("got %q %q %v, want %q %q %v", account, device, ok, tt.account, tt.device, tt.ok)
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct{ line, want string }{
		{`{"addr":"127.0.0.1:4000"}`, "127.0.0.1:4000"},
		{`{"msg":"herald listening","addr":"127.0.0.1:4000"}`, "127.0.0.1:4000"},
		{`listening on 127.0.0.1:4000`, ""},
		{`{}`, ""},
	}
	for _, tt := range tests {
		if got := ListenAddr([]byte(tt.line)); got != tt.want {
			t.Errorf("ListenAddr(%s) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// mustDevice connects device of account to the ceiling at addr and reads its
// welcome.
func mustDevice(t *testing.T, ctx context.Context, addr, account, device string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "http://"+addr+"/v1/connect", &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + fakeToken(`{"account":"`+account+`","sub":"`+device+`"}`)}},
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		t.Fatalf("dial %s: %v", device, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if f := mustRead(t, ctx, c); f.Kind() != protocol.KindWelcome {
		t.Fatalf("%s: first frame %+v, want a welcome", device, f)
	}
	return c
}

func mustRead(t *testing.T, ctx context.Context, c *websocket.Conn) protocol.Frame {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

// TestServe runs the ceiling as `herald bench --ceiling-server` does: it
// prints its address, relays a push and a device msg, and returns once its
// stdin closes.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, "127.0.0.1:0", stdinR, stdoutW)
		_ = stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the address: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdoutR) }()
	addr := ListenAddr(line)
	if addr == "" {
		t.Fatalf("no address in %q", line)
	}

	tv := mustDevice(t, ctx, addr, "a1", "tv")
	phone := mustDevice(t, ctx, addr, "a1", "phone")

	resp, err := http.Post("http://"+addr+"/v1/push", "application/json",
		strings.NewReader(`{"to":{"account":"a1","device":"tv"},"type":"notification.v1","payload":{"title":"hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("push: %s", resp.Status)
	}
	if m, ok := mustRead(t, ctx, tv).(*protocol.Msg); !ok || string(m.Payload) != `{"title":"hi"}` {
		t.Errorf("tv got %+v, want the pushed msg", m)
	}

	msg := `{"t":"msg","id":"m1","type":"playback.control.v1","to":{"device":"tv"},"payload":{"action":"play"}}`
	if err := phone.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if m, ok := mustRead(t, ctx, tv).(*protocol.Msg); !ok || m.ID != "m1" {
		t.Errorf("tv got %+v, want msg m1", m)
	}
	r, ok := mustRead(t, ctx, phone).(*protocol.Receipt)
	if !ok || r.ID != "m1" || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusDelivered {
		t.Errorf("phone got %+v, want m1's receipt: delivered", r)
	}

	_ = stdinW.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(waitBound):
		t.Fatal("Serve did not return after its stdin closed")
	}
	http.DefaultClient.CloseIdleConnections()
}
