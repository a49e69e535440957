package api

import (
	"encoding/json"
	"net/http"

	"github.com/heraldpush/herald/protocol"
)

// The push answers are encoded here by hand, into pooled buffers, because they
// are on the hot path: encoding/json costs reflection, a copy of the result and
// an allocation for boxing the value. The output is byte for byte what
// json.Marshal writes for PushResponse and PushBatchResponse (a test and a fuzz
// target hold it to that).

// maxPooledBuf is the largest buffer put back in the pool; larger ones, from
// rare large bodies, are left to the garbage collector.
const maxPooledBuf = 1 << 20

// getBuf returns an empty buffer from the server's pool.
func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

// putBuf returns b to the pool; nothing may use it afterwards.
func (s *Server) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		s.bufs.Put(b)
	}
}

// writeJSONBytes sends body, a JSON document, as the response.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// appendPushResponse appends the JSON of PushResponse{id, results} and a
// newline, as writeJSON would write it.
func appendPushResponse(b []byte, id string, results []protocol.Result) []byte {
	b = appendPushResponseObject(b, id, results)
	return append(b, '\n')
}

// appendPushResponseObject appends the JSON object of PushResponse{id, results}.
func appendPushResponseObject(b []byte, id string, results []protocol.Result) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"results":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"device":`...)
		b = appendJSONString(b, r.Device)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, string(r.Status))
		if r.Error != "" {
			b = append(b, `,"error":`...)
			b = appendJSONString(b, r.Error)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendBatchResult appends the JSON object of one PushBatchResult: the
// message's id and results, or {"error":p} when p is not nil.
func appendBatchResult(b []byte, id string, results []protocol.Result, p *protocol.Problem) []byte {
	if p == nil {
		return appendPushResponseObject(b, id, results)
	}
	// Problems are the exception, and their fields many: encoding/json writes them.
	pj, err := json.Marshal(p)
	if err != nil {
		pj = []byte(`{"title":"internal error","status":500,"code":"internal"}`)
	}
	b = append(b, `{"error":`...)
	b = append(b, pj...)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string exactly as encoding/json writes
// it (HTML-safe; see protocol.AppendHTMLString).
func appendJSONString(b []byte, s string) []byte { return protocol.AppendHTMLString(b, s) }
