package ceiling

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// Server is the bench's reference server: the least a coder/websocket server
// can do for each workload on this machine. A device connection is accepted
// (no token check: the claims are read unverified, to know who it is), sent a
// welcome and held with one goroutine blocked in Read; no pings. POST /v1/push,
// /v1/push/batch, /v1/messages and /v1/messages/batch write the pushed frame to the connection and
// answer; a device msg is written to its target (one process: no second edge)
// and answered with a receipt. Whatever Herald does beyond that is what its
// ratio to the ceiling measures.
type Server struct {
	wg sync.WaitGroup // connection handlers

	mu       sync.Mutex
	accounts map[string]map[string]*websocket.Conn // guarded by mu: account -> device -> connection
	closed   bool                                  // guarded by mu
}

// New returns a server with no connections; serve its Handler and Close it
// when done.
func New() *Server {
	return &Server{accounts: map[string]map[string]*websocket.Conn{}}
}

// Handler serves the routes the bench's workloads use: GET /v1/connect, POST
// /v1/push, /v1/push/batch, /v1/messages and /v1/messages/batch.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/connect", s.connect)
	mux.HandleFunc("POST /v1/push", s.push)
	mux.HandleFunc("POST /v1/push/batch", s.pushBatch)
	mux.HandleFunc("POST /v1/messages", s.enqueue)
	mux.HandleFunc("POST /v1/messages/batch", s.enqueueBatch)
	return mux
}

// unverifiedClaims reads the account and device of a device token without
// checking its signature.
func unverifiedClaims(r *http.Request) (account, device string, ok bool) {
	tok := r.URL.Query().Get("access_token")
	if h, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
		tok = h
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", false
	}
	var c struct {
		Account string `json:"account"`
		Sub     string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil || c.Account == "" || c.Sub == "" {
		return "", "", false
	}
	return c.Account, c.Sub, true
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	account, device, ok := unverifiedClaims(r)
	if !ok {
		http.Error(w, "no device token", http.StatusUnauthorized)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}, InsecureSkipVerify: true})
	if err != nil {
		return
	}
	if !s.attach(account, device, c) {
		_ = c.CloseNow()
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer s.detach(account, device, c)
	welcome, _ := protocol.Encode(&protocol.Welcome{Session: protocol.NewID(), Account: account, Device: device, Edge: "ceiling"})
	if s.write(c, welcome) != nil {
		return
	}
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		s.deviceMsg(account, device, c, data)
	}
}

// attach registers a connection, replacing the device's older one.
func (s *Server) attach(account, device string, c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	devs := s.accounts[account]
	if devs == nil {
		devs = map[string]*websocket.Conn{}
		s.accounts[account] = devs
	}
	if old := devs[device]; old != nil {
		_ = old.CloseNow()
	}
	devs[device] = c
	return true
}

func (s *Server) detach(account, device string, c *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if devs := s.accounts[account]; devs[device] == c {
		delete(devs, device)
		if len(devs) == 0 {
			delete(s.accounts, account)
		}
	}
}

// lookup returns the connections of device (every other device of the
// account when siblingsOf is set).
func (s *Server) lookup(account, device, siblingsOf string) (names []string, conns []*websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, c := range s.accounts[account] {
		if siblingsOf != "" && d != siblingsOf || siblingsOf == "" && d == device {
			names, conns = append(names, d), append(conns, c)
		}
	}
	return names, conns
}

func (s *Server) write(c *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, b)
}

// deliver writes b to each of conns and returns the results.
func (s *Server) deliver(names []string, conns []*websocket.Conn, b []byte) []protocol.Result {
	results := make([]protocol.Result, len(conns))
	for i, c := range conns {
		results[i] = protocol.Result{Device: names[i], Status: protocol.StatusDelivered}
		if s.write(c, b) != nil {
			results[i].Status = protocol.StatusRejected
		}
	}
	return results
}

// deviceMsg relays a device's msg as it came to its targets and answers it
// with a receipt.
func (s *Server) deviceMsg(account, device string, from *websocket.Conn, data []byte) {
	var m struct {
		ID string           `json:"id"`
		To *protocol.Target `json:"to"`
	}
	if json.Unmarshal(data, &m) != nil || m.To == nil {
		return
	}
	var names []string
	var conns []*websocket.Conn
	switch {
	case m.To.Siblings:
		names, conns = s.lookup(account, "", device)
	case m.To.Device != "":
		names, conns = s.lookup(account, m.To.Device, "")
	}
	results := s.deliver(names, conns, data)
	if len(results) == 0 && m.To.Device != "" {
		results = []protocol.Result{{Device: m.To.Device, Status: protocol.StatusOffline}}
	}
	if b, err := protocol.Encode(&protocol.Receipt{ID: m.ID, Results: results}); err == nil {
		_ = s.write(from, b)
	}
}

// pushRequest is the part of a push request the ceiling reads.
type pushRequest struct {
	To struct {
		Account string `json:"account"`
		Device  string `json:"device"`
	} `json:"to"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// pushOne writes one pushed message to its device.
func (s *Server) pushOne(p *pushRequest) (id string, results []protocol.Result) {
	id = protocol.NewID()
	b, err := protocol.Encode(&protocol.Msg{ID: id, Type: p.Type, From: &protocol.Sender{Service: "ceiling"}, Payload: p.Payload})
	if err != nil {
		return id, []protocol.Result{{Device: p.To.Device, Status: protocol.StatusRejected}}
	}
	names, conns := s.lookup(p.To.Account, p.To.Device, "")
	if len(conns) == 0 {
		return id, []protocol.Result{{Device: p.To.Device, Status: protocol.StatusOffline}}
	}
	return id, s.deliver(names, conns, b)
}

type pushAnswer struct {
	ID      string            `json:"id"`
	Results []protocol.Result `json:"results"`
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	var p pushRequest
	if json.NewDecoder(r.Body).Decode(&p) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	id, results := s.pushOne(&p)
	writeJSON(w, http.StatusOK, pushAnswer{ID: id, Results: results})
}

func (s *Server) pushBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []pushRequest `json:"messages"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	answers := make([]pushAnswer, len(req.Messages))
	for i := range req.Messages {
		answers[i].ID, answers[i].Results = s.pushOne(&req.Messages[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": answers})
}

// enqueue is POST /v1/messages without a queue: it delivers at once and
// answers 202.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	var p pushRequest
	if json.NewDecoder(r.Body).Decode(&p) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	id, _ := s.pushOne(&p)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
}

// enqueueBatch is POST /v1/messages/batch without a queue: it delivers each
// message at once and answers their ids.
func (s *Server) enqueueBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []pushRequest `json:"messages"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	type accepted struct {
		ID string `json:"id"`
	}
	answers := make([]accepted, len(req.Messages))
	for i := range req.Messages {
		answers[i].ID, _ = s.pushOne(&req.Messages[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": answers})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Close closes every connection and waits for their handlers. Connections
// are hijacked: an http.Server's Close or Shutdown does not end them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, devs := range s.accounts {
		for _, c := range devs {
			_ = c.CloseNow()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Serve is `herald bench --ceiling-server`: it listens on addr, prints
// {"addr":"host:port"} on stdout once it does (see [ListenAddr]) and serves until
// stdin closes or ctx ends.
func Serve(ctx context.Context, addr string, stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	s := New()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "{\"addr\":%q}\n", ln.Addr().String())
	eof := make(chan struct{})
	go func() { // ends with the process when stdin stays open
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	case err := <-served:
		return fmt.Errorf("ceiling: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	s.Close()
	return nil
}

// ListenAddr finds the address that Serve listens on in a line of its output,
// "" in any other line.
func ListenAddr(line []byte) string {
	var a struct {
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &a) != nil {
		return ""
	}
	return a.Addr
}
