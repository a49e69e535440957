package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/oklog/ulid/v2"

	"github.com/heraldpush/herald/protocol"
)

// SendOption changes one field of a msg that Send writes.
type SendOption func(*sendOptions)

type sendOptions struct {
	id  string
	ttl int
	ack bool
}

// WithAck asks the target devices to acknowledge the msg. Send still returns
// the first receipt (usually "delivered"); the server's later receipt with
// "acked" results reaches Config.OnFrame.
func WithAck(ack bool) SendOption { return func(o *sendOptions) { o.ack = ack } }

// WithTTL lets the server keep the msg for up to seconds for a target that is
// offline, where store-and-forward is on (the receipt says "queued").
func WithTTL(seconds int) SendOption { return func(o *sendOptions) { o.ttl = seconds } }

// WithID sets the msg's id instead of a fresh ULID, for example to retry a
// Send that failed with ErrNotConnected without the receivers seeing it twice.
// Ids should be time-ordered (ULID or UUIDv7).
func WithID(id string) SendOption { return func(o *sendOptions) { o.id = id } }

// Send sends a msg of type typ to sibling devices and waits for its receipt.
// The payload is marshalled with encoding/json; a json.RawMessage is sent as
// it is. Each target's outcome is in the receipt's results.
//
// Send returns the first receipt with the msg's id. With WithAck(true), a
// later receipt may upgrade results to "acked"; it reaches Config.OnFrame
// only. An error frame that names the msg is returned as a *ServerError.
// Send gives up when ctx is done or after Config.SendTimeout, returning an
// error that wraps the context's error (context.DeadlineExceeded for the
// timeout). It returns ErrNotConnected (wrapped) when there is no connection
// or it drops before the receipt, and ErrClosed after Run returned.
//
// Send must not be called from OnMessage: the receipt is read by the
// goroutine that runs OnMessage.
func (c *Client) Send(ctx context.Context, to protocol.Target, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	var o sendOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := checkSend(to, typ, o); err != nil {
		return nil, err
	}
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("herald: send %s: payload: %w", typ, err)
		}
	}
	if o.id == "" {
		o.id = ulid.Make().String()
	}
	m := &protocol.Msg{ID: o.id, Type: typ, To: &to, TTL: o.ttl, Ack: o.ack, Payload: raw}

	cn, err := c.current()
	if err != nil {
		return nil, fmt.Errorf("herald: send %s: %w", o.id, err)
	}
	answer, err := cn.expect(o.id)
	if err != nil {
		return nil, fmt.Errorf("herald: send %s: %w", o.id, err)
	}
	defer cn.forget(o.id)

	ctx, cancel := context.WithTimeout(ctx, c.cfg.SendTimeout)
	defer cancel()
	if err := cn.writeFrame(ctx, m, c.cfg.SendTimeout); err != nil {
		return nil, fmt.Errorf("herald: send %s: %w", o.id, err)
	}
	select {
	case r := <-answer:
		return r.receipt, r.err
	case <-cn.done:
		select { // an answer read just before the connection ended wins
		case r := <-answer:
			return r.receipt, r.err
		default:
		}
		return nil, fmt.Errorf("herald: send %s: connection lost before the receipt: %w", o.id, ErrNotConnected)
	case <-ctx.Done():
		return nil, fmt.Errorf("herald: send %s: no receipt: %w", o.id, ctx.Err())
	}
}

// checkSend checks what the server would reject anyway, before it costs a
// round trip.
func checkSend(to protocol.Target, typ string, o sendOptions) error {
	n := 0
	if to.Device != "" {
		n++
	}
	if len(to.Devices) > 0 {
		n++
	}
	if to.Siblings {
		n++
	}
	switch {
	case n != 1:
		return errors.New(`herald: send: the target needs exactly one of Device, Devices and Siblings`)
	case typ == "":
		return errors.New("herald: send: the message type is required")
	case o.ttl < 0:
		return fmt.Errorf("herald: send %s: negative TTL %d", typ, o.ttl)
	}
	return nil
}

// Ack acknowledges the msg id, for msgs that asked for it (ack:true) when
// Config.AutoAck is off. It returns once the frame is written.
func (c *Client) Ack(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("herald: ack: empty id")
	}
	cn, err := c.current()
	if err != nil {
		return fmt.Errorf("herald: ack %s: %w", id, err)
	}
	if err := cn.writeFrame(ctx, &protocol.Ack{ID: id}, c.cfg.SendTimeout); err != nil {
		return fmt.Errorf("herald: ack %s: %w", id, err)
	}
	return nil
}

// Hello tells the server the device's metadata for the device list, and
// whether it wants presence frames about its sibling devices. The client
// remembers the latest hello and sends it again after every reconnect, right
// after the welcome, so that both survive reconnects. Without a connection,
// Hello returns ErrNotConnected, and the hello goes out after the next
// welcome.
func (c *Client) Hello(ctx context.Context, info protocol.DeviceInfo, presence bool) error {
	info.Capabilities = slices.Clone(info.Capabilities)
	h := &protocol.Hello{Device: &info, Presence: &presence}
	c.helloMu.Lock()
	defer c.helloMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("herald: hello: %w", ErrClosed)
	}
	c.hello = h
	cn := c.conn
	c.mu.Unlock()
	if cn == nil {
		return fmt.Errorf("herald: hello: %w", ErrNotConnected)
	}
	if err := cn.writeFrame(ctx, h, c.cfg.SendTimeout); err != nil {
		return fmt.Errorf("herald: hello: %w", err)
	}
	return nil
}
