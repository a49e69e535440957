package topiclog

import (
	"errors"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Entry is one message of a topic's log.
type Entry struct {
	// Seq is the entry's sequence number within its topic: unique and
	// increasing, and at least the Unix milliseconds of its append times
	// 1000, so that a log that expired and started again never gives out a
	// smaller one than a device's cursor from before.
	Seq uint64
	// Frame is the message as the publisher encoded it (a msg frame with its
	// topic, without a seq); the log keeps it opaque.
	Frame []byte
	// Expires is when the entry stops being returned.
	Expires time.Time
}

// Limits bound each topic's log. Zero fields take their defaults.
type Limits struct {
	// MaxEntries is the most entries a topic keeps; an append beyond drops the
	// oldest. Default DefaultMaxEntries.
	MaxEntries int
	// MaxTTL is the longest an entry is kept; later expiries, and none, are
	// cut to it. Default DefaultMaxTTL.
	MaxTTL time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxEntries = 100
	DefaultMaxTTL     = 24 * time.Hour
)

// Errors callers branch on.
var (
	// ErrUnavailable means the store could not be reached in time: the
	// message was not logged (it still goes to the connected subscribers).
	ErrUnavailable = errors.New("topiclog: unavailable")
	// ErrInvalid means a topic name breaks protocol.ValidTopic, or an empty
	// frame.
	ErrInvalid = errors.New("topiclog: invalid topic or entry")
)

func (l *Limits) fill() error {
	if l.MaxEntries < 0 || l.MaxTTL < 0 {
		return errors.New("topiclog: limits must not be negative")
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxTTL == 0 {
		l.MaxTTL = DefaultMaxTTL
	}
	return nil
}

// expiry returns when an entry appended at now with expires (zero: none)
// stops being returned, cut to the limit.
func (l *Limits) expiry(now, expires time.Time) time.Time {
	limit := now.Add(l.MaxTTL)
	if expires.IsZero() || expires.After(limit) {
		return limit
	}
	return expires
}

// check validates an append's or a read's topic, and an append's frame.
func check(topic string, frame []byte, appending bool) error {
	if !protocol.ValidTopic(topic) || appending && len(frame) == 0 {
		return ErrInvalid
	}
	return nil
}

// floor is the least sequence number an append at now may take.
func floor(now time.Time) uint64 { return uint64(now.UnixMilli()) * 1000 }
