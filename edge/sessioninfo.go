package edge

import "time"

// Transports of SessionInfo.
const (
	TransportWebSocket = "ws"
	TransportSSE       = "sse"
)

// SessionInfo is what an edge knows of one live device connection, for
// operators (the admin API's device lookup): the registry holds only where a
// device is, the edge how its connection is doing.
type SessionInfo struct {
	// Session is the connection's session id, as in the registry and the welcome.
	Session string
	// Since is when the connection was accepted.
	Since time.Time
	// Lifetime is the connection's drawn maximum lifetime; at Since+Lifetime
	// the edge asks it to reconnect.
	Lifetime time.Duration
	// Transport is TransportWebSocket or TransportSSE.
	Transport string
	// Queue is the frames waiting in its send queue.
	Queue int
	// Platform is the platform of the device's hello, "" before one.
	Platform string
}

// SessionInfo returns the live session of account/device on this edge, false
// when the edge holds none.
func (s *Server) SessionInfo(account, device string) (SessionInfo, bool) {
	s.mu.Lock()
	ss := s.findLocked(account, device)
	s.mu.Unlock()
	if ss == nil {
		return SessionInfo{}, false
	}
	info := SessionInfo{Session: ss.id, Since: ss.since, Lifetime: ss.lifetime, Transport: TransportWebSocket}
	if ss.kick != nil {
		info.Transport = TransportSSE
	}
	ss.mu.Lock()
	info.Queue = len(ss.queue)
	info.Platform = ss.platform
	ss.mu.Unlock()
	return info, true
}
