package edge

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestTooBigCloses1009: a message over MaxFrameBytes, in one frame or in
// fragments each under the limit, is answered with a 1009 close frame before
// the connection ends.
func TestTooBigCloses1009(t *testing.T) {
	e := mustEdge(t, nil)
	tests := []struct {
		name      string
		fragments int
	}{
		{"one frame", 1},
		{"fragments", 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.dialRaw(t, "a1", "tv1", nil)
			d.frameOf(wsOpText) // the welcome
			chunk := bytes.Repeat([]byte("x"), 4*DefaultMaxFrameBytes/tt.fragments)
			var out []byte
			for i := range tt.fragments {
				op := byte(0) // continuation
				if i == 0 {
					op = wsOpText
				}
				out = append(out, wsFrame(i == tt.fragments-1, op, true, chunk)...)
			}
			// The edge may close before it read the rest: a failed write is fine.
			_, _ = d.c.Write(out)
			p := d.frameOf(wsOpClose)
			if len(p) < 2 || binary.BigEndian.Uint16(p) != uint16(CloseTooBig) {
				t.Fatalf("close frame %q, want code %d", p, CloseTooBig)
			}
		})
	}
}
