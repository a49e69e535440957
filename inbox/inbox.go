package inbox

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Message is a message stored for an offline device. The caller fills every
// field but Seq, which the store assigns, and Expires, which the store clamps
// to MaxTTL.
type Message struct {
	// ID is the message's id, unique within the device's inbox: putting an id
	// the inbox already holds changes nothing (a redelivered send).
	ID string
	// Account and Device name the inbox.
	Account, Device string
	// Type is the message type, as in the msg frame.
	Type string
	// From is the sender as the caller encodes it (a device id or a service
	// name); the store keeps it opaque. It must not contain a newline.
	From string
	// Payload is the message's JSON payload. Its length counts against
	// [Limits.MaxBytes].
	Payload []byte
	// Priority is kept for the caller; it does not reorder the inbox (see the
	// package documentation).
	Priority protocol.Priority
	// CollapseKey, when not empty, makes the message replace an older one with
	// the same key. It must not contain a newline.
	CollapseKey string
	// Expires is when the message stops being worth delivering. The zero time
	// and anything past now+MaxTTL are clamped to now+MaxTTL. A message put
	// already expired is reported expired and not stored.
	Expires time.Time
	// Ack says that the device must acknowledge the message; the caller then
	// removes it on the ack rather than on the write.
	Ack bool
	// Enqueued is when the message was accepted; kept for the caller.
	Enqueued time.Time
	// Seq is assigned by the store: unique and increasing within the device's
	// inbox, the order of delivery and the device's resume cursor.
	Seq uint64
}

// PutResult is what a Put did to the inbox, for the caller to report each
// message's status.
type PutResult struct {
	// Seq is the message's sequence number; for a duplicate, the stored one's.
	Seq uint64
	// Expires is the message's expiry after clamping to MaxTTL.
	Expires time.Time
	// Duplicate is set when the inbox already held a message with this id;
	// nothing was changed.
	Duplicate bool
	// Replaced is the id of the older message with the same collapse key that
	// this one replaced (status collapsed), or empty.
	Replaced string
	// Dropped are the ids of older messages removed to keep the inbox within
	// its limits (status dropped), oldest first.
	Dropped []string
	// Expired are the ids of messages found expired and removed (status
	// expired), including the message itself when it was put already expired.
	Expired []string
}

// The outcomes of a Change, named as in the status API.
const (
	ChangeCollapsed = "collapsed"
	ChangeDropped   = "dropped"
	ChangeExpired   = "expired"
)

// Change is what a put did to another message of the inbox: replaced by its
// collapse key, dropped to keep the inbox within its limits, or found
// expired and removed. Reason says why, for dropped.
type Change struct {
	ID, Outcome, Reason string
}

// Others returns what the put of id did to the inbox's other messages, in
// the order collapsed, dropped, expired; id itself, found expired, is left
// out (its outcome is the put's own).
func (r PutResult) Others(id string) []Change {
	var out []Change
	if r.Replaced != "" {
		out = append(out, Change{ID: r.Replaced, Outcome: ChangeCollapsed})
	}
	for _, d := range r.Dropped {
		out = append(out, Change{ID: d, Outcome: ChangeDropped, Reason: "the device's inbox was full"})
	}
	for _, e := range r.Expired {
		if e != id {
			out = append(out, Change{ID: e, Outcome: ChangeExpired})
		}
	}
	return out
}

// Page is a Pending answer.
type Page struct {
	// Messages are the live messages after the cursor, in Seq order.
	Messages []Message
	// Expired are the ids of messages found expired and removed on the way
	// (status expired).
	Expired []string
}

// Stats is the size of a device's inbox, for the console and metrics.
type Stats struct {
	// Messages counts the live messages.
	Messages int
	// Bytes is the sum of the payloads held, including expired messages not yet
	// removed by a Put or a Pending.
	Bytes int64
}

// Limits bound each device's inbox, like FCM's. Zero fields take their
// defaults.
type Limits struct {
	// MaxMessages is the most messages without a collapse key a device may
	// hold; a put beyond it drops the oldest of them. Default
	// [DefaultMaxMessages].
	MaxMessages int
	// MaxCollapseKeys is the most distinct collapse keys a device may hold; a
	// put of a new key beyond it drops the oldest collapsible message. Default
	// [DefaultMaxCollapseKeys].
	MaxCollapseKeys int
	// MaxTTL is the longest a message is kept; later expiries are clamped.
	// Default [DefaultMaxTTL].
	MaxTTL time.Duration
	// MaxBytes bounds the sum of the payloads a device holds; a put beyond it
	// drops the oldest messages until the new one fits, and a single payload
	// larger than it is refused with [ErrTooLarge]. Default [DefaultMaxBytes].
	MaxBytes int64
}

// Defaults of [Limits].
const (
	// DefaultMaxMessages is FCM's limit of stored non-collapsible messages.
	DefaultMaxMessages = 100
	// DefaultMaxCollapseKeys is FCM's limit of collapse keys per device.
	DefaultMaxCollapseKeys = 4
	// DefaultMaxTTL is FCM's longest time to live, the protocol's largest ttl
	// (2419200 s).
	DefaultMaxTTL = 28 * 24 * time.Hour
	// DefaultMaxBytes lets the count limits bind first at FCM's 4 KiB
	// payloads: (100 + 4) x 4 KiB = 416 KiB.
	DefaultMaxBytes = 512 << 10
)

// seqHold is how long past its last sequence an emptied inbox's sequence is
// remembered, so that the next one is still larger when process clocks
// disagree by less than this.
const seqHold = time.Minute

// Errors callers branch on.
var (
	// ErrUnavailable means the store could not be reached or did not answer in
	// time; callers answer unavailable and must not count the message stored.
	ErrUnavailable = errors.New("inbox: unavailable")
	// ErrTooLarge means a payload is larger than MaxBytes on its own.
	ErrTooLarge = errors.New("inbox: payload larger than the inbox")
	// ErrInvalid means a message or an argument breaks the package's rules (an
	// empty id, a newline in a field, a brace in the account).
	ErrInvalid = errors.New("inbox: invalid")
)

// fill validates l and fills its defaults.
func (l *Limits) fill() error {
	if l.MaxMessages < 0 || l.MaxCollapseKeys < 0 || l.MaxTTL < 0 || l.MaxBytes < 0 {
		return fmt.Errorf("inbox: config: negative limit %+v", *l)
	}
	if l.MaxMessages == 0 {
		l.MaxMessages = DefaultMaxMessages
	}
	if l.MaxCollapseKeys == 0 {
		l.MaxCollapseKeys = DefaultMaxCollapseKeys
	}
	if l.MaxTTL == 0 {
		l.MaxTTL = DefaultMaxTTL
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxTTL < time.Millisecond {
		return fmt.Errorf("inbox: config: MaxTTL %v is below the 1ms resolution", l.MaxTTL)
	}
	return nil
}

// checkDevice validates an inbox's name: the account must be free of '{', '}'
// and '/', which make up the Redis hash tag {account/device}.
func checkDevice(op, account, device string) error {
	switch {
	case account == "" || device == "":
		return fmt.Errorf("inbox: %s %s/%s: %w: empty account or device", op, account, device, ErrInvalid)
	case strings.ContainsAny(account, "{}/"):
		return fmt.Errorf("inbox: %s %s/%s: %w: account contains '{', '}' or '/'", op, account, device, ErrInvalid)
	}
	return nil
}

// prepare validates m and returns its clamped expiry.
func prepare(m *Message, lim Limits, now time.Time) (time.Time, error) {
	if err := checkDevice("put", m.Account, m.Device); err != nil {
		return time.Time{}, err
	}
	op := "inbox: put " + m.Account + "/" + m.Device + " " + m.ID
	switch {
	case m.ID == "":
		return time.Time{}, fmt.Errorf("%s: %w: empty id", op, ErrInvalid)
	case strings.ContainsAny(m.Type+m.From+m.CollapseKey+string(m.Priority), "\n"):
		return time.Time{}, fmt.Errorf("%s: %w: a newline in type, from, priority or collapse key", op, ErrInvalid)
	case int64(len(m.Payload)) > lim.MaxBytes:
		return time.Time{}, fmt.Errorf("%s: %w: %d bytes, MaxBytes %d", op, ErrTooLarge, len(m.Payload), lim.MaxBytes)
	}
	exp := m.Expires
	if limit := now.Add(lim.MaxTTL); exp.IsZero() || exp.After(limit) {
		exp = limit
	}
	return exp.Truncate(time.Millisecond), nil
}

// nextSeq is the sequence after last at now: larger than last, and at least
// the Unix milliseconds of now, so that an inbox emptied and forgotten starts
// again above every sequence it gave out.
func nextSeq(last uint64, now time.Time) uint64 {
	ms := uint64(max(now.UnixMilli(), 0))
	return max(last+1, ms)
}
