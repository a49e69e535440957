package edge

import "github.com/coder/websocket"

// Close codes the edge uses. A client reconnects after every code but
// CloseReplaced, which is final: a newer connection of the same device took over.
const (
	// CloseNormal (1000): the connection ended normally. Reconnect.
	CloseNormal = websocket.StatusNormalClosure
	// CloseGoingAway (1001): the edge drains or shuts down. Reconnect elsewhere.
	CloseGoingAway = websocket.StatusGoingAway
	// CloseUnsupported (1003): too many undecodable frames in a row. Reconnect
	// after fixing the client.
	CloseUnsupported = websocket.StatusUnsupportedData
	// ClosePolicy (1008): the rate limit was exceeded repeatedly. Reconnect with
	// backoff.
	ClosePolicy = websocket.StatusPolicyViolation
	// CloseTooBig (1009): a frame over the size limit. Reconnect.
	CloseTooBig = websocket.StatusMessageTooBig
	// CloseInternal (1011): the edge failed. Reconnect with backoff.
	CloseInternal = websocket.StatusInternalError
	// CloseReplaced (4000): the same device connected again; only the newest lives.
	// Final: do not reconnect.
	CloseReplaced websocket.StatusCode = 4000
	// CloseTokenExpired (4001): the device token expired. Reconnect with a fresh one.
	CloseTokenExpired websocket.StatusCode = 4001
	// CloseLifetime (4002): the connection's lifetime ended and the client ignored
	// reconnect. Reconnect.
	CloseLifetime websocket.StatusCode = 4002
	// CloseRemoved (4003): the device was removed from its account's device list.
	// Final: do not reconnect.
	CloseRemoved websocket.StatusCode = 4003
)

// closeAbort ends a connection without a close handshake, for a peer that is gone
// or stuck (no pong, a write timed out): waiting for its close frame would be in
// vain. The client sees 1006 (abnormal closure), which is never sent on the wire.
const closeAbort = websocket.StatusAbnormalClosure
