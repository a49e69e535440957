package edge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// A device refreshes its token on a live connection instead of reconnecting
// when the token expires: a refresh frame (WebSocket) or POST /v1/refresh (SSE)
// carries a new token for the same account and device, with the same topic
// grants, and the connection's token deadline moves to the new token's. A
// refresh that fails leaves the old deadline, at which the connection closes
// with 4001 as before. Refreshes share the hello budget (HelloRate,
// HelloBurst): a device refreshes once per token lifetime.

// MaxRefreshBody bounds the body of POST /v1/refresh.
const MaxRefreshBody = 1 << 10

// refreshProblem checks that claims may replace the session's token, and says
// why not: "" when they may.
func (ss *session) refreshProblem(claims token.Claims) string {
	if claims.Account != ss.account || claims.Device != ss.device {
		return "the token is for another device"
	}
	ss.mu.Lock()
	var grants []string
	if ss.topics != nil {
		grants = ss.topics.grants
	}
	ss.mu.Unlock()
	if !slices.Equal(sortedCopy(grants), sortedCopy(claims.Topics)) {
		return "the token grants other topics than the connection's: reconnect with it"
	}
	return ""
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// applyRefresh moves the session's token deadline to claims' and returns the
// new token's exp in Unix seconds (0: none).
func (s *Server) applyRefresh(ss *session, claims token.Claims) int64 {
	s.wheel.setTokenEnd(ss, claims.Until)
	s.met.refreshes.Inc()
	if claims.Expires.IsZero() {
		return 0
	}
	return claims.Expires.Unix()
}

// refresh handles a device's refresh frame: the new token is verified, must be
// for the same account and device with the same grants, and answered with
// refreshed; a token that is not is answered with an error frame (forbidden),
// and the old deadline stands. It returns true when the connection must end.
func (s *Server) refresh(ss *session, f *protocol.Refresh) bool {
	if !protocol.ValidMsgID(f.ID) {
		return s.badFrame(ss, "", "refresh id: "+msgIDRule, false, "bad_id", "id")
	}
	if !ss.hellos.take(s.cfg.Now().UnixNano(), s.cfg.HelloRate, s.cfg.HelloBurst, 1) {
		s.met.overBudget[budgetHellos].Inc()
		return s.rateLimited(ss, f.ID, "refresh rate exceeded (it shares the hello budget)")
	}
	claims, err := s.cfg.Verifier.Verify(f.Token)
	if err != nil {
		s.replyError(ss, &protocol.Error{Re: f.ID, Code: protocol.CodeForbidden, Message: "refresh: the token is not valid; the connection keeps its old expiry"})
		return false
	}
	if why := ss.refreshProblem(claims); why != "" {
		s.replyError(ss, &protocol.Error{Re: f.ID, Code: protocol.CodeForbidden, Message: "refresh: " + why + "; the connection keeps its old expiry"})
		return false
	}
	ss.rateHits = 0
	exp := s.applyRefresh(ss, claims)
	if err := s.send(ss, &protocol.Refreshed{ID: f.ID, Exp: exp}, nil); err != nil {
		ss.log.Debug("refreshed frame not queued", "err", err)
	}
	return false
}

// refreshRequest is the body of POST /v1/refresh.
type refreshRequest struct {
	Session string `json:"session"`
}

// serveRefresh serves POST /v1/refresh, the refresh of an SSE stream's token:
// the new token in Authorization, the stream's session (from its welcome) in
// the body, {"session":"s_…"}. It answers {"exp":…} once the stream lives
// until the new token's expiry; 404 when this edge holds no such stream.
func (s *Server) serveRefresh(w http.ResponseWriter, r *http.Request) {
	claims, _, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRefreshBody))
	if err != nil {
		protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("refresh body over %d bytes", MaxRefreshBody)).Write(w)
		return
	}
	var req refreshRequest
	if err := json.Unmarshal(body, &req); err != nil || !protocol.ValidMsgID(req.Session) {
		protocol.NewProblem(protocol.CodeBadRequest, `body must be {"session":"<the session of the stream's welcome>"}`).Write(w)
		return
	}
	ss := s.session(claims.Account, claims.Device)
	if ss == nil || ss.id != req.Session || ss.kick == nil { // an SSE stream's: a WebSocket refreshes with its frame
		protocol.NewProblem(protocol.CodeNotFound, "this edge holds no such stream of this device").Write(w)
		return
	}
	ss.mu.Lock()
	allowed := ss.hellos.take(s.cfg.Now().UnixNano(), s.cfg.HelloRate, s.cfg.HelloBurst, 1)
	ss.mu.Unlock()
	if !allowed {
		s.met.overBudget[budgetHellos].Inc()
		w.Header().Set("Retry-After", "1")
		protocol.NewProblem(protocol.CodeRateLimited, "refresh rate exceeded (it shares the hello budget)").Write(w)
		return
	}
	if why := ss.refreshProblem(claims); why != "" {
		protocol.NewProblem(protocol.CodeForbidden, "refresh: "+why).Write(w)
		return
	}
	exp := s.applyRefresh(ss, claims)
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, "{\"exp\":%d}\n", exp)
}

// setTokenEnd moves ss's token deadline to until (zero: none) and schedules
// again the deadline it may cap: a lifetime or a grace is kept, capped by the
// new token; a deadline that was the old token's becomes the end of the
// session's lifetime (its start plus its lifetime), capped by the new token.
// A token deadline that had capped the grace after a reconnect frame is left:
// the connection is ending, and closes at the old token's end.
func (w *wheel) setTokenEnd(ss *session, until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ss.tokenEnd = 0
	if !until.IsZero() {
		ss.tokenEnd = until.UnixNano()
	}
	if ss.slot.in == 0 {
		return
	}
	switch ss.due.kind {
	case dueLifetime, dueGrace:
		w.scheduleLocked(ss, w.start.Add(time.Duration(ss.due.tick)*w.res), ss.due.kind)
	case dueToken:
		if ss.reconnect.Load() == uint32(causeNone) {
			w.scheduleLocked(ss, ss.since.Add(ss.lifetime), dueLifetime)
		}
	}
}
