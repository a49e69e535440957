package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/protocol"
)

// jsonRaw is a raw JSON value that treats JSON null as absent.
type jsonRaw []byte

// UnmarshalJSON keeps the raw bytes; null stays empty.
func (j *jsonRaw) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

// MarshalJSON writes the raw bytes, or null.
func (j jsonRaw) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// TypeInfo describes a message type in GET /v1/types.
type TypeInfo struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Directions  []protocol.Direction `json:"directions"`
	Priority    protocol.Priority    `json:"priority"`
	TTL         int                  `json:"ttl"`
	MaxBytes    int                  `json:"max_bytes"`
	Ack         bool                 `json:"ack"`
	Schema      json.RawMessage      `json:"schema,omitempty"`
}

func typeInfo(t *protocol.Type, withSchema bool) TypeInfo {
	ti := TypeInfo{
		Name:        t.Name,
		Description: t.Policy.Description,
		Directions:  t.Policy.Directions,
		Priority:    t.Policy.Priority,
		TTL:         t.Policy.TTL,
		MaxBytes:    t.Policy.MaxBytes,
		Ack:         t.Policy.Ack,
	}
	if withSchema {
		ti.Schema = t.Schema
	}
	return ti
}

func (s *Server) listTypes(w http.ResponseWriter, _ *http.Request) {
	list := s.cfg.Types.List()
	out := struct {
		Types []TypeInfo `json:"types"`
	}{Types: make([]TypeInfo, 0, len(list))}
	for _, t := range list {
		out.Types = append(out.Types, typeInfo(t, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) lookupType(w http.ResponseWriter, r *http.Request) (*protocol.Type, bool) {
	name := chi.URLParam(r, "type")
	t, ok := s.cfg.Types.Lookup(name)
	if !ok {
		protocol.NewProblem(protocol.CodeNotFound, fmt.Sprintf("unknown message type %q", name)).Write(w)
	}
	return t, ok
}

func (s *Server) getType(w http.ResponseWriter, r *http.Request) {
	if t, ok := s.lookupType(w, r); ok {
		writeJSON(w, http.StatusOK, typeInfo(t, true))
	}
}

// validateType serves POST /v1/types/{type}/validate: the body is a sample payload;
// 200 {"valid":true} when it passes, a 422 (or 413) problem naming the failing
// fields when it does not.
func (s *Server) validateType(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookupType(w, r)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r, nil)
	if !ok {
		return
	}
	if err := t.Validate(body); err != nil {
		validationProblem(err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "type": t.Name})
}
