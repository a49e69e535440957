package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/protocol"
)

// Publisher sends a message published to a topic to every edge with
// subscribers of it and waits for their counts until ctx ends. edge.Router
// implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error)
}

// PublishRequest is the body of POST /v1/topics/{topic}/messages.
type PublishRequest struct {
	Type      string  `json:"type"`
	Payload   jsonRaw `json:"payload"`
	TimeoutMS int64   `json:"timeout_ms,omitempty"`
}

// PublishResponse is the answer to POST /v1/topics/{topic}/messages: the
// message's id and what the publish did.
type PublishResponse struct {
	ID string `json:"id"`
	protocol.PublishResult
}

// publish serves POST /v1/topics/{topic}/messages: validate the topic, the
// type (which must allow service_to_topic) and the payload, send one frame to
// each edge with subscribers, and answer with the counts once every edge
// answered or the timeout passed. The Publisher logs the message first, so
// that devices that were away catch up on it (docs/protocol.md, "Topics").
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if p := protocol.TopicProblem(topic); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "{topic}: "+p).Write(w)
		return
	}
	var req PublishRequest
	if !s.decodeJSON(w, r, &req, publishFields) {
		return
	}
	if s.cfg.Publisher == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "this server does not publish to topics").Write(w)
		return
	}
	if req.Type == "" {
		protocol.NewProblem(protocol.CodeBadRequest, `"type" is required`).Write(w)
		return
	}
	if len(req.Payload) == 0 {
		protocol.NewProblem(protocol.CodeBadRequest, `"payload" is required`).Write(w)
		return
	}
	t, ok := s.cfg.Types.Lookup(req.Type)
	if !ok {
		protocol.NewProblem(protocol.CodeUnknownType, fmt.Sprintf("unknown message type %q", req.Type)).Write(w)
		return
	}
	if !t.Allows(protocol.ServiceToTopic) {
		protocol.NewProblem(protocol.CodeForbidden, fmt.Sprintf("type %q may not be published to a topic (its directions lack service_to_topic)", req.Type)).Write(w)
		return
	}
	if err := t.Validate(req.Payload); err != nil {
		validationProblem(err).Write(w)
		return
	}
	timeout, p := s.pushTimeout(req.TimeoutMS)
	if p != nil {
		p.Write(w)
		return
	}
	m := &protocol.Msg{
		ID:      protocol.NewID(),
		Type:    req.Type,
		From:    &protocol.Sender{Service: sender(r.Context())},
		TTL:     t.Policy.TTL,
		TS:      time.Now().UnixMilli(),
		Payload: []byte(req.Payload),
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.cfg.Publisher.Publish(ctx, topic, m)
	if err != nil {
		s.cfg.Logger.Warn("publishing failed", "err", err)
		if errors.Is(err, context.DeadlineExceeded) {
			protocol.NewProblem(protocol.CodeUnavailable, "the topic's edges could not be looked up in time").Write(w)
			return
		}
		protocol.NewProblem(protocol.CodeUnavailable, "the topic's edges cannot be looked up right now").Write(w)
		return
	}
	writeJSON(w, http.StatusOK, PublishResponse{ID: m.ID, PublishResult: res})
}
