package wsconn

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

func TestWSConnGathersFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := new(Conn)
	c.init(nc)
	bw := bufio.NewWriterSize(c, wsBufio)
	var want []byte
	write := func(b []byte) {
		t.Helper()
		want = append(want, b...)
		if _, err := bw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{0, 3, 14, 15, 100, 125, 126, 4000, 70000} {
		write(wsFrame(true, 0x1, false, bytes.Repeat([]byte{'a' + byte(n%26)}, n)))
		// Between two frames a ping goes out.
		if sent, err := c.Ping(int64(n + 1)); !sent || err != nil {
			t.Fatalf("after a %d-byte frame: ping sent %v, %v", n, sent, err)
		}
		c.pong()
		want = append(want, wsPingFrame[:]...)
	}
	// Within a frame it waits: its header is in, its payload is not.
	head := wsFrame(true, 0x1, false, make([]byte, 200))
	if _, err := c.Write(head[:20]); err != nil {
		t.Fatal(err)
	}
	if sent, _ := c.Ping(1); sent {
		t.Fatal("a ping went out in the middle of a frame")
	}
	if _, err := c.Write(head[20:]); err != nil {
		t.Fatal(err)
	}
	want = append(want, head...)
	// After the close frame, no ping.
	write(wsFrame(true, wsOpClose, false, []byte{0x03, 0xe8}))
	if sent, _ := c.Ping(2); sent {
		t.Fatal("a ping went out after the close frame")
	}
	_ = c.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer read %d bytes, want %d the same", len(b), len(want))
	}
}

func TestAppendTextHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		got := append(appendTextHeader(nil, n), p...)
		if want := wsFrame(true, wsOpText, false, p); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: header % x, want % x", n, got[:len(got)-n], want[:len(want)-n])
		}
	}
}

// TestTryWriteTextTorn fills a socket whose peer does not read with frames
// written directly until one goes out in part, then finishes it once the peer
// reads: the peer gets every frame whole and in order, and the stream is back
// at a frame boundary (a ping goes out after it).
func TestTryWriteTextTorn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.(*net.TCPConn).SetWriteBuffer(4096)
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	c := new(Conn)
	c.init(nc)
	if c.raw == nil {
		t.Skip("no raw connection on this platform")
	}

	var want []byte
	torn := false
	for i := 0; i < 10000 && !torn; i++ {
		p := bytes.Repeat([]byte{'a' + byte(i%26)}, 3000)
		wrote, tornNow, err := c.TryWriteText(p)
		if err != nil {
			t.Fatal(err)
		}
		if wrote {
			want = append(want, wsFrame(true, wsOpText, false, p)...)
		}
		if !wrote {
			t.Fatalf("frame %d: nothing written before any frame was torn", i)
		}
		torn = tornNow
	}
	if !torn {
		t.Fatal("no frame went out in part")
	}
	// While the rest is pending, nothing else is written.
	if wrote, _, _ := c.TryWriteText([]byte("x")); wrote {
		t.Fatal("a frame went out in the middle of a torn one")
	}
	if sent, _ := c.Ping(1); sent {
		t.Fatal("a ping went out in the middle of a torn frame")
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	if err := c.FinishTorn(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if sent, err := c.Ping(2); !sent || err != nil {
		t.Fatalf("after the torn frame: ping sent %v, %v", sent, err)
	}
	want = append(want, wsPingFrame[:]...)
	_ = c.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer read %d bytes, want %d the same", len(b), len(want))
	}
}
