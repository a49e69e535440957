package processor

import (
	"context"
)

// Nudger tells the edge that holds a device, if one does, to read the
// device's inbox again. A message stored for a device found offline may land
// after the device connected and its edge read the inbox: the nudge that
// follows the put makes the edge read it again, so the message does not wait
// for the device's next connection (docs/design.md, "Stored messages and a
// connecting device"). edge.Router implements it.
type Nudger interface {
	Nudge(ctx context.Context, account, device string) error
}

// nudge nudges the edge of device after m was stored for it, bounded by
// DeliveryTimeout. A failure is logged only: m is stored, and the device gets
// it on its next connection at the latest.
func (p *Processor) nudge(ctx context.Context, m *Message, device string) {
	if p.cfg.Nudger == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.DeliveryTimeout)
	defer cancel()
	if err := p.cfg.Nudger.Nudge(ctx, m.Account, device); err != nil {
		p.cfg.Logger.Debug("nudging the device's edge after storing a message failed; the message waits for its next connection", "id", m.ID, "account", m.Account, "device", device, "err", err)
	}
}
