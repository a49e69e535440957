package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// Publisher sends a message published to a topic to every edge with
// subscribers of it and waits for their counts until ctx ends. edge.Router
// implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error)
}

// TopicCounter counts a topic's subscribers on every edge that has some,
// waiting for their answers until ctx ends. edge.Router implements it.
type TopicCounter interface {
	TopicCount(ctx context.Context, topic string) (protocol.TopicSubscribers, error)
}

// PublishRequest is the body of POST /v1/topics/{topic}/messages.
type PublishRequest struct {
	Type      string  `json:"type"`
	Payload   jsonRaw `json:"payload"`
	TimeoutMS int64   `json:"timeout_ms,omitempty"`
	// Async enqueues the message on Kafka for a processor to publish, and
	// answers 202 with its id; its status is read at /v1/messages/{id}.
	Async bool `json:"async,omitempty"`
	// Priority and TTL, of an asynchronous publish only, are those of POST
	// /v1/messages.
	Priority protocol.Priority `json:"priority,omitempty"`
	TTL      *int              `json:"ttl,omitempty"`
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
// With "async" the message goes to Kafka instead, as one record
// (publishAsync).
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if p := protocol.TopicProblem(topic); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "{topic}: "+p).Write(w)
		return
	}
	var req PublishRequest
	buf := s.getBuf()
	defer s.putBuf(buf)
	body, ok := s.readBody(w, r, *buf)
	*buf = body
	if !ok {
		return
	}
	if p := decodeBody(body, &req, publishFields); p != nil {
		p.Write(w)
		return
	}
	if req.Async {
		s.publishAsync(w, r, topic, &req, body)
		return
	}
	if req.Priority != "" || req.TTL != nil || r.Header.Get("Idempotency-Key") != "" {
		protocol.NewProblem(protocol.CodeBadRequest, `"priority", "ttl" and the Idempotency-Key header are for an asynchronous publish ("async": true)`).Write(w)
		return
	}
	if s.cfg.Publisher == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "this server does not publish to topics").Write(w)
		return
	}
	t, p := s.checkPublish(&req)
	if p != nil {
		p.Write(w)
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
	s.cfg.Tracer.Annotate(ctx, m.ID, "", "")
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

// checkPublish checks the type and payload of a publish and returns the type.
func (s *Server) checkPublish(req *PublishRequest) (*protocol.Type, *protocol.Problem) {
	if req.Type == "" {
		return nil, protocol.NewProblem(protocol.CodeBadRequest, `"type" is required`)
	}
	if len(req.Payload) == 0 {
		return nil, protocol.NewProblem(protocol.CodeBadRequest, `"payload" is required`)
	}
	t, ok := s.cfg.Types.Lookup(req.Type)
	if !ok {
		return nil, protocol.NewProblem(protocol.CodeUnknownType, fmt.Sprintf("unknown message type %q", req.Type))
	}
	if !t.Allows(protocol.ServiceToTopic) {
		return nil, protocol.NewProblem(protocol.CodeForbidden, fmt.Sprintf("type %q may not be published to a topic (its directions lack service_to_topic)", req.Type))
	}
	if err := t.Validate(req.Payload); err != nil {
		return nil, validationProblem(err)
	}
	return t, nil
}

// publishAsync serves an asynchronous publish: the message is one record on
// the message topic of its priority, answered 202 {"id"} with Location
// /v1/messages/{id} once Kafka acknowledged it, with the Idempotency-Key of
// POST /v1/messages. A processor publishes it (processor/topic.go) and its
// status, at /v1/messages/{id}, counts what it reached.
func (s *Server) publishAsync(w http.ResponseWriter, r *http.Request, topic string, req *PublishRequest, body []byte) {
	defer func() { s.metrics.answered(pathAsync, req.Type, statusOf(w)) }()
	if s.cfg.Queue == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "asynchronous publishing is not configured on this server (no Kafka brokers)").Write(w)
		return
	}
	if req.TimeoutMS != 0 {
		protocol.NewProblem(protocol.CodeBadRequest, `"timeout_ms" is for a synchronous publish: an asynchronous one waits for the edges for the processor's --publish-timeout`).Write(w)
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > MaxIdempotencyKey {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("the Idempotency-Key header is over %d characters", MaxIdempotencyKey)).Write(w)
		return
	}
	t, p := s.checkPublish(req)
	if p != nil {
		p.Write(w)
		return
	}
	m := &processor.Message{
		ID:       protocol.NewID(),
		Topic:    topic,
		Type:     req.Type,
		Payload:  json.RawMessage(req.Payload),
		From:     sender(r.Context()),
		Accepted: time.Now().UnixMilli(),
	}
	if p := asyncTiming(m, t, req.Priority, req.TTL); p != nil {
		p.Write(w)
		return
	}
	s.enqueue(w, r, m, body, idemKey)
}

// topicCount serves GET /v1/topics/{topic}: how many devices subscribe to
// the topic, edge by edge, each edge counting its own; the edges that did not
// answer within the push timeout are listed in failed.
func (s *Server) topicCount(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if p := protocol.TopicProblem(topic); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "{topic}: "+p).Write(w)
		return
	}
	if s.cfg.Counter == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "this server does not count topic subscribers").Write(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PushTimeout)
	defer cancel()
	res, err := s.cfg.Counter.TopicCount(ctx, topic)
	if err != nil {
		s.cfg.Logger.Warn("counting a topic's subscribers failed", "err", err)
		protocol.NewProblem(protocol.CodeUnavailable, "the topic's edges cannot be looked up right now").Write(w)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
