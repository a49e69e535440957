package edge

import (
	"strconv"

	"github.com/coder/websocket"
)

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
	// CloseInvalidUTF8 (1007): a text frame that is not valid UTF-8 (RFC 6455,
	// section 8.1). Reconnect after fixing the client.
	CloseInvalidUTF8 = websocket.StatusInvalidFramePayloadData
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

// cause says why a connection ended. It labels herald_edge_disconnects_total and
// gives the close frame its reason text. The first cause recorded wins: a
// connection that was sent reconnect for its lifetime and then closed by the
// device counts as "lifetime" with the device's close code.
type cause uint32

// The causes of a disconnect.
const (
	causeNone         cause = iota
	causeClientClosed       // the device closed or vanished
	causeLifetime           // the connection's lifetime ended (reconnect, then 4002)
	causeDrain              // the edge drained (reconnect, then 1001)
	causeShutdown           // the edge shut down (1001)
	causeReplaced           // a newer connection of the device took over (4000)
	causeRemoved            // the device was removed from its account (4003)
	causePingTimeout        // no pong within PongTimeout (abort)
	causeWriteTimeout       // a write failed or timed out (abort)
	causeTooBig             // a frame over MaxFrameBytes (1009)
	causePolicy             // the rate limit was hit repeatedly (1008)
	causeBadFrames          // too many malformed frames (1003)
	causeInvalidUTF8        // a text frame that is not UTF-8 (1007)
	causeInternal           // the edge failed (1011)
	causeTokenExpired       // the device token expired (4001)
	numCauses
)

var causeText = [numCauses]struct{ label, reason string }{
	causeNone:         {"unknown", ""},
	causeClientClosed: {"client_closed", ""},
	causeLifetime:     {"lifetime", "connection lifetime ended"},
	causeDrain:        {"drain", "edge draining"},
	causeShutdown:     {"shutdown", "edge shutting down"},
	causeReplaced:     {"replaced", "replaced by a newer connection"},
	causeRemoved:      {"removed", "device removed"},
	causePingTimeout:  {"ping_timeout", "pong timeout"},
	causeWriteTimeout: {"write_timeout", "write failed"},
	causeTooBig:       {"too_big", "frame too big"},
	causePolicy:       {"policy", "rate limit exceeded repeatedly"},
	causeBadFrames:    {"bad_frames", "too many malformed frames"},
	causeInvalidUTF8:  {"invalid_utf8", "text frame is not valid UTF-8"},
	causeInternal:     {"internal", "internal error"},
	causeTokenExpired: {"token_expired", "token_expired"},
}

// label is the cause's value of the reason label.
func (c cause) label() string {
	if c >= numCauses {
		return causeText[causeNone].label
	}
	return causeText[c].label
}

// reason is the close frame's reason text.
func (c cause) reason() string {
	if c >= numCauses {
		return ""
	}
	return causeText[c].reason
}

// codeLabel is a close code's value of the code label. Codes a device may choose
// freely fold into "other", so the label's cardinality stays bounded.
func codeLabel(c websocket.StatusCode) string {
	switch c {
	case CloseNormal, CloseGoingAway, CloseUnsupported, CloseInvalidUTF8, websocket.StatusNoStatusRcvd, closeAbort,
		ClosePolicy, CloseTooBig, CloseInternal, CloseReplaced, CloseTokenExpired, CloseLifetime, CloseRemoved:
		return strconv.Itoa(int(c))
	}
	return "other"
}
