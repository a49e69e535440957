package edge

import (
	"slices"
	"time"

	"github.com/heraldpush/herald/inbox"
)

// Statuses records what becomes of the stored messages the edge handles, for
// the status API (GET /v1/messages/{id}) and the herald.status topic: a device
// msg stored for an offline sibling (queued), a stored message written to its
// device (delivered) or acked by it (acked), and those an inbox read or put
// found expired or removed (expired, collapsed, dropped). Report must not
// block: it is called on the delivery paths.
type Statuses interface {
	Report(o StoredOutcome)
}

// The outcomes of a stored message (StoredOutcome.Status), named as in the
// status API.
const (
	StoredQueued    = "queued"
	StoredDelivered = "delivered"
	StoredAcked     = "acked"
	StoredExpired   = inbox.ChangeExpired
	StoredCollapsed = inbox.ChangeCollapsed
	StoredDropped   = inbox.ChangeDropped
)

// StoredOutcome is one outcome of a stored message for one device.
type StoredOutcome struct {
	ID, Account, Device string
	// Status is one of the Stored* outcomes.
	Status string
	// Error says why, for dropped.
	Error string
	// At is when it happened.
	At time.Time
	// Expires is, for queued, when the stored message expires.
	Expires time.Time
}

// report records an outcome of the stored message id of account/device, if
// the edge has Statuses.
func (s *Server) report(account, device, id, status string) {
	if s.cfg.Statuses == nil {
		return
	}
	s.cfg.Statuses.Report(StoredOutcome{ID: id, Account: account, Device: device, Status: status, At: s.cfg.Now()})
}

// reportPut records the outcomes of the other messages of account/device's
// inbox that a put changed: the one it collapsed, those it dropped to keep
// the inbox within its limits, and those it found expired (not the put
// message itself, whose outcome the caller reports).
func (s *Server) reportPut(account, device, id string, res inbox.PutResult) {
	if s.cfg.Statuses == nil {
		return
	}
	for _, c := range res.Others(id) {
		s.cfg.Statuses.Report(StoredOutcome{ID: c.ID, Account: account, Device: device, Status: c.Outcome,
			Error: c.Reason, At: s.cfg.Now()})
	}
}

// reportStored records the outcome of a put of the message id for
// account/device, answered queued: queued with its expiry, or expired when
// the inbox found it so (the device then gets nothing; its sender was told
// queued, and the status says what became of it), and what the put did to
// the other messages of the inbox. A duplicate put reports nothing.
func (s *Server) reportStored(account, device, id string, res inbox.PutResult) {
	if s.cfg.Statuses == nil || res.Duplicate {
		return
	}
	s.reportPut(account, device, id, res)
	if slices.Contains(res.Expired, id) {
		s.report(account, device, id, StoredExpired)
		return
	}
	s.cfg.Statuses.Report(StoredOutcome{ID: id, Account: account, Device: device, Status: StoredQueued,
		At: s.cfg.Now(), Expires: res.Expires})
}
