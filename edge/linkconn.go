package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// DefaultLinkQueue is the default number of frames waiting for one edge link.
const DefaultLinkQueue = 4096

// maxLinkBatch bounds the frames joined into one link message.
const maxLinkBatch = 256

// errLinkQueueFull is the reason a frame for a full link queue is refused.
var errLinkQueueFull = errors.New("link queue full")

// errLinkClosed reports a frame for a link that has ended.
var errLinkClosed = errors.New("link closed")

// linkConn is one end of an edge link: a WebSocket whose text messages carry one or
// more frames separated by newlines. Frames queue without blocking and a writer
// joins whatever has queued into one message, so a burst costs one write.
type linkConn struct {
	c     *websocket.Conn
	queue chan *[]byte // bounded; never blocks a sender; each goes back to framePool once written
	done  chan struct{}
	once  sync.Once
}

func newLinkConn(c *websocket.Conn, queue int) *linkConn {
	return &linkConn{c: c, queue: make(chan *[]byte, queue), done: make(chan struct{})}
}

// send queues one encoded frame without blocking. The frame then belongs to
// the link.
func (l *linkConn) send(frame []byte) error {
	return l.sendPooled(&frame)
}

// sendPooled queues one encoded frame from getFrame without blocking. The link
// puts it back in the pool once written; when sendPooled fails, it already has.
func (l *linkConn) sendPooled(frame *[]byte) error {
	select {
	case <-l.done:
		putFrame(frame)
		return errLinkClosed
	default:
	}
	select {
	case l.queue <- frame:
		return nil
	default:
		putFrame(frame)
		return errLinkQueueFull
	}
}

// depth is the number of frames waiting.
func (l *linkConn) depth() int { return len(l.queue) }

// close ends the link once.
func (l *linkConn) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.c.CloseNow()
	})
}

// run reads frames into onFrame on the calling goroutine and writes queued frames
// from a second goroutine that it owns, until the link fails or ctx ends. It closes
// the link before returning.
//
// Reads and writes take contexts that are never done, because coder/websocket
// registers a context.AfterFunc (and with it a few allocations) for every read
// and write whose context can end. The end of ctx and a write's timeout close the
// link instead, which ends both.
func (l *linkConn) run(ctx context.Context, writeTimeout time.Duration, onFrame func([]byte)) error {
	stop := context.AfterFunc(ctx, l.close)
	defer stop()
	werr := make(chan error, 1)
	go func() { werr <- l.writeLoop(writeTimeout) }()
	defer func() {
		l.close()
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

// read appends the next message to buf, as Conn.Read without its allocation.
func (l *linkConn) read(buf []byte) ([]byte, error) {
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

func (l *linkConn) writeLoop(writeTimeout time.Duration) error {
	// One timer for every write: reset before it, stopped after it; when it fires
	// the link closes, which fails the write.
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Hour, func() {
		timedOut.Store(true)
		l.close()
	})
	timer.Stop()
	defer timer.Stop()
	var buf []byte
	for {
		var first *[]byte
		select {
		case <-l.done:
			return errLinkClosed
		case first = <-l.queue:
		}
		buf = append(buf[:0], *first...)
		putFrame(first)
	batch:
		for n := 1; n < maxLinkBatch; n++ {
			select {
			case f := <-l.queue:
				buf = append(append(buf, '\n'), *f...)
				putFrame(f)
			default:
				break batch
			}
		}
		timer.Reset(writeTimeout)
		err := l.c.Write(context.Background(), websocket.MessageText, buf)
		timer.Stop()
		if err != nil {
			l.close()
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
