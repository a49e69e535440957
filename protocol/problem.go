package protocol

import (
	"encoding/json"
	"net/http"
)

// ProblemContentType is the media type of REST error bodies (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is a REST error body (RFC 9457) carrying the same Code as the error frame.
type Problem struct {
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Status  int      `json:"status"`
	Detail  string   `json:"detail,omitempty"`
	Code    Code     `json:"code"`
	Details []Detail `json:"errors,omitempty"`
}

// NewProblem returns the problem for code with a human-readable detail. Its HTTP
// status comes from HTTPStatus.
func NewProblem(code Code, detail string, details ...Detail) *Problem {
	return &Problem{
		Type:    "https://herald.dev/problems/" + string(code),
		Title:   code.Title(),
		Status:  HTTPStatus(code),
		Detail:  detail,
		Code:    code,
		Details: details,
	}
}

// Write sends the problem as the response.
func (p *Problem) Write(w http.ResponseWriter) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"title":"internal error","status":500,"code":"internal"}`)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// HTTPStatus maps an error code to its HTTP status. It is the one place where that
// mapping lives.
func HTTPStatus(c Code) int {
	switch c {
	case CodeBadFrame, CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnknownType, CodeSchemaInvalid:
		return http.StatusUnprocessableEntity
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Title is a short human-readable summary of the code.
func (c Code) Title() string {
	switch c {
	case CodeBadFrame:
		return "malformed frame"
	case CodeBadRequest:
		return "malformed request"
	case CodeUnknownType:
		return "unknown message type"
	case CodeSchemaInvalid:
		return "payload does not match the type's schema"
	case CodeForbidden:
		return "forbidden"
	case CodeTooLarge:
		return "too large"
	case CodeRateLimited:
		return "rate limited"
	case CodeUnavailable:
		return "temporarily unavailable"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeNotFound:
		return "not found"
	case CodeConflict:
		return "conflict"
	default:
		return "internal error"
	}
}
