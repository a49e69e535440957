package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// protocol503 writes a 503 problem with detail.
func protocol503(w http.ResponseWriter, detail string) {
	protocol.NewProblem(protocol.CodeUnavailable, detail).Write(w)
}

// protocolNotFound writes a 404 problem with detail.
func protocolNotFound(w http.ResponseWriter, detail string) {
	protocol.NewProblem(protocol.CodeNotFound, detail).Write(w)
}

// MessageAnswer is the answer of GET /admin/v1/messages/{id}: the status
// store's record (processor.MessageStatus: accepted, then each device's
// latest outcome and its history of steps), and a link to the message's trace when tracing
// is on.
type MessageAnswer struct {
	*processor.MessageStatus
	TraceURL string `json:"trace_url,omitempty"`
}

// message answers GET /admin/v1/messages/{id}.
func (s *Server) message(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Statuses == nil {
		protocol503(w, "message statuses need the api role with Kafka configured")
		return
	}
	id := chi.URLParam(r, "id")
	if r.URL.RawPath != "" {
		// chi matched the escaped path: an id with a '/' or a '%' arrives escaped.
		var err error
		if id, err = url.PathUnescape(id); err != nil {
			id = ""
		}
	}
	if !protocol.ValidMsgID(id) {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("invalid message id: 1 to %d bytes of printable ASCII without spaces", protocol.MaxMsgIDLen)).Write(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	st, err := s.cfg.Statuses.Get(ctx, id)
	switch {
	case errors.Is(err, processor.ErrNotFound):
		protocolNotFound(w, fmt.Sprintf("no message %q (unknown, sent synchronously, or its status has expired)", id))
		return
	case err != nil:
		s.unavailable(w, "the message status", err)
		return
	}
	out := MessageAnswer{MessageStatus: st}
	if s.cfg.TraceURL != "" {
		out.TraceURL = replaceID(s.cfg.TraceURL, id)
	}
	writeJSON(w, http.StatusOK, out)
}

// replaceID replaces {id} in a URL template with the message id, escaped.
func replaceID(tmpl, id string) string {
	return strings.ReplaceAll(tmpl, "{id}", url.PathEscape(id))
}

// push answers POST /admin/v1/push: a test push, with the body and answer of
// POST /v1/push, sent as the service "admin".
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Push == nil {
		protocol503(w, "a test push needs the api role on this node")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes)).Write(w)
			return
		}
		protocol.NewProblem(protocol.CodeBadRequest, "reading the body failed").Write(w)
		return
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	s.cfg.Logger.Info("admin: test push", "bytes", len(body))
	s.cfg.Push.ServeHTTP(w, req)
}

// drain answers POST /admin/v1/edges/{edge}/drain: the edge turns not ready,
// spreads reconnects over its drain window and exits, as on SIGTERM.
func (s *Server) drain(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "edge")
	if !protocol.ValidID(id) {
		protocol.NewProblem(protocol.CodeBadRequest, "invalid edge id").Write(w)
		return
	}
	if s.cfg.Local != nil && id == s.cfg.Local.ID() {
		if s.cfg.Drain == nil {
			protocol503(w, "this node cannot drain")
			return
		}
		s.cfg.Logger.Info("admin: drain of this edge requested")
		s.cfg.Drain()
		writeJSON(w, http.StatusAccepted, map[string]string{"edge": id, "status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	addr, err := s.cfg.Locator.EdgeAddr(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		protocolNotFound(w, "no live edge "+id)
		return
	}
	if err != nil {
		s.unavailable(w, "the registry", err)
		return
	}
	if s.cfg.Peers == nil {
		protocol503(w, "no cluster key configured to reach edge "+id)
		return
	}
	if err := s.cfg.Peers.do(ctx, http.MethodPost, addr, InternalDrainPath, nil); err != nil {
		s.unavailable(w, "edge "+id, err)
		return
	}
	s.cfg.Logger.Info("admin: drain of another edge requested", "edge", id)
	writeJSON(w, http.StatusAccepted, map[string]string{"edge": id, "status": "draining"})
}
