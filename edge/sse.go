package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// sseTransport writes frames as Server-Sent Events. Only the handler goroutine
// writes; close cancels the request's context by ending the session.
type sseTransport struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

var sseKeepalive = []byte(": keepalive\n\n")

func (t *sseTransport) write(deadline time.Time, f outFrame) error {
	_ = t.rc.SetWriteDeadline(deadline)
	var err error
	if f.ping {
		_, err = t.w.Write(sseKeepalive)
	} else {
		_, err = t.w.Write(appendEvent(nil, f.id, f.data))
	}
	if err != nil {
		return err
	}
	return t.rc.Flush()
}

// appendEvent appends one Server-Sent Event with the id and data fields to b.
// Whatever reaches it, no field carries a CR or LF, so no input can end a field
// early and start an event or a field of its own: an id holding either is left
// out (ids are checked where they enter, so none should), and data is written as
// one "data:" line per line, which the client joins back with LF (frames are
// encoded on one line, so there is one).
func appendEvent(b []byte, id string, data []byte) []byte {
	if id != "" && !strings.ContainsAny(id, "\r\n") {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		b = append(append(append(b, "data: "...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(append(append(b, "data: "...), data...), "\n\n"...)
}

// close has nothing to send: SSE has no close frame. Ending the session cancels the
// handler's loop, which returns and so ends the response.
func (t *sseTransport) close(_ websocket.StatusCode, _ string, done func()) { done() }

// serveEvents serves GET /v1/events: a receive-only stream of frames for devices
// that cannot use WebSocket. The handler goroutine is the session's writer.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	after, ok := cursor(w, r)
	if !ok {
		return
	}
	claims, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer s.leave()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	kick := make(chan struct{}, 1)
	ss := s.newSession(claims.Account, claims.Device, r.RemoteAddr, &sseTransport{w: w, rc: rc}, kick)
	ss.setTokenEnd(claims.Until)
	ss.after = after
	stop := context.AfterFunc(r.Context(), func() {
		if ss.end(CloseNormal, causeClientClosed) {
			ss.setEndCode(websocket.StatusNoStatusRcvd) // SSE has no close codes
		}
	})
	defer stop()
	s.run(ss, func(ctx context.Context) error {
		for {
			ss.drain()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-kick:
			}
		}
	})
}

// MaxAckBody bounds the body of POST /v1/acks.
const MaxAckBody = 64 << 10

// ackRequest is the body of POST /v1/acks.
type ackRequest struct {
	IDs []string `json:"ids"`
}

// serveAcks serves POST /v1/acks: acknowledgements from a device that receives over
// SSE (or any device that prefers HTTP). Body: {"ids":["01J…",…]}. It answers
// 200 {"acked":N}, N being the acks somebody waited for: a sender, or the
// inbox for a stored message.
func (s *Server) serveAcks(w http.ResponseWriter, r *http.Request) {
	claims, _, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAckBody))
	if err != nil {
		protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("ack body over %d bytes", MaxAckBody)).Write(w)
		return
	}
	var req ackRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.IDs) == 0 {
		protocol.NewProblem(protocol.CodeBadRequest, `body must be {"ids":["<message id>",...]}`).Write(w)
		return
	}
	for i, id := range req.IDs {
		if !protocol.ValidMsgID(id) {
			protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("ids.%d: %s", i, msgIDRule)).Write(w)
			return
		}
	}
	n := 0
	if ss := s.session(claims.Account, claims.Device); ss != nil {
		if !ss.takeHTTPAcks(s.cfg.Now(), len(req.IDs)) {
			s.met.overBudget[budgetFrames].Inc()
			w.Header().Set("Retry-After", "1")
			protocol.NewProblem(protocol.CodeRateLimited, "acks over the frame rate: each id counts as one frame").Write(w)
			return
		}
		var stored []string
		for _, id := range req.IDs {
			waited, fromInbox, sender := ss.ack(id)
			if fromInbox {
				stored = append(stored, id)
				defer s.lateAcked(ss, sender, id)
			}
			if waited || fromInbox {
				n++
			}
		}
		s.removeAcked(ss, stored...)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, "{\"acked\":%d}\n", n)
}
