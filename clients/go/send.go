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
// "acked" results reaches Config.OnReceipt. SendAndWait waits for it, and
// always sends with an ack.
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
// later receipt may upgrade results to "acked"; it reaches Config.OnReceipt
// (and OnFrame) only: use SendAndWait to wait for it. An error frame that
// names the msg is returned as a *ServerError. Send gives up when ctx is done
// or after Config.SendTimeout, returning an error that wraps the context's
// error (context.DeadlineExceeded for the timeout). It returns
// ErrNotConnected (wrapped) when there is no connection or it drops before
// the receipt, and ErrClosed after Run returned.
//
// Send must not be called from OnMessage: the receipt is read by the
// goroutine that runs OnMessage.
func (c *Client) Send(ctx context.Context, to protocol.Target, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	return c.send(ctx, to, typ, payload, false, opts)
}

// SendToDevice sends a msg to one sibling device, as Send with
// protocol.Target{Device: device}.
func (c *Client) SendToDevice(ctx context.Context, device, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	return c.Send(ctx, protocol.Target{Device: device}, typ, payload, opts...)
}

// SendToDevices sends one msg to several sibling devices, as Send with
// protocol.Target{Devices: devices}; the receipt has a result per device.
func (c *Client) SendToDevices(ctx context.Context, devices []string, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	return c.Send(ctx, protocol.Target{Devices: devices}, typ, payload, opts...)
}

// SendToSiblings sends a msg to every other device of this device's account,
// as Send with protocol.Target{Siblings: true}. The receipt lists the devices
// the server found; it has no results when the account has no other device.
func (c *Client) SendToSiblings(ctx context.Context, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	return c.Send(ctx, protocol.Target{Siblings: true}, typ, payload, opts...)
}

// SendAndWait sends a msg as Send does, but always with an ack (a
// WithAck(false) among opts is overridden), and returns the final receipt:
// the one in which every target has its final outcome, "acked" or "timeout"
// (or "offline", "queued", "rejected" from the start).
//
// The server answers such a msg with a first receipt once every target has
// its first outcome, and, when some were "delivered", a second receipt with
// the same id once every target acknowledged or its ack timed out. If every
// result of the first receipt is already final (none is "delivered"),
// SendAndWait returns it at once; otherwise it waits for the second.
//
// The wait for the first receipt ends as Send's does: ctx done,
// Config.SendTimeout, an error frame (*ServerError), or a lost connection,
// with a nil receipt. The wait for the second is bounded by ctx only: when
// ctx ends first, SendAndWait returns the first receipt together with an
// error that wraps ctx's error (context.DeadlineExceeded when its deadline
// passed); when the connection drops first, the first receipt together with
// an error that wraps ErrNotConnected. The server sends the second receipt
// after its own ack timeout at the latest, so a ctx deadline somewhat longer
// than that timeout sees the final receipt.
//
// SendAndWait must not be called from OnMessage, for the same reason as Send.
func (c *Client) SendAndWait(ctx context.Context, to protocol.Target, typ string, payload any, opts ...SendOption) (*protocol.Receipt, error) {
	opts = append(slices.Clip(opts), WithAck(true))
	return c.send(ctx, to, typ, payload, true, opts)
}

// send implements Send and, with final, SendAndWait.
func (c *Client) send(ctx context.Context, to protocol.Target, typ string, payload any, final bool, opts []SendOption) (*protocol.Receipt, error) {
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
	answer, err := cn.expect(o.id, final)
	if err != nil {
		return nil, fmt.Errorf("herald: send %s: %w", o.id, err)
	}
	defer cn.forget(o.id)

	first, err := c.firstAnswer(ctx, cn, m, answer)
	if err != nil || !final || receiptFinal(first) {
		return first, err
	}
	select {
	case r := <-answer:
		return second(first, r)
	case <-cn.done:
		select { // an answer read just before the connection ended wins
		case r := <-answer:
			return second(first, r)
		default:
		}
		return first, fmt.Errorf("herald: send %s: connection lost before the final receipt: %w", o.id, ErrNotConnected)
	case <-ctx.Done():
		select { // an answer already read wins
		case r := <-answer:
			return second(first, r)
		default:
		}
		return first, fmt.Errorf("herald: send %s: no final receipt: %w", o.id, ctx.Err())
	}
}

// firstAnswer writes m and waits for its first answer, at most
// Config.SendTimeout.
func (c *Client) firstAnswer(ctx context.Context, cn *conn, m *protocol.Msg, answer <-chan sendResult) (*protocol.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SendTimeout)
	defer cancel()
	if err := cn.writeFrame(ctx, m, c.cfg.SendTimeout); err != nil {
		return nil, fmt.Errorf("herald: send %s: %w", m.ID, err)
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
		return nil, fmt.Errorf("herald: send %s: connection lost before the receipt: %w", m.ID, ErrNotConnected)
	case <-ctx.Done():
		select { // an answer already read wins
		case r := <-answer:
			return r.receipt, r.err
		default:
		}
		return nil, fmt.Errorf("herald: send %s: no receipt: %w", m.ID, ctx.Err())
	}
}

// second returns what SendAndWait returns for the answer r that followed the
// first receipt: r's receipt, or the first receipt with r's error.
func second(first *protocol.Receipt, r sendResult) (*protocol.Receipt, error) {
	if r.err != nil {
		return first, r.err
	}
	return r.receipt, nil
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
	case o.id != "" && !protocol.ValidMsgID(o.id):
		// The edge would refuse it without naming it, so no answer could be matched.
		return fmt.Errorf("herald: send %s: the id is not 1 to %d bytes of printable ASCII without spaces", typ, protocol.MaxMsgIDLen)
	case to.Device != "" && !protocol.ValidID(to.Device):
		return fmt.Errorf("herald: send %s: target device id %s", typ, protocol.IDProblem(to.Device))
	}
	for i, d := range to.Devices {
		if !protocol.ValidID(d) {
			return fmt.Errorf("herald: send %s: target device %d: id %s", typ, i, protocol.IDProblem(d))
		}
	}
	return nil
}

// Ack acknowledges the msg id, for msgs that asked for it (ack:true) when
// Config.AutoAck is off. It returns once the frame is written. The client
// remembers the ack (for the last Config.DedupSize msg ids), even when Ack
// fails for want of a connection: a duplicate of the msg that arrives later,
// because the ack was lost with its connection, is acked again by the client
// without reaching OnMessage.
func (c *Client) Ack(ctx context.Context, id string) error {
	if !protocol.ValidMsgID(id) {
		return fmt.Errorf("herald: ack: the id is not 1 to %d bytes of printable ASCII without spaces", protocol.MaxMsgIDLen)
	}
	c.dedup.ack(id)
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

// Subscribe subscribes the device to topics, which its token's topics claim
// must grant (docs/protocol.md, "Topics"). The client remembers its topics and
// subscribes again after every reconnect, right after the welcome, with the
// seq of the last message of each topic it received: the edge first writes
// what the topic's log holds after it, so that nothing published while the
// client was away within the log's bounds is missed (a message may then come
// twice; the client drops the repeat by id). The edge
// answers each sub with a subs frame, one result per topic, that OnFrame sees;
// messages published to a topic reach OnMessage with Msg.Topic set. Without a
// connection, Subscribe returns ErrNotConnected, and the topics are subscribed
// after the next welcome.
func (c *Client) Subscribe(ctx context.Context, topics ...string) error {
	return c.subscription(ctx, false, topics)
}

// Unsubscribe ends the device's subscriptions to topics, now and on every
// later connection.
func (c *Client) Unsubscribe(ctx context.Context, topics ...string) error {
	return c.subscription(ctx, true, topics)
}

func (c *Client) subscription(ctx context.Context, unsub bool, topics []string) error {
	op := "subscribe"
	if unsub {
		op = "unsubscribe"
	}
	if len(topics) == 0 {
		return fmt.Errorf("herald: %s: no topic", op)
	}
	for _, t := range topics {
		if p := protocol.TopicProblem(t); p != "" {
			return fmt.Errorf("herald: %s: %s", op, p)
		}
	}
	c.helloMu.Lock()
	defer c.helloMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("herald: %s: %w", op, ErrClosed)
	}
	for _, t := range topics {
		i := slices.Index(c.topics, t)
		switch {
		case unsub && i >= 0:
			c.topics = slices.Delete(c.topics, i, i+1)
			delete(c.topicSeq, t)
		case !unsub && i < 0:
			c.topics = append(c.topics, t)
		}
	}
	cn := c.conn
	c.mu.Unlock()
	if cn == nil {
		return fmt.Errorf("herald: %s: %w", op, ErrNotConnected)
	}
	var f protocol.Frame = &protocol.Sub{Topics: topics}
	if unsub {
		f = &protocol.Unsub{Topics: topics}
	}
	if err := cn.writeFrame(ctx, f, c.cfg.SendTimeout); err != nil {
		return fmt.Errorf("herald: %s: %w", op, err)
	}
	return nil
}

// advanceTopic moves topic's cursor to seq if seq is past it: after the next
// reconnect the client subscribes with it, and the edge writes what the
// topic's log holds after it first (catch-up).
func (c *Client) advanceTopic(topic string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.topics, topic) {
		return
	}
	if c.topicSeq == nil {
		c.topicSeq = make(map[string]uint64)
	}
	if seq > c.topicSeq[topic] {
		c.topicSeq[topic] = seq
	}
}
