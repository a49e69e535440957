package herald

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

// failAfter bounds every wait in these tests; it only matters when a test fails.
const failAfter = 10 * time.Second

// scriptServer is an edge stand-in: it checks the bearer token, accepts with
// the herald.v1 subprotocol, sends a welcome and runs a per-test script.
type scriptServer struct {
	URL string

	// auth returns the HTTP status for a token, 0 to accept.
	auth func(token string) int
	// welcome returns the welcome of the n-th connection (from 1).
	welcome func(n int) string
	// script runs each connection after its welcome; the connection is
	// closed when it returns.
	script func(sc *srvConn)

	ctx context.Context // cancelled at cleanup, ends the scripts' reads
	wg  sync.WaitGroup

	mu     sync.Mutex
	tokens []string // guarded by mu: the tokens of accepted connections, in order
	afters []string // guarded by mu: the ?after= of accepted connections, in order
	probes int      // guarded by mu: POST /v1/acks requests, the check of a preferred endpoint
}

// srvConn is one accepted connection.
type srvConn struct {
	t   testing.TB
	n   int // 1 for the first connection
	ws  *websocket.Conn
	ctx context.Context
}

// newScriptServer starts a server whose connections run script; auth accepts
// the token "tok" unless s.auth is changed before the first dial.
func newScriptServer(t *testing.T, script func(sc *srvConn)) *scriptServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &scriptServer{
		script: script,
		ctx:    ctx,
		auth: func(token string) int {
			if token != "tok" {
				return http.StatusUnauthorized
			}
			return 0
		},
		welcome: func(n int) string {
			return fmt.Sprintf(`{"t":"welcome","session":"s_%d","account":"a1","device":"tv1","edge":"edge-1","ping_ms":30000,"lifetime_ms":1712000,"server_time":1763884800000}`, n)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wg.Add(1)
		defer s.wg.Done()
		s.serve(t, w, r)
	}))
	s.URL = srv.URL
	t.Cleanup(func() {
		cancel()
		srv.Close()
		s.wg.Wait()
	})
	return s
}

func (s *scriptServer) serve(t *testing.T, w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/acks" {
		// A client on a fallback checks whether this endpoint is back: answer
		// as auth does for no token (an edge's 401 when up).
		s.mu.Lock()
		s.probes++
		s.mu.Unlock()
		code := s.auth("")
		if code == 0 {
			code = http.StatusUnauthorized
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	if r.URL.Path != "/v1/connect" {
		t.Errorf("server: path %q, want /v1/connect", r.URL.Path)
		http.NotFound(w, r)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Errorf("server: Authorization %q is not a bearer token", r.Header.Get("Authorization"))
	}
	if code := s.auth(token); code != 0 {
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Errorf("server: accept: %v", err)
		return
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != protocol.Subprotocol {
		t.Errorf("server: subprotocol %q, want %q", ws.Subprotocol(), protocol.Subprotocol)
	}
	s.mu.Lock()
	s.tokens = append(s.tokens, token)
	s.afters = append(s.afters, r.URL.Query().Get("after"))
	n := len(s.tokens)
	s.mu.Unlock()
	sc := &srvConn{t: t, n: n, ws: ws, ctx: s.ctx}
	if !sc.send(s.welcome(n)) {
		return
	}
	s.script(sc)
}

// acceptedTokens returns the tokens of the connections accepted so far.
func (s *scriptServer) acceptedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// probeCount returns how many POST /v1/acks the server answered.
func (s *scriptServer) probeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes
}

// acceptedAfters returns the ?after= cursors of the connections accepted so
// far, "" for none.
func (s *scriptServer) acceptedAfters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.afters...)
}

// send writes one frame and reports whether it could.
func (sc *srvConn) send(frame string) bool {
	if err := sc.ws.Write(sc.ctx, websocket.MessageText, []byte(frame)); err != nil {
		sc.t.Errorf("server conn %d: write %s: %v", sc.n, frame, err)
		return false
	}
	return true
}

// read returns the next frame from the client, or nil and the read error.
func (sc *srvConn) read() (protocol.Frame, error) {
	_, data, err := sc.ws.Read(sc.ctx)
	if err != nil {
		return nil, err
	}
	f, err := protocol.Decode(data)
	if err != nil {
		sc.t.Errorf("server conn %d: client sent %s: %v", sc.n, data, err)
		return nil, err
	}
	return f, nil
}

// mustRead returns the next frame, which must be of type F.
func mustRead[F protocol.Frame](sc *srvConn) (F, bool) {
	var zero F
	f, err := sc.read()
	if err != nil {
		sc.t.Errorf("server conn %d: read: %v", sc.n, err)
		return zero, false
	}
	ff, ok := f.(F)
	if !ok {
		sc.t.Errorf("server conn %d: got %T %+v, want %T", sc.n, f, f, zero)
	}
	return ff, ok
}

// drain reads until the connection ends and returns the error that ended it.
func (sc *srvConn) drain() error {
	for {
		if _, err := sc.read(); err != nil {
			return err
		}
	}
}

// closeStatus drains the connection and returns the close status the client
// sent, -1 if it sent none.
func (sc *srvConn) closeStatus() websocket.StatusCode {
	err := sc.drain()
	if errors.Is(err, context.Canceled) {
		return -1
	}
	return websocket.CloseStatus(err)
}

// runner runs a Client for one test.
type runner struct {
	c      *Client
	cancel context.CancelFunc
	errc   chan error

	states chan State // every state, in order
}

// startClient creates a Client for cfg and runs it until the test ends.
// cfg.OnState is wrapped to record states.
func startClient(t *testing.T, cfg Config) *runner {
	t.Helper()
	r := &runner{errc: make(chan error, 1), states: make(chan State, 100)}
	onState := cfg.OnState
	cfg.OnState = func(s State, err error) {
		select {
		case r.states <- s:
		default:
			t.Errorf("more than %d state changes", cap(r.states))
		}
		if onState != nil {
			onState(s, err)
		}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.errc <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.wait(t)
	})
	return r
}

// wait returns Run's error; Run must return within failAfter.
func (r *runner) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.errc:
		r.errc <- err // for the next wait
		return err
	case <-time.After(failAfter):
		t.Fatalf("Run did not return within %v", failAfter)
		return nil
	}
}

// connected waits for the client's next welcome.
func (r *runner) connected(t *testing.T) {
	t.Helper()
	select {
	case <-r.c.Connected():
	case <-time.After(failAfter):
		t.Fatalf("not connected within %v", failAfter)
	}
}

// nextStates returns the next n states.
func (r *runner) nextStates(t *testing.T, n int) []State {
	t.Helper()
	var got []State
	for range n {
		got = append(got, recv(t, r.states))
	}
	return got
}

// recv receives from ch within failAfter.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(failAfter):
		t.Fatalf("nothing received within %v", failAfter)
		var zero T
		return zero
	}
}

// msgFrame returns a server msg frame with id.
func msgFrame(id string, ack bool) string {
	return fmt.Sprintf(`{"t":"msg","id":%q,"type":"test.note.v1","from":{"device":"phone1"},"ts":1763884800123,"ack":%t,"payload":{"id":%q}}`, id, ack, id)
}
