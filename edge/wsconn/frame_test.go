package wsconn

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
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

// trackedStream is a stream of frames with, after each frame, whether the stream
// is between two messages there.
type trackedStream struct {
	data []byte
	ends map[int]bool // offset just after a frame -> idle there
}

func streamOf(masked bool, frames ...[]any) trackedStream {
	st := trackedStream{ends: map[int]bool{0: true}}
	inMsg := false
	for _, f := range frames {
		fin, op, n := f[0].(bool), f[1].(byte), f[2].(int)
		st.data = append(st.data, wsFrame(fin, op, masked, make([]byte, n))...)
		if op < 0x8 {
			inMsg = !fin
		}
		st.ends[len(st.data)] = !inMsg
	}
	return st
}

func TestFrameTracker(t *testing.T) {
	frames := [][]any{
		{true, byte(0x1), 5},     // text
		{true, byte(0x9), 0},     // ping, empty
		{false, byte(0x1), 200},  // fragmented text, 16-bit length
		{true, byte(0xa), 4},     // pong inside the message
		{false, byte(0x0), 0},    // empty continuation
		{true, byte(0x0), 70000}, // final continuation, 64-bit length
		{true, byte(0x2), 125},   // binary, the largest 7-bit length
		{true, byte(0x2), 126},   // the smallest 16-bit length
		{true, byte(0x8), 2},     // close
	}
	for _, masked := range []bool{false, true} {
		st := streamOf(masked, frames...)
		name := "server"
		if masked {
			name = "client"
		}
		t.Run(name+" stream split at every offset", func(t *testing.T) {
			for cut := 0; cut <= len(st.data); cut += 1 + cut/64 {
				var tr frameTracker
				for _, part := range [][]byte{st.data[:cut], st.data[cut:]} {
					tr.advance(part)
				}
				if !tr.idle() || !tr.closed {
					t.Fatalf("cut %d: idle %v closed %v at the end", cut, tr.idle(), tr.closed)
				}
				var tr2 frameTracker
				got := tr2.advance(st.data[:cut])
				idle, at := st.ends[cut]
				if got != at || tr2.boundary() != at || (at && tr2.idle() != idle) {
					t.Fatalf("cut %d: boundary %v idle %v, want boundary %v idle %v", cut, got, tr2.idle(), at, idle)
				}
			}
		})
		t.Run(name+" stream byte by byte", func(t *testing.T) {
			var tr frameTracker
			for i := range st.data {
				got := tr.advance(st.data[i : i+1])
				idle, at := st.ends[i+1]
				if got != at || (at && tr.idle() != idle) {
					t.Fatalf("offset %d: boundary %v idle %v, want %v %v", i+1, got, tr.idle(), at, idle)
				}
			}
		})
	}
}

func FuzzFrameTracker(f *testing.F) {
	f.Add(uint64(1), uint8(3), true)
	f.Add(uint64(42), uint8(9), false)
	f.Fuzz(func(t *testing.T, seed uint64, nframes uint8, masked bool) {
		r := rand.New(rand.NewPCG(seed, seed>>7))
		var frames [][]any
		for range int(nframes%16) + 1 {
			op := []byte{0x0, 0x1, 0x2, 0x8, 0x9, 0xa}[r.IntN(6)]
			n := r.IntN(300)
			if op >= 0x8 {
				n %= 126
			}
			frames = append(frames, []any{op >= 0x8 || r.IntN(3) > 0, op, n})
		}
		st := streamOf(masked, frames...)
		var tr frameTracker
		for off := 0; off < len(st.data); {
			k := min(len(st.data)-off, 1+r.IntN(40))
			got := tr.advance(st.data[off : off+k])
			off += k
			idle, at := st.ends[off]
			if got != at || (at && tr.idle() != idle) {
				t.Fatalf("offset %d: boundary %v idle %v, want %v %v", off, got, tr.idle(), at, idle)
			}
		}
	})
}

func TestPongLen(t *testing.T) {
	pong := wsFrame(true, wsOpPong, true, []byte("17"))
	tests := []struct {
		name string
		b    []byte
		want int
	}{
		{"a whole pong", pong, len(pong)},
		{"a pong and more", append(append([]byte{}, pong...), 0x81), len(pong)},
		{"half a pong", pong[:len(pong)-1], 0},
		{"an empty pong", wsFrame(true, wsOpPong, true, nil), 6},
		{"an unmasked pong (not from a client)", wsFrame(true, wsOpPong, false, nil), 0},
		{"a ping", wsFrame(true, wsOpPing, true, nil), 0},
		{"a text frame", wsFrame(true, 0x1, true, []byte("{}")), 0},
		{"a pong with RSV1", append([]byte{0xca}, pong[1:]...), 0},
		{"nothing", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pongLen(tt.b); got != tt.want {
				t.Fatalf("pongLen = %d, want %d", got, tt.want)
			}
		})
	}
}
