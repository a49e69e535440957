package wsconn

import "encoding/binary"

// WebSocket opcodes and header bits (RFC 6455, section 5.2) that Conn needs.
const (
	wsFin     = 0x80
	wsOpClose = 0x8
	wsOpPing  = 0x9
	wsOpPong  = 0xa
	wsMasked  = 0x80
)

// wsPingFrame is the ping the keepalive writes: final, no payload, unmasked (a
// server never masks).
var wsPingFrame = [2]byte{wsFin | wsOpPing, 0}

// frameTracker follows one direction of a WebSocket byte stream to tell where
// its frames and messages end. It reads headers only; payloads are skipped.
type frameTracker struct {
	hdr    [14]byte // the header read so far (2 + 8 length + 4 mask at most)
	nhdr   int
	left   uint64 // payload bytes still to come, once the header is complete
	body   bool   // the header is complete and payload bytes are due
	inMsg  bool   // inside a fragmented data message (a data frame without FIN passed)
	closed bool   // a close frame has passed
}

// advance consumes p and reports whether the stream is at a frame boundary after
// it.
func (t *frameTracker) advance(p []byte) bool {
	for len(p) > 0 {
		if t.body {
			k := min(uint64(len(p)), t.left)
			t.left -= k
			p = p[k:]
			t.body = t.left > 0
			continue
		}
		t.hdr[t.nhdr] = p[0]
		t.nhdr++
		p = p[1:]
		if frameHeaderLen(t.hdr[:t.nhdr]) == t.nhdr {
			t.endHeader()
		}
	}
	return t.boundary()
}

func (t *frameTracker) endHeader() {
	h := t.hdr[:t.nhdr]
	switch op := h[0] & 0x0f; {
	case op < 0x8: // continuation, text, binary
		t.inMsg = h[0]&wsFin == 0
	case op == wsOpClose:
		t.closed = true
	}
	t.left = framePayloadLen(h)
	t.nhdr = 0
	t.body = t.left > 0
}

// boundary reports whether the stream is between two frames.
func (t *frameTracker) boundary() bool { return !t.body && t.nhdr == 0 }

// idle reports whether the stream is between two messages: at a frame boundary,
// not inside a fragmented message.
func (t *frameTracker) idle() bool { return t.boundary() && !t.inMsg }

// frameHeaderLen returns the length of the header that starts with h, as far as h
// tells (2 while h is shorter than that).
func frameHeaderLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&wsMasked != 0 {
		n += 4 // masking key
	}
	return n
}

// framePayloadLen returns the payload length of the complete header h.
func framePayloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(l)
	}
}

// pongLen returns the length of the complete pong frame from a client at the
// start of b, or 0 when b does not start with one (another frame, or a pong not
// all there yet). Clients mask every frame; a pong has at most 125 bytes of
// payload and no RSV bits.
func pongLen(b []byte) int {
	if len(b) < 6 || b[0] != wsFin|wsOpPong || b[1]&wsMasked == 0 {
		return 0
	}
	n := 6 + int(b[1]&0x7f)
	if b[1]&0x7f > 125 || len(b) < n {
		return 0
	}
	return n
}

// wsOpText is the opcode of a text frame.
const wsOpText = 0x1

// wsMaxHeader is the longest header of an unmasked frame.
const wsMaxHeader = 10

// appendTextHeader appends the header of a final, unmasked text frame of n
// payload bytes (RFC 6455, section 5.2) to b.
func appendTextHeader(b []byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, wsFin|wsOpText, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, wsFin|wsOpText, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, wsFin|wsOpText, 127), uint64(n))
	}
}
