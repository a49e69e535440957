package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// A device's msg with ack to a sibling that is offline is stored for the
// sibling, and the sender's receipt says queued: the sender stops waiting.
// When the sibling acks it, on a later connection and maybe another edge, the
// sender, if it is still connected, gets a second receipt for the message
// with the sibling's acked: a late receipt. The sibling's edge sends it
// through Config.Late (Router.Late): to the session it holds itself, or over
// the link to the edge the registry names, as a late frame. A sender that is
// not connected gets none; the status API has the outcome
// (GET /v1/messages/{id}).

// LateReceipts delivers a late receipt to a device wherever it is connected.
// Router implements it.
type LateReceipts interface {
	Late(ctx context.Context, account, device, id string, r protocol.Result) error
}

var _ LateReceipts = (*Router)(nil)

// lateAcked tells sender, the device of ss's account that sent the stored
// message id that ss's device has just acked, that it was acked: a late
// receipt, through Config.Late (this edge's own sessions without it). A
// message from a service (sender "") has no device to tell. Bounded by the
// registry timeout; a failure is logged at debug only: the ack itself stands.
func (s *Server) lateAcked(ss *session, sender, id string) {
	if sender == "" {
		return
	}
	r := protocol.Result{Device: ss.device, Status: protocol.StatusAcked}
	if s.cfg.Late == nil {
		s.lateHere(ss.account, sender, id, r)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	if err := s.cfg.Late.Late(ctx, ss.account, sender, id, r); err != nil {
		ss.log.Debug("the late acked receipt did not reach its sender", "sender", sender, "err", err)
	}
}

// lateHere queues the late receipt of message id with r on the session of
// device of account, if this edge holds one; a full queue drops it, as a
// receipt to a slow device is.
func (s *Server) lateHere(account, device, id string, r protocol.Result) bool {
	ss := s.session(account, device)
	if ss == nil {
		return false
	}
	_ = s.send(ss, &protocol.Receipt{ID: id, Results: []protocol.Result{r}}, nil)
	return true
}

// Late delivers the late receipt of message id with r to device of account:
// to the session Local holds, else over the link to the edge the registry
// names, or with Regions to the gateway of the region that holds the device,
// where it only queues a frame. A device not connected is no error:
// there is nobody to tell.
func (r *Router) Late(ctx context.Context, account, device, id string, res protocol.Result) error {
	if r.Local != nil && r.Local.lateHere(account, device, id, res) {
		return nil
	}
	e, err := r.Registry.Lookup(ctx, account, device)
	switch {
	case errors.Is(err, registry.ErrNotFound) && r.Regions != nil:
		// Connected in another region? Its gateway passes the receipt on.
		if region, _ := r.Regions.Locate(ctx, account, device); region != "" {
			return r.Regions.links.Late(ctx, region, link.Late{T: link.KindLate, Account: account, Device: device, ID: id, From: res.Device, Status: res.Status})
		}
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("edge: late receipt to %s/%s: %w", account, device, err)
	case r.Local != nil && e.Edge == r.Local.ID():
		return nil // registered here, gone since
	case r.Links == nil:
		return fmt.Errorf("edge: late receipt to %s/%s: no links configured to reach edge %s", account, device, e.Edge)
	}
	return r.Links.Late(ctx, e.Edge, link.Late{T: link.KindLate, Account: account, Device: device, ID: id, From: res.Device, Status: res.Status})
}

// Late sends l to edge. It only queues the frame, on the link's bounded
// queue: a full queue refuses it.
func (l *Links) Late(ctx context.Context, edge string, f link.Late) error {
	k, err := l.get(edge)
	if err != nil {
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return fmt.Errorf("link to %s: %w", edge, err)
	}
	frame, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.Send(frame)
}
