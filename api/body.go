package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/heraldpush/herald/protocol"
)

// presizeBody bounds the buffer readBody allocates from Content-Length.
const presizeBody = 64 << 10

// readBody reads a request body of at most MaxBodyBytes, appending it to dst
// (nil for a new slice); on failure it writes the problem and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, dst []byte) ([]byte, bool) {
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// Room for the body and the read that finds its end: no regrowing. Not
		// more than presizeBody on the client's word alone, before the bytes
		// arrive.
		dst = slices.Grow(dst, int(min(n, presizeBody))+1)
	}
	body, err := readAppend(dst, http.MaxBytesReader(connWriter(w), r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("request body over %d bytes", s.cfg.MaxBodyBytes)).Write(w)
			return body, false
		}
		protocol.NewProblem(protocol.CodeBadRequest, "reading the request body: "+err.Error()).Write(w)
		return body, false
	}
	if jsonDepthOver(body, s.cfg.MaxJSONDepth) {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("request body nests arrays and objects deeper than %d levels", s.cfg.MaxJSONDepth)).Write(w)
		return body, false
	}
	return body, true
}

// jsonDepthOver reports whether the JSON text b nests arrays and objects deeper
// than limit. It scans the bytes once, skipping strings, without decoding:
// the decoders that run after it (into any, for schema validation) recurse
// once a level, so a body of a million '[' must be refused before them. Text
// that is not JSON is left to the decoder to refuse.
func jsonDepthOver(b []byte, limit int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// readAppend is io.ReadAll appending to dst.
func readAppend(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return dst, err
		}
	}
}

// decodeJSON reads a JSON request body into v, whose fields are in; on failure
// (decodeBody) it writes a problem that names the offending field and returns
// false. The body is read into a pooled buffer: json.Unmarshal copies what it
// keeps (strings, jsonRaw), so nothing in v refers to it.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, in *fields) bool {
	buf := s.getBuf()
	defer s.putBuf(buf)
	body, ok := s.readBody(w, r, *buf)
	*buf = body
	if !ok {
		return false
	}
	if p := decodeBody(body, v, in); p != nil {
		p.Write(w)
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
