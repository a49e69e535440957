package edge

import (
	"time"

	"github.com/coder/websocket"
)

// A close the device brought on itself (a policy violation, a frame too big,
// invalid UTF-8, too many malformed frames) does not wait for the device's half
// of the close handshake. coder/websocket's Conn.Close writes the close frame and
// then reads, and discards, whatever the peer still sends until its close frame
// comes or 5 s have passed: a hostile device that keeps sending would keep the
// edge reading it, a fifth of its CPU in the hostile-device soak. RFC 6455,
// section 7.1.1, lets the server close the TCP connection once it has sent its
// close frame. So the edge writes the close frame within Config.CloseWriteTimeout,
// waits Config.CloseLinger at most for the device's answer (a well-behaved device answers at
// once and gets a clean close; that keeps its close frame from a reset too), and
// closes the connection. Every other close (drain, lifetime, replaced, shutdown)
// keeps the full handshake.
//
// The defaults of Config.CloseWriteTimeout and Config.CloseLinger.
const (
	DefaultCloseWriteTimeout = time.Second
	DefaultCloseLinger       = 250 * time.Millisecond
)

// misbehaved reports whether code closes a connection for the device's own
// misbehaviour.
func misbehaved(code websocket.StatusCode) bool {
	switch code {
	case ClosePolicy, CloseTooBig, CloseInvalidUTF8, CloseUnsupported:
		return true
	}
	return false
}

// cutShort bounds the close handshake that follows: the close frame's write by
// Config.CloseWriteTimeout and the wait for the device's answer by
// Config.CloseLinger. When
// either passes, coder/websocket's Close gives up and closes the connection.
func (t *wsTransport) cutShort() {
	now := time.Now()
	_ = t.nc.SetWriteDeadline(now.Add(t.closeWrite))
	_ = t.nc.SetReadDeadline(now.Add(t.closeLinger))
}
