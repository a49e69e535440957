package edge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/topiclog"
	"github.com/heraldpush/herald/tracing"
)

// A publish to a topic reaches the edges that have subscribers of it (the
// registry's topic directory, TopicDirectory): one frame per edge, whatever
// the number of its subscribers; each edge queues the message on its own
// subscribers (PublishLocal) and answers with its count.

// ErrNoTopics is returned by Publish from a Router without a topic directory.
var ErrNoTopics = errors.New("edge: no topic directory configured")

// TopicLog keeps what is published to each topic for a while, so that
// devices catch up on what they missed (topiclog.Redis and topiclog.Memory
// implement it): the Router appends, the edge reads (catchup.go).
type TopicLog interface {
	Append(ctx context.Context, topic string, frame []byte, expires time.Time) (uint64, error)
	After(ctx context.Context, topic string, after uint64, limit int) ([]topiclog.Entry, error)
}

// Publish sends m, a message published to topic, to every edge with
// subscribers of it, concurrently, and waits for their answers until ctx
// ends: the local edge directly, the others over their links. m.Topic is set,
// and m.Seq when the Router has a TopicLog and the append succeeded: the
// message is logged first, so that a subscriber catching up finds it there or
// gets it live. An error means the edges could not be looked up: nothing was
// sent (though the message may be in the log).
func (r *Router) Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error) {
	if r.Topics == nil {
		return protocol.PublishResult{}, ErrNoTopics
	}
	ctx, span := r.Tracer.Publish(ctx, topic, m.ID)
	res, err := r.publish(ctx, topic, m)
	tracing.EndPublish(span, res, err)
	return res, err
}

// publish is Publish once the publish's span, if any, is in ctx.
func (r *Router) publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error) {
	var res protocol.PublishResult
	m.Topic = topic
	if r.TopicLog != nil {
		r.logTopic(ctx, m)
		res.Seq = m.Seq
	}
	lookup := r.Tracer.TopicLookup(ctx, topic)
	edges, err := r.Topics.TopicEdges(ctx, topic)
	tracing.EndTopicLookup(lookup, len(edges), err)
	if err != nil {
		return res, fmt.Errorf("edge: publish to %s: %w", topic, err)
	}
	var mu sync.Mutex
	add := func(edge string, c TopicCount, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failed = append(res.Failed, protocol.EdgeFailure{Edge: edge, Error: err.Error()})
			return
		}
		res.Edges++
		res.Devices += c.Devices
		res.Dropped += c.Dropped
	}
	var wg sync.WaitGroup
	if r.Regions != nil {
		// Every other region publishes to its own subscribers (and logs the
		// message in its own topic log, under its own seq).
		for _, region := range r.Regions.peers {
			wg.Go(func() {
				c, err := r.Regions.links.Publish(ctx, region, m)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.Failed = append(res.Failed, protocol.EdgeFailure{Edge: "region/" + region, Error: err.Error()})
					return
				}
				res.Regions++
				res.Devices += c.Devices
				res.Dropped += c.Dropped
			})
		}
	}
	for _, e := range edges {
		if r.Local != nil && e == r.Local.ID() {
			subs := r.Tracer.Subscribers(ctx, topic, m.ID)
			c, err := r.Local.PublishLocal(topic, m)
			tracing.EndSubscribers(subs, c.Devices, c.Dropped, err)
			add(e, c, err)
			continue
		}
		if r.Links == nil {
			add(e, TopicCount{}, errors.New("no links configured"))
			continue
		}
		wg.Go(func() {
			c, err := r.Links.Publish(ctx, e, m)
			add(e, c, err)
		})
	}
	wg.Wait()
	return res, nil
}

// logTopic appends m to its topic's log and sets m.Seq; a failed append
// leaves m.Seq 0: the message goes to the connected subscribers only.
func (r *Router) logTopic(ctx context.Context, m *protocol.Msg) {
	m.Seq = 0
	frame, err := protocol.Encode(m)
	if err != nil {
		return
	}
	var expires time.Time
	if m.TTL > 0 {
		expires = time.UnixMilli(m.TS).Add(time.Duration(m.TTL) * time.Second)
	}
	if seq, err := r.TopicLog.Append(ctx, m.Topic, frame, expires); err == nil {
		m.Seq = seq
	}
}

// Publish sends m, published to m.Topic, to edge and waits for its answer
// until ctx ends.
func (l *Links) Publish(ctx context.Context, edge string, m *protocol.Msg) (TopicCount, error) {
	span, tp := l.cfg.Tracer.LinkPublish(ctx, edge, m.Topic, m.ID)
	c, err := l.publish(ctx, edge, tp, m)
	tracing.EndSubscribers(span, c.Devices, c.Dropped, err)
	return c, err
}

// publish is Publish with tp, the traceparent of its span ("" when none),
// which goes in the frame when the link's peer reads it.
func (l *Links) publish(ctx context.Context, edge, tp string, m *protocol.Msg) (TopicCount, error) {
	k, err := l.get(edge)
	if err != nil {
		return TopicCount{}, err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return TopicCount{}, fmt.Errorf("link to %s: %w", edge, err)
	}
	if !c.PublishTraced() {
		tp = ""
	}
	wait := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	frame := link.GetFrame()
	if *frame, err = link.AppendPublish(*frame, wait.Milliseconds(), tp, m); err != nil {
		link.PutFrame(frame)
		return TopicCount{}, err
	}
	ch := make(chan link.Published, 1)
	k.mu.Lock()
	if _, dup := k.publishing[m.ID]; dup {
		k.mu.Unlock()
		link.PutFrame(frame)
		return TopicCount{}, errors.New("the same message is already being published to this edge")
	}
	k.publishing[m.ID] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.publishing[m.ID] == ch {
			delete(k.publishing, m.ID)
		}
		k.mu.Unlock()
	}()
	if err := c.SendPooled(frame); err != nil {
		return TopicCount{}, err
	}
	select {
	case p := <-ch:
		if p.Devices < 0 {
			return TopicCount{}, fmt.Errorf("link to %s lost", edge)
		}
		return TopicCount{Devices: p.Devices, Dropped: p.Dropped}, nil
	case <-ctx.Done():
		return TopicCount{}, fmt.Errorf("no answer from %s in time", edge)
	}
}

// linkPublish fans out a publish that came in on lc and answers it with the
// count. It runs on a goroutine of its own while sem, the link's deliveries in
// flight, has room; on the link's reader when it has none (the fan-out only
// queues, it never waits on a device).
func (s *Server) linkPublish(lc *link.Conn, in *link.InMsg, sem chan struct{}, region bool) {
	run := func() {
		var c TopicCount
		var err error
		ctx, span := s.cfg.Tracer.PublishReceive(s.ctx, in.TP, in.Msg.Topic, in.Msg.ID)
		if region {
			c, err = s.regionPublish(ctx, in)
		} else {
			subs := s.cfg.Tracer.Subscribers(ctx, in.Msg.Topic, in.Msg.ID)
			c, err = s.PublishLocal(in.Msg.Topic, &in.Msg)
			tracing.EndSubscribers(subs, c.Devices, c.Dropped, err)
		}
		tracing.EndSubscribers(span, c.Devices, c.Dropped, err)
		if err != nil {
			s.cfg.Logger.Warn("a published message was not published here", "id", in.Msg.ID, "region_link", region, "err", err)
		}
		b := link.GetFrame()
		*b = link.AppendPublished(*b, &link.Published{ID: in.Msg.ID, Devices: c.Devices, Dropped: c.Dropped})
		if err := lc.SendPooled(b); err != nil {
			s.cfg.Logger.Debug("answering a publish failed", "id", in.Msg.ID, "err", err)
		}
	}
	select {
	case sem <- struct{}{}:
	default:
		if region {
			// A region's publish looks up its region's edges: not on the
			// reader. The link is full: the publisher counts this region
			// as failed when its wait ends.
			return
		}
		run()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		run()
	}()
}

// readPublish reads a publish frame of lc with sc into in, refusing a tp on
// a link whose peer speaks only protocol.LinkSubprotocol, as that protocol
// says.
func readPublish(sc *link.Scanner, lc *link.Conn, in *link.InMsg) error {
	if err := sc.ReadPublish(in); err != nil {
		return err
	}
	if in.TP != "" && !lc.PublishTraced() {
		return link.ErrFrame
	}
	return nil
}

// regionPublish publishes a message that a region link brought in to this
// region's subscribers, through Config.RegionRouter, within the time the
// publisher waits; ctx is the server's, with the link's span when traced.
func (s *Server) regionPublish(ctx context.Context, in *link.InMsg) (TopicCount, error) {
	wait := time.Duration(in.WaitMS) * time.Millisecond
	if wait <= 0 || wait > s.cfg.AckTimeout {
		wait = s.cfg.AckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	res, err := s.cfg.RegionRouter.Publish(ctx, in.Msg.Topic, &in.Msg)
	if err != nil {
		return TopicCount{}, err
	}
	return TopicCount{Devices: res.Devices, Dropped: res.Dropped}, nil
}
