package edge

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// authenticate checks the request's device token (Authorization: Bearer, or the
// access_token query parameter for browsers) and its Origin. On failure it writes a
// problem (401 or 403), logs the failure (rate-limited, never the token) and
// returns why.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (token.Claims, refusal, bool) {
	if !s.originAllowed(r) {
		s.authFailed(r, "origin not allowed")
		protocol.NewProblem(protocol.CodeForbidden, "origin not allowed").Write(w)
		return token.Claims{}, refusedOrigin, false
	}
	raw := bearer(r)
	if raw == "" {
		s.authFailed(r, "no token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		protocol.NewProblem(protocol.CodeUnauthorized, "a device token is required: Authorization: Bearer <token> or ?access_token=").Write(w)
		return token.Claims{}, refusedUnauthorized, false
	}
	c, err := s.cfg.Verifier.Verify(raw)
	if err != nil {
		detail := "invalid device token"
		if errors.Is(err, token.ErrExpired) {
			detail = "device token expired"
		}
		s.authFailed(r, detail)
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
		protocol.NewProblem(protocol.CodeUnauthorized, detail).Write(w)
		return token.Claims{}, refusedUnauthorized, false
	}
	return c, 0, true
}

// authFailed logs a refused request, rate-limited. It names the reason and the
// peer, never the token nor the URL (which may carry it).
func (s *Server) authFailed(r *http.Request, reason string) {
	if ok, suppressed := s.noisy.allow(noisyAuth, time.Now()); ok {
		s.cfg.Logger.Info("authentication failed", "reason", reason, "path", r.URL.Path, "remote", r.RemoteAddr, "suppressed", suppressed)
	}
}

// admit admits a device connection (see enterDevice) and checks the request's
// token and origin. When it returns false it has written the answer (503 while
// draining, shutting down or over a limit; 403; 401; 429 for a device in policy
// backoff, see penalty.go) and holds nothing; otherwise
// the caller must call s.leave when it returns.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (token.Claims, bool) {
	if why, retry, ok := s.enterDevice(); !ok {
		s.refuse(w, r, why, retry)
		return token.Claims{}, false
	}
	c, why, ok := s.authenticate(w, r)
	if !ok {
		s.met.refused[why].Inc()
		s.leave()
		return c, false
	}
	if s.inBackoff(w, r, c.Account, c.Device) {
		s.leave()
		return c, false
	}
	return c, true
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
