package edge

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// authenticate checks the request's device token (Authorization: Bearer, or the
// access_token query parameter for browsers) and its Origin. On failure it writes a
// problem (401 or 403) and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (token.Claims, bool) {
	if !s.originAllowed(r) {
		protocol.NewProblem(protocol.CodeForbidden, "origin not allowed").Write(w)
		return token.Claims{}, false
	}
	raw := bearer(r)
	if raw == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		protocol.NewProblem(protocol.CodeUnauthorized, "a device token is required: Authorization: Bearer <token> or ?access_token=").Write(w)
		return token.Claims{}, false
	}
	c, err := s.cfg.Verifier.Verify(raw)
	if err != nil {
		detail := "invalid device token"
		if errors.Is(err, token.ErrExpired) {
			detail = "device token expired"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
		protocol.NewProblem(protocol.CodeUnauthorized, detail).Write(w)
		return token.Claims{}, false
	}
	return c, true
}

// admit adopts the handler goroutine into the server's WaitGroup and checks the
// request's token and origin. When it returns false it has written the answer (503
// while shutting down, 403, 401) and holds no count; otherwise the caller must
// call s.wg.Done when it returns.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (token.Claims, bool) {
	if err := s.enter(); err != nil {
		protocol.NewProblem(protocol.CodeUnavailable, "edge is shutting down").Write(w)
		return token.Claims{}, false
	}
	c, ok := s.authenticate(w, r)
	if !ok {
		s.wg.Done()
	}
	return c, ok
}

// bearer returns the request's token, from the Authorization header or the
// access_token query parameter.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// originAllowed reports whether a browser's Origin may connect: no Origin (not a
// browser), the request's own host, or a host matching AllowedOrigins.
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range s.cfg.AllowedOrigins {
		if p == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}
