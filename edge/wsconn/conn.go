package wsconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The buffers of a device WebSocket. net/http hands a hijacked connection over
// with its 4 KiB bufio reader and 4 KiB bufio writer, and coder/websocket keeps
// them for the connection's life: 8 KiB of every idle connection. The edge hands
// coder/websocket a Conn with bufio buffers of the smallest size instead, and
// Conn borrows a buffer from a pool only while bytes are in flight.
const (
	// wsBufio is the size of the bufio reader and writer coder/websocket gets
	// (bufio's minimum).
	wsBufio = 16
	// wsReadBuf is the size of the pooled buffer a read fills: one read syscall
	// takes up to this many bytes.
	wsReadBuf = 4096
	// wsWritePending holds the start of a frame until its end is written, so that
	// a frame goes out in one write (writev) although coder/websocket's bufio
	// writer hands it over in pieces of wsBufio bytes and a direct write.
	wsWritePending = 2 * wsBufio
	// wsParkAfter is how long a reader waits between two messages before it parks
	// its connection. A parked connection's next frame takes a detour through the
	// poller (a wake-up and a goroutine more, some 20 µs on a busy machine); a
	// device that just sent something often sends again soon.
	wsParkAfter = time.Second
)

var wsReadBufs = sync.Pool{New: func() any { return new([wsReadBuf]byte) }}

// HijackWriter is the http.ResponseWriter handed to websocket.Accept: its Hijack
// replaces net/http's buffers with Conn and small bufio buffers.
type HijackWriter struct {
	http.ResponseWriter
	Conn *Conn // set by the caller (new(Conn)); made ready by a successful Hijack
}

// Hijack takes the connection over from net/http and returns it as a Conn, with
// the bytes the client sent after its request (net/http may have read them
// already) waiting in it.
func (h *HijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if n := brw.Writer.Buffered(); n > 0 {
		// net/http flushes the response before it lets go; this is not expected.
		if err := brw.Writer.Flush(); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("wsconn: hijack: flushing %d bytes: %w", n, err)
		}
	}
	c := h.Conn
	c.init(nc)
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if n > wsReadBuf {
			c.rbuf = append([]byte(nil), b...) // a request can carry at most a few KiB
		} else {
			c.rpool = wsReadBufs.Get().(*[wsReadBuf]byte)
			c.rbuf = c.rpool[:copy(c.rpool[:], b)]
		}
	}
	return c, bufio.NewReadWriter(bufio.NewReaderSize(c, wsBufio), bufio.NewWriterSize(c, wsBufio)), nil
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *HijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Conn is a hijacked device connection. Reads fill a pooled buffer that goes
// back to the pool once it has been read out, so an idle connection holds no read
// buffer; writes are gathered per WebSocket frame and written with one syscall.
//
// Conn also keeps the connection alive without coder/websocket, whose Ping costs
// a goroutine, a map entry, two contexts with timers and two AfterFunc
// registrations per round trip: ping writes a ping frame between two frames of the
// outgoing stream, without blocking, and reads take pong frames out of the
// incoming stream before coder/websocket sees them. Both need to know where frames
// begin, so Conn follows the headers of both streams.
//
// With a poller, a connection that had nothing to read for wsParkAfter between
// two messages parks: Read returns ErrParked instead of waiting on, the reader
// goroutine ends, and the poller reads the next bytes (see polled). The read
// side (the fields under "Read side") belongs to whoever reads: coder/websocket's reader (its read lock
// serializes the reader goroutine and the close handshake) or, while the
// connection is parked, the poller; the hand-overs happen under pmu.
//
// coder/websocket serializes writes (under its frame write lock); ping may come
// from any goroutine, and so may Close.
type Conn struct {
	net.Conn
	raw   syscall.RawConn // nil when the connection has no file descriptor
	owner Owner           // whose reader the poller starts; set by SetOwner

	// Read side.
	in     frameTracker     // the bytes handed to coder/websocket
	rpool  *[wsReadBuf]byte // the pooled buffer behind rbuf, if any
	rbuf   []byte           // bytes read and not yet handed over
	readFD func(fd uintptr) bool
	rwait  bool  // readFD waits for the socket when it is empty
	rn     int   // readFD's result
	rerr   error // readFD's error

	// Parking; poll, slot, gen and armFn are set before the connection is used.
	poll   *Poller // nil: never park
	slot   int32   // the poller's slot
	gen    uint32  // the slot's generation
	armFn  func(fd uintptr)
	noPark atomic.Bool // set before the close handshake: reads wait from then on
	pmu    sync.Mutex
	parked bool  // guarded by pmu: armed on the poller; nobody reads
	reader bool  // guarded by pmu: a reader goroutine runs (or is being started)
	closed bool  // guarded by pmu
	armed  bool  // guarded by pmu (arming happens under it): in the epoll set
	armErr error // guarded by pmu: armFn's error

	// pingOut is when the ping still unanswered was written (the keepalive's
	// clock), 0 when none is.
	pingOut atomic.Int64

	wmu     sync.Mutex
	out     frameTracker         // guarded by wmu: the bytes written
	pend    [wsWritePending]byte // guarded by wmu: the start of the frame being written
	npend   int                  // guarded by wmu
	vec     [2][]byte            // guarded by wmu
	bufs    net.Buffers          // guarded by wmu
	writeFD func(fd uintptr) bool
	wout    []byte             // guarded by wmu: what writeFD writes; after a torn frame, its rest
	wpool   *[wsInlineMax]byte // guarded by wmu: the pooled buffer of a torn frame
	wn      int                // guarded by wmu: writeFD's result
	werr    error              // guarded by wmu: writeFD's error
}

// ErrParked ends a reader whose connection parked: there was nothing to read
// between two messages, and the poller will start a reader when there is.
var ErrParked = errors.New("wsconn: connection parked")

// init makes c the connection over nc. Its session's handler goroutine reads
// first (reader is true until the first park).
func (c *Conn) init(nc net.Conn) {
	c.Conn = nc
	c.slot = -1
	c.reader = true
	if raw := rawConn(nc); raw != nil {
		c.raw = raw
		// One closure each per connection, not one per call.
		c.readFD = c.readPooled
		c.writeFD = c.writeOut
	}
}

// Read returns buffered bytes first. Otherwise a read at least a pool buffer
// long goes straight into p; a shorter one reads into a pooled buffer once the
// socket is readable, not holding the buffer while it waits. Pong frames that
// arrive whole between two frames are taken out and recorded. Between two
// messages, with nothing to read, a parking connection parks and Read returns
// ErrParked.
func (c *Conn) Read(p []byte) (int, error) {
	if c.poll != nil {
		c.own()
	}
	for {
		if len(c.rbuf) > 0 {
			if c.in.boundary() {
				c.takePongs()
				if len(c.rbuf) == 0 {
					continue
				}
			}
			n := copy(p, c.rbuf)
			c.in.advance(p[:n])
			c.rbuf = c.rbuf[n:]
			if len(c.rbuf) == 0 {
				c.release()
			}
			return n, nil
		}
		if len(p) >= wsReadBuf || c.raw == nil {
			n, err := c.Conn.Read(p)
			c.in.advance(p[:n])
			return n, err
		}
		if c.poll != nil && c.in.idle() && !c.noPark.Load() {
			err := c.fillWithin(wsParkAfter)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = c.fill(false)
				if err == syscall.EAGAIN && c.park() {
					return 0, ErrParked
				}
			}
			if err != nil && err != syscall.EAGAIN {
				return 0, err
			}
			continue
		}
		if err := c.fill(true); err != nil {
			return 0, err
		}
	}
}

// fillWithin is fill(true) for at most d.
func (c *Conn) fillWithin(d time.Duration) error {
	if err := c.Conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	err := c.fill(true)
	if derr := c.Conn.SetReadDeadline(time.Time{}); err == nil {
		err = derr
	}
	return err
}

// own takes the read side over from the poller if the connection is parked: the
// close handshake reads a parked connection.
func (c *Conn) own() {
	c.pmu.Lock()
	c.parked = false
	c.pmu.Unlock()
}

// park hands the read side to the poller and reports true, or reports false
// (and the caller reads on) when the connection is closing or cannot be armed.
// It arms under pmu: the poller may have the connection's first event before arm
// returns, and handles it once pmu is free.
func (c *Conn) park() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.closed || c.poll.arm(c) != nil {
		return false
	}
	c.parked, c.reader = true, false
	return true
}

// polled is called by the poller when a parked connection has something to read.
// Pongs are taken out and the connection stays parked; anything else (a frame, a
// part of one, the end of the stream) starts a reader.
func (c *Conn) polled() {
	c.pmu.Lock()
	if !c.parked {
		c.pmu.Unlock() // taken over (by the close handshake) since it was armed
		return
	}
	err := c.fill(false)
	if err == nil {
		c.takePongs()
		if len(c.rbuf) > 0 {
			err = errStartReader
		}
	}
	if (err == nil || err == syscall.EAGAIN) && c.poll.arm(c) == nil {
		c.pmu.Unlock()
		return
	}
	// The reader reads the frame, or the error again (a closed stream reads as
	// closed every time).
	c.parked, c.reader = false, true
	c.pmu.Unlock()
	c.owner.StartReader()
}

// errStartReader is polled's note that bytes other than pongs arrived.
var errStartReader = errors.New("wsconn: frame to read")

// Close closes the connection. A connection closed without a reader (parked, or
// read by the close handshake) gets one, to see the end and finish the session.
func (c *Conn) Close() error {
	c.pmu.Lock()
	start := c.poll != nil && !c.reader && !c.closed
	c.closed, c.parked = true, false
	c.reader = c.reader || start
	c.pmu.Unlock()
	err := c.Conn.Close()
	if c.poll != nil {
		c.poll.remove(c)
	}
	if start {
		c.owner.StartReader()
	}
	return err
}

// fill reads what the socket has into a pooled buffer. With wait it waits for the
// socket (not holding the buffer); without, it returns syscall.EAGAIN when there
// is nothing to read.
func (c *Conn) fill(wait bool) error {
	c.rwait, c.rn, c.rerr = wait, 0, nil
	err := c.raw.Read(c.readFD)
	switch {
	case err != nil: // closed, or a deadline passed while waiting
		c.release()
		return err
	case c.rerr == syscall.EAGAIN:
		return syscall.EAGAIN
	case c.rerr != nil:
		c.release()
		return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", c.rerr)}
	case c.rn <= 0:
		c.release()
		return io.EOF
	}
	c.rbuf = c.rpool[:c.rn]
	return nil
}

// takePongs drops the whole pong frames at the start of rbuf, which starts a
// frame, and records that the peer answered.
func (c *Conn) takePongs() {
	for {
		n := pongLen(c.rbuf)
		if n == 0 {
			break
		}
		c.rbuf = c.rbuf[n:]
		c.pong()
	}
	if len(c.rbuf) == 0 {
		c.release()
	}
}

// Owner is the session a Conn belongs to, as the poller sees it: when a parked
// connection has bytes to read, or is closed while nobody reads it, the poller
// (or Close) asks its owner to start a reader goroutine, which reads until Read
// returns ErrParked or the connection ends.
type Owner interface {
	StartReader()
}

// SetOwner makes o the owner of c; it is called once, before c is added to a
// Poller.
func (c *Conn) SetOwner(o Owner) { c.owner = o }

// Owner returns c's owner.
func (c *Conn) Owner() Owner { return c.owner }

// HasFD reports whether c reads and writes its socket directly (it has a file
// descriptor): only then can it park, ping without a goroutine and write
// without blocking.
func (c *Conn) HasFD() bool { return c.raw != nil }

// StopParking makes c's reads wait from now on instead of parking; it is
// called before the close handshake, which reads the peer's close frame.
func (c *Conn) StopParking() { c.noPark.Store(true) }

// PingSent returns when the ping still unanswered was written, on the clock
// Ping was given, or 0 when none is.
func (c *Conn) PingSent() int64 { return c.pingOut.Load() }

// pong records that the peer answered a ping.
func (c *Conn) pong() { c.pingOut.Store(0) }

// OnPong is coder/websocket's OnPongReceived, for the pongs Read leaves in the
// stream (one split over two reads).
func (c *Conn) OnPong(context.Context, []byte) { c.pong() }

func (c *Conn) release() {
	c.rbuf = nil
	if c.rpool != nil {
		wsReadBufs.Put(c.rpool)
		c.rpool = nil
	}
}

// Write gathers the bytes of one frame: while a frame is incomplete and its start
// fits in the pending buffer, nothing is written; then the pending start and p go
// out together.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	boundary := c.out.advance(p)
	if !boundary && c.npend+len(p) <= len(c.pend) {
		c.npend += copy(c.pend[c.npend:], p)
		return len(p), nil
	}
	if c.npend == 0 {
		return c.Conn.Write(p)
	}
	c.vec[0], c.vec[1] = c.pend[:c.npend], p
	c.bufs = c.vec[:]
	npend := int64(c.npend)
	n, err := c.bufs.WriteTo(c.Conn)
	c.npend = 0
	c.vec = [2][]byte{}
	c.bufs = nil
	if err != nil {
		// Part of the frame is lost either way; the connection is dead.
		return int(max(0, n-npend)), err
	}
	return len(p), nil
}

// errPingTorn reports a ping frame of which the socket took only a part: the
// outgoing stream is broken.
var errPingTorn = errors.New("wsconn: ping frame written in part")

// Ping writes a ping frame, at now on the keepalive's clock, unless one is
// unanswered, a frame is being written (its writer is busy; the next round will
// do), the close frame went out or the socket's buffer is full. It never blocks.
// An error means the outgoing stream is broken.
func (c *Conn) Ping(now int64) (sent bool, err error) {
	if c.raw == nil || c.pingOut.Load() != 0 || !c.wmu.TryLock() {
		return false, nil
	}
	defer c.wmu.Unlock()
	if c.out.closed || !c.out.boundary() {
		return false, nil
	}
	// Recorded before the write: the pong may be read before the write returns.
	c.pingOut.Store(now)
	c.wout, c.wn, c.werr = wsPingFrame[:], 0, nil
	err = c.raw.Write(c.writeFD)
	c.wout = nil
	switch {
	case err != nil:
	case c.werr == syscall.EAGAIN && c.wn <= 0:
	case c.werr != nil:
		err = os.NewSyscallError("write", c.werr)
	case c.wn < len(wsPingFrame):
		err = errPingTorn
	default:
		return true, nil
	}
	c.pingOut.CompareAndSwap(now, 0) // not sent
	return false, err
}

// wsInlineMax bounds the frames TryWriteText writes: header and payload are
// copied into a pooled buffer of this size.
const wsInlineMax = 4096

// wsInlineBufs are TryWriteText's buffers.
var wsInlineBufs = sync.Pool{New: func() any { return new([wsInlineMax]byte) }}

// TryWriteText writes p as one whole text message (one final, unmasked frame)
// straight to the socket, without blocking and without coder/websocket, so that
// the goroutine that delivers a message writes it itself instead of waking a
// writer. It writes nothing (wrote false) when p is too large, the connection
// has no file descriptor, a frame is being written, the close frame went out or
// the socket's buffer is full: the caller then queues p for the writer.
//
// When the socket takes only part of the frame, torn is true and the outgoing
// stream belongs to the frame's rest: wmu stays locked, and the caller must call
// FinishTorn, from any goroutine, before anything else is written.
func (c *Conn) TryWriteText(p []byte) (wrote, torn bool, err error) {
	if c.raw == nil || len(p)+wsMaxHeader > wsInlineMax || !c.wmu.TryLock() {
		return false, false, nil
	}
	if c.out.closed || !c.out.boundary() {
		c.wmu.Unlock()
		return false, false, nil
	}
	buf := wsInlineBufs.Get().(*[wsInlineMax]byte)
	c.wout = append(appendTextHeader(buf[:0], len(p)), p...)
	c.wn, c.werr = 0, nil
	err = c.raw.Write(c.writeFD)
	switch {
	case err != nil:
	case c.werr == syscall.EAGAIN && c.wn <= 0:
		err = nil
	case c.werr != nil:
		err = os.NewSyscallError("write", c.werr)
	case c.wn < len(c.wout):
		c.wout, c.wpool = c.wout[c.wn:], buf
		return true, true, nil
	default:
		wrote = true
	}
	c.wout = nil
	wsInlineBufs.Put(buf)
	c.wmu.Unlock()
	return wrote, false, err
}

// FinishTorn writes the rest of the frame that TryWriteText wrote in part,
// waiting for the socket until deadline, and gives the outgoing stream back.
func (c *Conn) FinishTorn(deadline time.Time) error {
	defer c.wmu.Unlock()
	rest, buf := c.wout, c.wpool
	c.wout, c.wpool = nil, nil
	err := c.Conn.SetWriteDeadline(deadline)
	if err == nil {
		_, err = c.Conn.Write(rest)
	}
	if derr := c.Conn.SetWriteDeadline(time.Time{}); err == nil {
		err = derr
	}
	wsInlineBufs.Put(buf)
	return err
}
