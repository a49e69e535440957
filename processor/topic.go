package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// A message to a topic (Message.Topic) is one record, published by the
// processor that consumes it through the Publisher: one frame to each edge
// with subscribers of the topic, each answering with its counts, awaited for
// PublishTimeout. Its one outcome, without a device, is published with the
// counts (Event.Published), expired when its time to live passed before it
// was processed, or failed when the topic's edges could not be looked up.
//
// Only the look-up is retried, with the backoff of deliveries: until it
// succeeds nothing was sent. Edges that fail (no link, no answer in time) are
// not published to again: one that did not answer may have queued the message
// all the same, and a topic message reaches each subscriber at most once, as a
// synchronous publish does; the status names them, so that the sender knows
// whose subscribers may lack it. A batch delivered again after a processor
// died publishes again, with the same id.

// errNoPublisher fails the messages to a topic of a processor without a
// Publisher.
var errNoPublisher = errors.New("unavailable: this processor does not publish to topics")

// publish publishes m, a message to a topic, and emits its outcome.
func (p *Processor) publish(ctx context.Context, m *Message, msg *protocol.Msg) {
	e := Event{ID: m.ID, Topic: m.Topic, Priority: m.Priority}
	res, err := p.publishOnce(ctx, m, msg)
	if err != nil {
		p.stats.failed.Add(1)
		e.Status, e.Error = Failed, err.Error()
		p.emit(m.events, e, m.Type)
		return
	}
	p.stats.published.Add(1)
	if res.Devices > 0 {
		p.metrics.written(m, time.Now())
	}
	e.Status, e.Published = Published, &res
	p.emit(m.events, e, m.Type)
}

// publishOnce publishes msg, retrying while the topic's edges cannot be looked
// up.
func (p *Processor) publishOnce(ctx context.Context, m *Message, msg *protocol.Msg) (protocol.PublishResult, error) {
	if p.cfg.Publisher == nil {
		return protocol.PublishResult{}, errNoPublisher
	}
	var err error
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 && !p.sleep(ctx, attempt) {
			break
		}
		var res protocol.PublishResult
		pctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
		res, err = p.cfg.Publisher.Publish(pctx, m.Topic, msg)
		cancel()
		if err == nil {
			return res, nil
		}
	}
	return protocol.PublishResult{}, fmt.Errorf("%s: looking up the topic's edges: %w", protocol.CodeUnavailable, err)
}
