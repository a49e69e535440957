package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Paths of the internal handler, served on an edge's internal listener beside
// the edge links, behind the cluster key.
const (
	InternalNodePath    = "/internal/v1/admin/node"
	InternalSessionPath = "/internal/v1/admin/session"
	InternalDrainPath   = "/internal/v1/admin/drain"
)

// maxPeerAnswer bounds what is read of another edge's answer.
const maxPeerAnswer = 1 << 20

// Peers asks other edges, over their internal listener with the cluster key,
// for what only they know: their figures, their sessions; and tells them to
// drain.
type Peers struct {
	// Key is the cluster key presented.
	Key string
	// Client dials the internal listeners (TLS when they serve it); nil:
	// http.DefaultClient.
	Client *http.Client
}

// errNoSession is the internal session endpoint's answer for a device the edge
// does not hold.
var errNoSession = errors.New("admin: the edge holds no session of the device")

// do sends method path to the internal address addr and decodes the answer into v.
func (p *Peers) do(ctx context.Context, method, addr, path string, v any) error {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.Key)
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerAnswer))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, InternalSessionPath):
		return errNoSession
	case resp.StatusCode/100 != 2:
		var pr protocol.Problem
		if json.Unmarshal(body, &pr) == nil && pr.Detail != "" {
			return fmt.Errorf("%s: %s", resp.Status, pr.Detail)
		}
		return errors.New(resp.Status)
	case v == nil:
		return nil
	}
	return json.Unmarshal(body, v)
}

// Session is a device's live session, as its edge reports it.
type Session struct {
	Session string `json:"session"`
	// Since is when the connection was accepted, Unix milliseconds.
	Since int64 `json:"since"`
	// LifetimeMS is the connection's drawn lifetime; LifetimeLeftMS what is
	// left of it, after which the edge sends reconnect (lifetime).
	LifetimeMS     int64 `json:"lifetime_ms"`
	LifetimeLeftMS int64 `json:"lifetime_left_ms"`
	// Protocol is "ws" (WebSocket) or "sse" (Server-Sent Events).
	Protocol string `json:"protocol"`
	// Queue is the frames waiting in its send queue.
	Queue    int    `json:"queue"`
	Platform string `json:"platform,omitempty"`
}

// localSession reads account/device's session on this node's edge.
func (s *Server) localSession(account, device string) (Session, bool) {
	if s.cfg.Local == nil {
		return Session{}, false
	}
	info, ok := s.cfg.Local.SessionInfo(account, device)
	if !ok {
		return Session{}, false
	}
	left := time.Until(info.Since.Add(info.Lifetime))
	return Session{
		Session:        info.Session,
		Since:          info.Since.UnixMilli(),
		LifetimeMS:     info.Lifetime.Milliseconds(),
		LifetimeLeftMS: max(left.Milliseconds(), 0),
		Protocol:       info.Transport,
		Queue:          info.Queue,
		Platform:       info.Platform,
	}, true
}

// InternalHandler serves the internal endpoints other nodes' admin APIs call
// on this edge: GET InternalNodePath, GET InternalSessionPath?account=&device=
// and POST InternalDrainPath. It requires one of clusterKeys; mount it on the
// internal listener.
func (s *Server) InternalHandler(clusterKeys []string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+InternalNodePath, s.node)
	mux.HandleFunc("GET "+InternalSessionPath, func(w http.ResponseWriter, r *http.Request) {
		account, device := r.URL.Query().Get("account"), r.URL.Query().Get("device")
		if !protocol.ValidID(account) || !protocol.ValidID(device) {
			protocol.NewProblem(protocol.CodeBadRequest, "invalid account or device id").Write(w)
			return
		}
		ss, ok := s.localSession(account, device)
		if !ok {
			protocol.NewProblem(protocol.CodeNotFound, "no session of the device on this edge").Write(w)
			return
		}
		writeJSON(w, http.StatusOK, ss)
	})
	mux.HandleFunc("POST "+InternalDrainPath, func(w http.ResponseWriter, _ *http.Request) {
		if s.cfg.Drain == nil {
			protocol503(w, "this node cannot drain")
			return
		}
		s.cfg.Logger.Info("admin: drain requested by another node")
		s.cfg.Drain()
		writeJSON(w, http.StatusAccepted, map[string]string{"edge": s.cfg.Node, "status": "draining"})
	})
	digests := make([][sha256.Size]byte, len(clusterKeys))
	for i, k := range clusterKeys {
		digests[i] = sha256.Sum256([]byte(k))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(key))
		match := 0
		for i := range digests {
			match |= subtle.ConstantTimeCompare(digests[i][:], got[:])
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-internal"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "a cluster key is required").Write(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// sessionPath is the internal session endpoint's path for account/device.
func sessionPath(account, device string) string {
	return InternalSessionPath + "?" + url.Values{"account": {account}, "device": {device}}.Encode()
}
