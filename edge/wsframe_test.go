package edge

import "encoding/binary"

// The WebSocket opcodes and header bits (RFC 6455, section 5.2) the tests that
// speak WebSocket by hand (rawDevice) write and expect; package wsconn has its
// own for the connection.
const (
	wsFin     = 0x80
	wsOpText  = 0x1
	wsOpClose = 0x8
	wsOpPing  = 0x9
	wsOpPong  = 0xa
	wsMasked  = 0x80
)

// wsFrame encodes one frame as a client (masked, with a fixed key) or a server
// would send it.
func wsFrame(fin bool, op byte, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= wsFin
	}
	var mbit byte
	if masked {
		mbit = wsMasked
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, mbit|byte(n))
	case n <= 0xffff:
		out = append(out, mbit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}
