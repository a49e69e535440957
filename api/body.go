package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/heraldpush/herald/protocol"
)

// readBody reads a request body of at most MaxBodyBytes; on failure it writes the
// problem and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(connWriter(w), r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("request body over %d bytes", s.cfg.MaxBodyBytes)).Write(w)
			return nil, false
		}
		protocol.NewProblem(protocol.CodeBadRequest, "reading the request body: "+err.Error()).Write(w)
		return nil, false
	}
	return body, true
}

// decodeJSON reads a JSON request body into v; on failure it writes a problem that
// names the offending field and returns false.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		protocol.NewProblem(protocol.CodeBadRequest, describeJSONError(err)).Write(w)
		return false
	}
	return true
}

// describeJSONError turns a decoding error into a sentence naming the field.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type.Kind(), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("body is not valid JSON (at byte %d): %v", se.Offset, se)
	default:
		return "body is not a valid JSON object: " + err.Error()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		protocol.NewProblem(protocol.CodeInternal, "encoding the response failed").Write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// validationProblem turns a payload validation failure into a problem whose detail
// names the first failing field.
func validationProblem(err error) *protocol.Problem {
	var ve *protocol.ValidationError
	if errors.As(err, &ve) {
		return protocol.NewProblem(ve.Code, ve.Error(), ve.Details...)
	}
	if errors.Is(err, protocol.ErrUnknownType) {
		return protocol.NewProblem(protocol.CodeUnknownType, err.Error())
	}
	return protocol.NewProblem(protocol.CodeSchemaInvalid, err.Error())
}
