package link

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// maxLinkBatch bounds the frames joined into one link message.
const maxLinkBatch = 256

// ErrQueueFull is the reason a frame for a full link queue is refused.
var ErrQueueFull = errors.New("link queue full")

// ErrClosed reports a frame for a link that has ended.
var ErrClosed = errors.New("link closed")

// Conn is one end of an edge link: a WebSocket whose text messages carry one or
// more frames separated by newlines. Frames queue without blocking and a writer
// joins whatever has queued into one message, so a burst costs one write.
type Conn struct {
	c     *websocket.Conn
	v2    bool         // the link speaks protocol.LinkSubprotocolV2
	queue chan *[]byte // bounded; never blocks a sender; each goes back to framePool once written
	done  chan struct{}
	once  sync.Once
	cause error // why CloseFor closed the link; written once, under once, before done is closed
}

// NewConn returns the link over c, with room for queue frames waiting.
func NewConn(c *websocket.Conn, queue int) *Conn {
	return &Conn{c: c, v2: c.Subprotocol() == protocol.LinkSubprotocolV2, queue: make(chan *[]byte, queue), done: make(chan struct{})}
}

// PublishTraced reports whether the link's peer reads a publish frame's tp
// (protocol.LinkSubprotocolV2): one that speaks only LinkSubprotocol refuses
// such a frame.
func (l *Conn) PublishTraced() bool { return l.v2 }

// Send queues one encoded frame without blocking. The frame then belongs to
// the link.
func (l *Conn) Send(frame []byte) error {
	return l.SendPooled(&frame)
}

// SendPooled queues one encoded frame from GetFrame without blocking. The link
// puts it back in the pool once written; when SendPooled fails, it already has.
func (l *Conn) SendPooled(frame *[]byte) error {
	select {
	case <-l.done:
		PutFrame(frame)
		return ErrClosed
	default:
	}
	select {
	case l.queue <- frame:
		return nil
	default:
		PutFrame(frame)
		return ErrQueueFull
	}
}

// Depth is the number of frames waiting.
func (l *Conn) Depth() int { return len(l.queue) }

// Close ends the link once.
func (l *Conn) Close() { l.CloseFor(nil) }

// CloseFor ends the link once, for cause: Run then returns cause rather than
// the read's error. The first Close or CloseFor decides.
func (l *Conn) CloseFor(cause error) {
	l.once.Do(func() {
		l.cause = cause
		close(l.done)
		_ = l.c.CloseNow()
	})
}

// Done is closed once the link has ended.
func (l *Conn) Done() <-chan struct{} { return l.done }

// Ping sends a ping and waits for its pong until ctx ends. Run must be
// reading the link: the reader takes the pong, as the other end's reader
// answers the ping by itself.
func (l *Conn) Ping(ctx context.Context) error { return l.c.Ping(ctx) }

// Run reads frames into onFrame on the calling goroutine and writes queued frames
// from a second goroutine that it owns, until the link fails or ctx ends. It closes
// the link before returning.
//
// Reads and writes take contexts that are never done, because coder/websocket
// registers a context.AfterFunc (and with it a few allocations) for every read
// and write whose context can end. The end of ctx and a write's timeout close the
// link instead, which ends both.
func (l *Conn) Run(ctx context.Context, writeTimeout time.Duration, onFrame func([]byte)) error {
	stop := context.AfterFunc(ctx, l.Close)
	defer stop()
	werr := make(chan error, 1)
	go func() { werr <- l.writeLoop(writeTimeout) }()
	defer func() {
		l.Close()
		<-werr
	}()
	var buf []byte // reused from message to message; onFrame must not keep it
	for {
		var err error
		buf, err = l.read(buf[:0])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case <-l.done:
				if l.cause != nil {
					return l.cause
				}
			default:
			}
			return err
		}
		data := buf
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a burst's buffer forever
		}
		for len(data) > 0 {
			var line []byte
			line, data, _ = bytes.Cut(data, []byte{'\n'})
			if len(line) > 0 {
				onFrame(line)
			}
		}
	}
}

// read appends the next message to buf, as websocket.Conn.Read without its
// allocation.
func (l *Conn) read(buf []byte) ([]byte, error) {
	_, r, err := l.c.Reader(context.Background())
	if err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// errLinkWriteTimeout ends a link whose write took longer than its timeout.
var errLinkWriteTimeout = errors.New("link write timed out")

func (l *Conn) writeLoop(writeTimeout time.Duration) error {
	// One timer for every write: reset before it, stopped after it; when it fires
	// the link closes, which fails the write.
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Hour, func() {
		timedOut.Store(true)
		l.CloseFor(errLinkWriteTimeout)
	})
	timer.Stop()
	defer timer.Stop()
	var buf []byte
	for {
		var first *[]byte
		select {
		case <-l.done:
			return ErrClosed
		case first = <-l.queue:
		}
		buf = append(buf[:0], *first...)
		PutFrame(first)
	batch:
		for n := 1; n < maxLinkBatch; n++ {
			select {
			case f := <-l.queue:
				buf = append(append(buf, '\n'), *f...)
				PutFrame(f)
			default:
				break batch
			}
		}
		timer.Reset(writeTimeout)
		err := l.c.Write(context.Background(), websocket.MessageText, buf)
		timer.Stop()
		if err != nil {
			l.Close()
			if timedOut.Load() {
				return errLinkWriteTimeout
			}
			return err
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a burst's buffer forever
		}
	}
}
