package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// msgEdge is an edge stand-in for `herald msg`: it accepts a device whose
// bearer token auth allows, sends a welcome, hands the one msg it reads to the
// test, and answers it with the frames answer returns.
type msgEdge struct {
	url  string
	msgs chan *protocol.Msg // the msg of each connection

	mu     sync.Mutex
	tokens []string // guarded by mu: the bearer tokens of the handshakes
}

// mustMsgEdge starts a msgEdge and stops it when the test ends; auth returns
// the HTTP status for a token, 0 to accept.
func mustMsgEdge(t *testing.T, auth func(token string) int, answer func(m *protocol.Msg) []string) *msgEdge {
	t.Helper()
	e := &msgEdge{msgs: make(chan *protocol.Msg, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		e.mu.Lock()
		e.tokens = append(e.tokens, tok)
		e.mu.Unlock()
		if code := auth(tok); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			t.Errorf("edge: accept: %v", err)
			return
		}
		defer ws.CloseNow()
		write := func(frame string) bool {
			return ws.Write(ctx, websocket.MessageText, []byte(frame)) == nil
		}
		if !write(`{"t":"welcome","session":"s_1","account":"a1","device":"phone1","edge":"edge-1","ping_ms":30000}`) {
			return
		}
		_, data, err := ws.Read(ctx)
		if err != nil {
			return // the command may give up before it sends
		}
		f, err := protocol.Decode(data)
		m, ok := f.(*protocol.Msg)
		if err != nil || !ok {
			t.Errorf("edge: got %s, want a msg", data)
			return
		}
		e.msgs <- m
		for _, frame := range answer(m) {
			if !write(frame) {
				return
			}
		}
		for { // until the command closes the connection
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	e.url = srv.URL
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
		// Handshakes answered 401 leave keep-alive connections behind.
		http.DefaultClient.CloseIdleConnections()
	})
	return e
}

// msg returns the msg the edge read. runMsg has returned, after the edge's
// answer to it: the wait is a failure bound only.
func (e *msgEdge) msg(t *testing.T) *protocol.Msg {
	t.Helper()
	select {
	case m := <-e.msgs:
		return m
	case <-time.After(waitBound):
		t.Fatalf("the edge read no msg within %v", waitBound)
		return nil
	}
}

// acceptTok accepts the token "tok" only.
func acceptTok(tok string) int {
	if tok != "tok" {
		return http.StatusUnauthorized
	}
	return 0
}

// msgReceipt returns a receipt frame for id with one result per
// device:status pair.
func msgReceipt(id string, pairs ...string) string {
	var results []string
	for i := 0; i+1 < len(pairs); i += 2 {
		results = append(results, fmt.Sprintf(`{"device":%q,"status":%q}`, pairs[i], pairs[i+1]))
	}
	return fmt.Sprintf(`{"t":"receipt","id":%q,"results":[%s]}`, id, strings.Join(results, ","))
}

func TestMsg(t *testing.T) {
	payloadFile := filepath.Join(t.TempDir(), "pause.json")
	if err := os.WriteFile(payloadFile, []byte(`{"action": "pause"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		to     protocol.Target // the msg's target on the wire
		ack    bool            // the msg asks for an ack
		answer func(m *protocol.Msg) []string
		want   []string      // the statuses of the receipts printed, one string a receipt
		err    error         // wrapped by runMsg's error; nil: success
		code   protocol.Code // the code of the *herald.ServerError runMsg returns
	}{
		{
			name: "one device",
			args: []string{"--to", "tv1"},
			to:   protocol.Target{Device: "tv1"},
			answer: func(m *protocol.Msg) []string {
				return []string{msgReceipt("unrelated", "tab1", "offline"), msgReceipt(m.ID, "tv1", "delivered")}
			},
			want: []string{"tv1:delivered"},
		},
		{
			name: "several devices with ack",
			args: []string{"--to", "tv1,tab1", "--ack", "--payload", "@" + payloadFile},
			to:   protocol.Target{Devices: []string{"tv1", "tab1"}},
			ack:  true,
			answer: func(m *protocol.Msg) []string {
				return []string{msgReceipt(m.ID, "tv1", "delivered", "tab1", "offline"), msgReceipt(m.ID, "tv1", "acked", "tab1", "offline")}
			},
			want: []string{"tv1:delivered tab1:offline", "tv1:acked tab1:offline"},
		},
		{
			name: "siblings with ack, first receipt final",
			args: []string{"--siblings", "--ack"},
			to:   protocol.Target{Siblings: true},
			ack:  true,
			answer: func(m *protocol.Msg) []string {
				return []string{msgReceipt(m.ID, "tv1", "offline")}
			},
			want: []string{"tv1:offline"},
		},
		{
			name: "error frame",
			args: []string{"--to", "tv9"},
			to:   protocol.Target{Device: "tv9"},
			answer: func(m *protocol.Msg) []string {
				return []string{`{"t":"error","re":"` + m.ID + `","code":"forbidden","message":"device \"tv9\" is not a device of your account"}`}
			},
			code: protocol.CodeForbidden,
		},
		{
			name: "no final receipt within the timeout",
			args: []string{"--to", "tv1", "--ack", "--timeout", "2s"},
			to:   protocol.Target{Device: "tv1"},
			ack:  true,
			answer: func(m *protocol.Msg) []string {
				return []string{msgReceipt(m.ID, "tv1", "delivered")}
			},
			want: []string{"tv1:delivered"},
			err:  context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustMsgEdge(t, acceptTok, tt.answer)
			args := append([]string{"--url", e.url, "--token", "tok", "--type", "playback.control.v1", "--payload", `{"action":"pause"}`}, tt.args...)
			var stdout, stderr bytes.Buffer
			err := runMsg(context.Background(), args, &stdout, &stderr)

			m := e.msg(t)
			if m.Type != "playback.control.v1" || string(m.Payload) != `{"action":"pause"}` {
				t.Errorf("msg %s %s", m.Type, m.Payload)
			}
			if m.To == nil || m.To.Device != tt.to.Device || !slices.Equal(m.To.Devices, tt.to.Devices) || m.To.Siblings != tt.to.Siblings {
				t.Errorf("msg to %+v, want %+v", m.To, tt.to)
			}
			if m.Ack != tt.ack {
				t.Errorf("msg ack %t, want %t", m.Ack, tt.ack)
			}

			var se *herald.ServerError
			switch {
			case tt.code != "":
				if !errors.As(err, &se) || se.Frame.Code != tt.code {
					t.Fatalf("runMsg = %v, want a *herald.ServerError %s", err, tt.code)
				}
				f, derr := protocol.Decode(bytes.TrimSpace(stderr.Bytes()))
				if ef, ok := f.(*protocol.Error); derr != nil || !ok || ef.Re != m.ID || ef.Code != tt.code {
					t.Errorf("stderr %q, want the error frame", &stderr)
				}
			case tt.err == nil && err != nil:
				t.Fatalf("runMsg: %v\nstderr: %s", err, &stderr)
			case !errors.Is(err, tt.err):
				t.Fatalf("runMsg = %v, want %v", err, tt.err)
			}

			var got []string
			for line := range strings.Lines(stdout.String()) {
				f, err := protocol.Decode([]byte(line))
				r, ok := f.(*protocol.Receipt)
				if err != nil || !ok || r.ID != m.ID {
					t.Errorf("stdout line %q is not a receipt of %s", line, m.ID)
					continue
				}
				var results []string
				for _, res := range r.Results {
					results = append(results, res.Device+":"+string(res.Status))
				}
				got = append(got, strings.Join(results, " "))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("printed receipts %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMsgMintsToken(t *testing.T) {
	e := mustMsgEdge(t, func(string) int { return 0 }, func(m *protocol.Msg) []string {
		return []string{msgReceipt(m.ID, "tv1", "delivered")}
	})
	var stdout, stderr bytes.Buffer
	err := runMsg(context.Background(), []string{"--url", e.url, "--account", "a1", "--device", "phone1",
		"--to", "tv1", "--type", "playback.control.v1", "--payload", "{}"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runMsg: %v\nstderr: %s", err, &stderr)
	}
	e.msg(t)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.tokens) != 1 {
		t.Fatalf("%d handshakes, want 1", len(e.tokens))
	}
	c, err := mustVerifier(t, token.HS256Key{Secret: []byte(settings.DevTokenSecret)}).Verify(e.tokens[0])
	if err != nil || c.Account != "a1" || c.Device != "phone1" {
		t.Errorf("token claims %+v, %v; want a1/phone1 signed with the development secret", c, err)
	}
}

func TestMsgUnauthorized(t *testing.T) {
	e := mustMsgEdge(t, acceptTok, func(*protocol.Msg) []string { return nil })
	var stdout, stderr bytes.Buffer
	err := runMsg(context.Background(), []string{"--url", e.url, "--token", "bad",
		"--to", "tv1", "--type", "playback.control.v1", "--payload", "{}"}, &stdout, &stderr)
	if !errors.Is(err, herald.ErrUnauthorized) {
		t.Fatalf("runMsg = %v, want herald.ErrUnauthorized", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", &stdout)
	}
}

func TestMsgUsage(t *testing.T) {
	base := []string{"--url", "http://127.0.0.1:1", "--token", "tok", "--type", "playback.control.v1", "--payload", "{}"}
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no target", base, "--to or --siblings"},
		{"two targets", append(slices.Clip(base), "--to", "tv1", "--siblings"), "not both"},
		{"no type", []string{"--token", "tok", "--to", "tv1", "--payload", "{}"}, "--type"},
		{"payload not JSON", append(slices.Clip(base), "--to", "tv1", "--payload", "{action"), "--payload"},
		{"no token", []string{"--to", "tv1", "--type", "a.b.v1", "--payload", "{}", "--account", "a1"}, "--device"},
		{"bad timeout", append(slices.Clip(base), "--to", "tv1", "--timeout", "0s"), "--timeout"},
		{"positional argument", append(slices.Clip(base), "--to", "tv1", "extra"), "arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runMsg(context.Background(), tt.args, &stdout, &stderr)
			var ue settings.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runMsg = %v, want a usage error about %s", err, tt.want)
			}
		})
	}
}
