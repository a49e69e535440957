package api

import (
	"context"
	"slices"

	"github.com/heraldpush/herald/inbox"
)

// Nudger tells the edge that holds a device, if one does, to read the
// device's inbox again. A push stored for a device found offline may land
// after the device connected and its edge read the inbox: the nudge that
// follows the put makes the edge read it again, so the push does not wait for
// the device's next connection (docs/design.md, "Stored messages and a
// connecting device"). edge.Router implements it.
type Nudger interface {
	Nudge(ctx context.Context, account, device string) error
}

// nudgeStored nudges the edge of account/device after the put of message id
// answered res, unless the put changed nothing (a duplicate) or the message
// was found expired. The nudge is bounded by LookupTimeout, whatever is left
// of the push's own time: the message is stored either way.
func (s *Server) nudgeStored(ctx context.Context, account, device, id string, res inbox.PutResult) {
	if s.cfg.Nudger == nil || res.Duplicate || slices.Contains(res.Expired, id) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LookupTimeout)
	defer cancel()
	if err := s.cfg.Nudger.Nudge(ctx, account, device); err != nil {
		s.cfg.Logger.Debug("nudging the device's edge after storing a push failed; the push waits for its next connection", "account", account, "device", device, "err", err)
	}
}
