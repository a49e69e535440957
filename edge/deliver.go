package edge

import (
	"context"
	"errors"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/tracing"
	"go.opentelemetry.io/otel/trace"
)

// Deliver writes m to a device held by this edge and returns its outcome:
// delivered once written, acked when m.Ack and the device acknowledged, offline
// when the device is not connected here, rejected when its send queue is full
// ("send queue full") or it is over MaxOutRate ("rate_limited"), and
// timeout when ctx ended first (with m.Ack: before the ack arrived). progress, if not
// nil, is called with the delivered result while an ack is still awaited.
func (s *Server) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	return s.deliverLocal(ctx, account, device, m, progress)
}

// deliverLocal delivers m to a device held here and counts its outcome.
func (s *Server) deliverLocal(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	res := s.write(ctx, account, device, m, progress)
	s.met.out(s.cfg.Types, m, res.Status)
	return res
}

// write is deliverLocal without the counting.
func (s *Server) write(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	ss := s.session(account, device)
	if ss == nil {
		return protocol.Result{Device: device, Status: protocol.StatusOffline}
	}
	span := s.cfg.Tracer.Deliver(ctx, account, device, m.ID, m.Ack)
	res := s.writeTo(ctx, ss, device, m, progress, span)
	tracing.End(span, string(res.Status), res.Error)
	return res
}

// writeTo is write to the session ss of the device, marking the write and
// the ack on span.
func (s *Server) writeTo(ctx context.Context, ss *session, device string, m *protocol.Msg, progress func(protocol.Result), span trace.Span) protocol.Result {
	res := protocol.Result{Device: device}
	data, err := protocol.Encode(m)
	if err != nil {
		res.Status, res.Error = protocol.StatusRejected, err.Error()
		return res
	}
	var acked <-chan struct{}
	if m.Ack {
		var release func()
		acked, release, err = ss.waitAck(m.ID, senderOf(m))
		if err != nil {
			res.Status, res.Error = protocol.StatusRejected, err.Error()
			return res
		}
		defer release()
	} else if !ss.idFree(m.ID, senderOf(m)) {
		res.Status, res.Error = protocol.StatusRejected, errIDInUse.Error()
		return res
	}
	done := make(chan bool, 1)
	switch err := ss.enqueue(outFrame{data: data, id: m.ID, done: done}); {
	case errors.Is(err, errQueueFull), errors.Is(err, errOutRate):
		res.Status, res.Error = protocol.StatusRejected, err.Error()
		return res
	case err != nil:
		res.Status = protocol.StatusOffline
		return res
	}
	select {
	case written := <-done:
		if !written {
			res.Status = protocol.StatusOffline
			return res
		}
	case <-ctx.Done():
		res.Status = protocol.StatusTimeout
		return res
	}
	res.Status = protocol.StatusDelivered
	tracing.Event(span, tracing.EventWritten)
	if !m.Ack {
		return res
	}
	if progress != nil {
		progress(res)
	}
	select {
	case <-acked:
		res.Status = protocol.StatusAcked
		tracing.Event(span, tracing.EventAcked)
	case <-ss.ctx.Done():
		// The connection ended before the ack: the message was written, but whether
		// the device handled it is unknown.
		res.Status = protocol.StatusTimeout
	case <-ctx.Done():
		res.Status = protocol.StatusTimeout
	}
	return res
}

// Locator finds where a device is connected.
type Locator interface {
	Lookup(ctx context.Context, account, device string) (registry.Entry, error)
}

// Router delivers messages to devices wherever the registry says they are
// connected. It implements Deliverer.
type Router struct {
	// Local is the edge of this process, or nil in a process without devices.
	Local *Server
	// Registry locates devices.
	Registry Locator
	// Links reaches devices held by other edges; nil in a single-process
	// deployment.
	Links *Links
	// Nudges, when set, counts the nudges the Router sends (nudge.go).
	Nudges *NudgeCounters
	// Topics, when set, names the edges with subscribers of a topic, for
	// Publish (publish.go); TopicLog, when set, keeps what is published for
	// devices to catch up on.
	Topics   TopicDirectory
	TopicLog TopicLog
	// Regions, when set, reaches devices that this region's registry does not
	// hold in the other regions of the deployment (regions.go); RegionInbox,
	// when set with it, delivers what this region's inbox holds for a device
	// that a nudge finds in another region (regioninbox.go).
	Regions     *Regions
	RegionInbox *RegionInbox
	// Tracer traces the registry lookups of the messages it routes; nil is
	// tracing off.
	Tracer *tracing.Tracer
}

var _ Deliverer = (*Router)(nil)

// Deliver looks the device up and delivers m to its edge: locally, or over the
// link to the edge that holds it. A device that is not registered (or whose edge
// is no longer live) is offline; a registry failure rejects the message as
// unavailable.
func (r *Router) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	// A device held here needs no lookup: this keeps local delivery working while
	// the registry is unreachable, and saves the round trip.
	if r.Local != nil && r.Local.session(account, device) != nil {
		return r.Local.deliverLocal(ctx, account, device, m, progress)
	}
	span := r.Tracer.Lookup(ctx, account, device)
	e, err := r.lookup(ctx, account, device)
	tracing.EndLookup(span, e.Edge, err)
	switch {
	case errors.Is(err, registry.ErrNotFound) && r.Regions != nil:
		return r.Regions.Deliver(ctx, account, device, m, progress)
	case errors.Is(err, registry.ErrNotFound):
		return protocol.Result{Device: device, Status: protocol.StatusOffline}
	case err != nil:
		return protocol.Result{Device: device, Status: protocol.StatusRejected, Error: string(protocol.CodeUnavailable)}
	}
	if r.Local != nil && e.Edge == r.Local.ID() {
		return r.Local.deliverLocal(ctx, account, device, m, progress)
	}
	if r.Links == nil {
		return protocol.Result{Device: device, Status: protocol.StatusRejected, Error: "no links configured to reach edge " + e.Edge}
	}
	return r.Links.Deliver(ctx, e.Edge, account, device, m, progress)
}

// lookup is Registry.Lookup; with Regions, a device it does not find is
// looked up once more past the registry's cache (freshLocator) before the
// other regions are asked. A device that has just moved into this region is
// the one a cached miss is most likely wrong about: every push to it while it
// was between regions cached one, and another process's registration is seen
// only once Redis's invalidation arrives. Without the second read such a
// device was taken for one in no region, offline, for that while; the read
// costs one round trip to this region's registry, against the other regions'
// tens of milliseconds or their cached miss.
func (r *Router) lookup(ctx context.Context, account, device string) (registry.Entry, error) {
	e, err := r.Registry.Lookup(ctx, account, device)
	if errors.Is(err, registry.ErrNotFound) && r.Regions != nil {
		if fl, ok := r.Registry.(freshLocator); ok {
			e, err = fl.LookupFresh(ctx, account, device)
		}
	}
	return e, err
}

// Online reports whether the device has a live registration, in this region
// or, with Regions, in another.
func (r *Router) Online(ctx context.Context, account, device string) (bool, error) {
	_, online, err := r.Where(ctx, account, device)
	return online, err
}

// Where reports whether the device is connected, and in which region: this
// region's when its registry holds the device, another's when that region's
// gateway says it does; the region is "" in a deployment of one region. An
// error means this region's registry could not be read.
func (r *Router) Where(ctx context.Context, account, device string) (region string, online bool, err error) {
	_, err = r.lookup(ctx, account, device)
	switch {
	case errors.Is(err, registry.ErrNotFound) && r.Regions != nil:
		region, _ = r.Regions.Locate(ctx, account, device)
		return region, region != "", nil
	case errors.Is(err, registry.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	case r.Regions != nil:
		return r.Regions.Region(), true, nil
	}
	return "", true, nil
}

// Disconnect closes the device's connection wherever it is, with 4003 (removed),
// as when the device is deleted from its account's list.
func (r *Router) Disconnect(ctx context.Context, account, device string) error {
	e, err := r.Registry.Lookup(ctx, account, device)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Local != nil && e.Edge == r.Local.ID() {
		r.Local.closeSession(account, device, e.Session, CloseRemoved)
		return nil
	}
	if r.Links == nil {
		return errors.New("edge: no links configured to reach edge " + e.Edge)
	}
	return r.Links.close(ctx, e.Edge, account, device, e.Session, CloseRemoved)
}
