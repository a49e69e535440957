package demo

import (
	"encoding/json"
	"net/http"

	"github.com/heraldpush/herald/protocol"
)

// maxPublishBytes bounds the body of POST /demo/api/publish: the largest
// payload a type may allow (1 MiB, docs/protocol.md) and room for the rest.
const maxPublishBytes = 1<<20 + 4<<10

// publishRequest is the body of POST /demo/api/publish: the topic, and the body
// of POST /v1/topics/{topic}/messages.
type publishRequest struct {
	Topic     string          `json:"topic"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
}

// publishFields are the members of publishRequest; others are refused.
var publishFields = []string{"topic", "type", "payload", "timeout_ms"}

// topicMessage is the body of POST /v1/topics/{topic}/messages.
type topicMessage struct {
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
}

// publish sends a message to every device subscribed to the body's topic, as
// a backend's POST /v1/topics/{topic}/messages with the API key; the REST API
// validates the type and the payload against its schema and answers
// {"id","edges","devices","dropped","failed"}, problems included. The topic is
// checked here first, since it goes into the API's path, and so is what the
// API needs of the body: a type and a payload.
func (d *demoAPI) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if err := decodeJSON(w, r, maxPublishBytes, &req, publishFields...); err != nil {
		protocol.NewProblem(protocol.CodeBadRequest, err.Error()).Write(w)
		return
	}
	if p := protocol.TopicProblem(req.Topic); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "topic: "+p).Write(w)
		return
	}
	if req.Type == "" {
		protocol.NewProblem(protocol.CodeBadRequest, `type is required, e.g. "notification.v1"`).Write(w)
		return
	}
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		protocol.NewProblem(protocol.CodeBadRequest, "payload is required: a JSON value of the type's schema, not null").Write(w)
		return
	}
	if req.TimeoutMS < 0 {
		protocol.NewProblem(protocol.CodeBadRequest, "timeout_ms must be 0 (the default) or more").Write(w)
		return
	}
	body, err := json.Marshal(topicMessage{Type: req.Type, Payload: req.Payload, TimeoutMS: req.TimeoutMS})
	if err != nil {
		protocol.NewProblem(protocol.CodeBadRequest, "payload is not valid JSON").Write(w)
		return
	}
	// A valid topic is segments of [A-Za-z0-9_-] and dots: safe in a path as it is.
	d.forward(w, r, http.MethodPost, "/v1/topics/"+req.Topic+"/messages", body)
}
