package edge

import (
	"bytes"
	"context"
	"errors"
	"sync"
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
	queue chan []byte // bounded; never blocks a sender
	done  chan struct{}
	once  sync.Once
}

func newLinkConn(c *websocket.Conn, queue int) *linkConn {
	return &linkConn{c: c, queue: make(chan []byte, queue), done: make(chan struct{})}
}

// send queues one encoded frame without blocking.
func (l *linkConn) send(frame []byte) error {
	select {
	case <-l.done:
		return errLinkClosed
	default:
	}
	select {
	case l.queue <- frame:
		return nil
	default:
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
func (l *linkConn) run(ctx context.Context, writeTimeout time.Duration, onFrame func([]byte)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go func() { werr <- l.writeLoop(ctx, writeTimeout) }()
	defer func() {
		l.close()
		cancel()
		<-werr
	}()
	for {
		_, data, err := l.c.Read(ctx)
		if err != nil {
			return err
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

func (l *linkConn) writeLoop(ctx context.Context, writeTimeout time.Duration) error {
	var buf []byte
	for {
		var first []byte
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return errLinkClosed
		case first = <-l.queue:
		}
		buf = append(buf[:0], first...)
	batch:
		for n := 1; n < maxLinkBatch; n++ {
			select {
			case f := <-l.queue:
				buf = append(append(buf, '\n'), f...)
			default:
				break batch
			}
		}
		wctx, wcancel := context.WithTimeout(ctx, writeTimeout)
		err := l.c.Write(wctx, websocket.MessageText, buf)
		wcancel()
		if err != nil {
			l.close()
			return err
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a burst's buffer forever
		}
	}
}
