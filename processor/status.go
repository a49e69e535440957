package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// DefaultStatusTTL is how long a message's status stays readable.
const DefaultStatusTTL = 24 * time.Hour

// ErrNotFound is returned for a message whose status is unknown or has expired.
var ErrNotFound = errors.New("message status not found")

// Mixed is the overall status of a message whose devices have different
// outcomes; Devices tells each.
const Mixed Outcome = "mixed"

// MessageStatus is what is known of one message.
type MessageStatus struct {
	ID       string            `json:"id"`
	Account  string            `json:"account,omitempty"`
	Priority protocol.Priority `json:"priority,omitempty"`
	// Status is queued until the message was processed; then the outcome its
	// devices share, or mixed.
	Status Outcome `json:"status"`
	// Accepted is when it was accepted, in Unix milliseconds.
	Accepted int64          `json:"accepted,omitempty"`
	Devices  []DeviceStatus `json:"devices"`
	// Topic is set, instead of Account, for a message to a topic; its
	// outcome has no device (Devices stays empty): Status is queued until it
	// was processed, then published, expired or failed, Error says why it
	// failed, At is when it was processed (Unix milliseconds), and Published
	// counts what the publish reached.
	Topic     string                  `json:"topic,omitempty"`
	Error     string                  `json:"error,omitempty"`
	At        int64                   `json:"at,omitempty"`
	Published *protocol.PublishResult `json:"published,omitempty"`
}

// topicOutcome is the outcome of a message to a topic, as the stores keep it.
type topicOutcome struct {
	Status    Outcome                 `json:"status"`
	Error     string                  `json:"error,omitempty"`
	At        int64                   `json:"at"`
	Published *protocol.PublishResult `json:"published,omitempty"`
}

func newTopicOutcome(e *Event) *topicOutcome {
	return &topicOutcome{Status: e.Status, Error: e.Error, At: e.At, Published: e.Published}
}

// applyTopic sets the outcome of a message to a topic, after summarize.
func (s *MessageStatus) applyTopic(t *topicOutcome) {
	if t == nil {
		return
	}
	s.Status, s.Error, s.At = t.Status, t.Error, t.At
	if t.Published != nil {
		p := *t.Published
		p.Failed = slices.Clone(p.Failed)
		s.Published = &p
	}
}

// DeviceStatus is one device's outcome. Device is empty for a message to a whole
// account that found no device connected.
type DeviceStatus struct {
	Device string  `json:"device"`
	Status Outcome `json:"status"`
	Error  string  `json:"error,omitempty"`
	At     int64   `json:"at"`
	// History is every outcome the device's message went through, each the
	// first time it was seen, in the order a message goes through them
	// (Outcome's rank, then time): queued, then delivered, then acked, say
	// (at most MaxHistory steps).
	History []Step `json:"history,omitempty"`
}

// Step is one outcome in a device's history: when it happened (Unix
// milliseconds) and, for a failure, why.
type Step struct {
	Status Outcome `json:"status"`
	At     int64   `json:"at"`
	Error  string  `json:"error,omitempty"`
}

// sortSteps orders a history as a message goes: by its outcomes' rank
// (queued, delivered, acked), then by time. The times of two processes'
// outcomes may disagree by a millisecond or two (an ack seen by the edge
// before the processor noted the write), the order of the steps does not.
func sortSteps(h []Step) {
	slices.SortStableFunc(h, func(a, b Step) int {
		if c := cmp.Compare(a.Status.rank(), b.Status.rank()); c != 0 {
			return c
		}
		return cmp.Compare(a.At, b.At)
	})
}

// oneLine is s with its line breaks made spaces, as a history keeps an error.
func oneLine(s string) string { return lineBreaks.Replace(s) }

// lineBreaks makes line breaks spaces; made once, as every status event may use it.
var lineBreaks = strings.NewReplacer("\n", " ", "\r", " ")

// MaxHistory bounds the steps of one device's history; a message goes
// through three or four.
const MaxHistory = 16

// addStep adds the step of e to h, unless h has one of its outcome already,
// or MaxHistory; h stays in order (sortSteps).
func addStep(h []Step, st Step) []Step {
	if len(h) >= MaxHistory || slices.ContainsFunc(h, func(x Step) bool { return x.Status == st.Status }) {
		return h
	}
	h = append(h, st)
	sortSteps(h)
	return h
}

// summarize fills Status from Devices and sorts them.
func (s *MessageStatus) summarize() {
	slices.SortFunc(s.Devices, func(a, b DeviceStatus) int {
		switch {
		case a.Device < b.Device:
			return -1
		case a.Device > b.Device:
			return 1
		}
		return 0
	})
	s.Status = Queued
	for i, d := range s.Devices {
		switch {
		case i == 0:
			s.Status = d.Status
		case d.Status != s.Status:
			s.Status = Mixed
			return
		}
	}
}

// StatusStore keeps the latest outcome of each message and device for reading,
// for the status TTL after its last event, or after the expiry of a message
// stored for a device (Event.Expires) when that is later.
type StatusStore interface {
	// Record applies an event: a device's status only moves forward (see
	// [Outcome]), so redelivered or late events never undo a later outcome.
	Record(ctx context.Context, e Event) error
	// RecordAll applies es in order, as Record would each, in one go: one
	// lock, or one pipeline of Redis calls. When some fail, the error says
	// which; recording an event again is harmless, so a caller may retry
	// them all.
	RecordAll(ctx context.Context, es []Event) error
	// Get returns a message's status, or ErrNotFound.
	Get(ctx context.Context, id string) (*MessageStatus, error)
}

// MemoryStatus is a StatusStore in process memory for a single process (`herald
// dev`). It keeps each message for the TTL and at most MaxEntries messages,
// dropping the oldest first.
type MemoryStatus struct {
	now        func() time.Time
	keep       time.Duration
	maxEntries int

	mu    sync.Mutex
	msgs  map[string]*memStatus
	order []string // ids in the order they were first seen
}

type memStatus struct {
	status  MessageStatus
	topic   *topicOutcome // a message to a topic's outcome, once processed
	expires time.Time
}

// DefaultMaxStatusEntries bounds a MemoryStatus.
const DefaultMaxStatusEntries = 100_000

// NewMemoryStatus returns a MemoryStatus keeping messages for ttl (default
// [DefaultStatusTTL]) and at most maxEntries (default [DefaultMaxStatusEntries]).
func NewMemoryStatus(ttl time.Duration, maxEntries int) *MemoryStatus {
	if ttl <= 0 {
		ttl = DefaultStatusTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxStatusEntries
	}
	return &MemoryStatus{now: time.Now, keep: ttl, maxEntries: maxEntries, msgs: make(map[string]*memStatus)}
}

// Record implements StatusStore.
func (m *MemoryStatus) Record(ctx context.Context, e Event) error {
	return m.RecordAll(ctx, []Event{e})
}

// RecordAll implements StatusStore.
func (m *MemoryStatus) RecordAll(_ context.Context, es []Event) error {
	now := m.now()
	var errs []error
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range es {
		if err := checkOutcome(&es[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		m.record(now, &es[i])
	}
	return errors.Join(errs...)
}

// checkOutcome refuses an event whose status is not an outcome, for both
// stores and the materializer. The Redis script keeps a rank as one digit.
func checkOutcome(e *Event) error {
	if rank := e.Status.rank(); rank < 0 || rank > 9 {
		return fmt.Errorf("processor: status %q is not an outcome", e.Status)
	}
	return nil
}

// record applies e at now; m.mu is held. e is read, not kept.
func (m *MemoryStatus) record(now time.Time, e *Event) {
	s, ok := m.msgs[e.ID]
	if !ok || !now.Before(s.expires) {
		// New, or expired but still held behind a live message: start afresh,
		// as Redis does once the key has expired.
		if !ok {
			m.order = append(m.order, e.ID)
		}
		s = &memStatus{status: MessageStatus{ID: e.ID, Devices: []DeviceStatus{}}}
		m.msgs[e.ID] = s
	}
	// A record is never kept for less than it was: an event of one device
	// does not cut short the life of another device's stored message.
	if until := now.Add(e.keep(now, m.keep)); until.After(s.expires) {
		s.expires = until
	}
	// After adding e.ID, so that the bound counts it; s is live, so it stays.
	m.expire(now)
	st := &s.status
	if st.Account == "" {
		st.Account = e.Account
	}
	if st.Priority == "" {
		st.Priority = e.Priority
	}
	if st.Topic == "" {
		st.Topic = e.Topic
	}
	if e.accepted() {
		st.Accepted = e.At
		return
	}
	if e.topicOutcome() {
		if s.topic == nil || e.Status.rank() >= s.topic.Status.rank() {
			s.topic = newTopicOutcome(e)
		}
		return
	}
	d := DeviceStatus{Device: e.Device, Status: e.Status, Error: e.Error, At: e.At}
	step := Step{Status: e.Status, At: e.At, Error: oneLine(e.Error)}
	for i := range st.Devices {
		if st.Devices[i].Device == e.Device {
			h := addStep(st.Devices[i].History, step)
			if e.Status.rank() >= st.Devices[i].Status.rank() {
				st.Devices[i] = d
			}
			st.Devices[i].History = h
			return
		}
	}
	d.History = []Step{step}
	st.Devices = append(st.Devices, d)
}

// expire drops expired messages and the oldest beyond the bound.
func (m *MemoryStatus) expire(now time.Time) {
	n := 0
	for n < len(m.order) {
		s := m.msgs[m.order[n]]
		if s != nil && len(m.order)-n <= m.maxEntries && now.Before(s.expires) {
			break
		}
		delete(m.msgs, m.order[n])
		n++
	}
	// Reslicing is O(1); append reallocates and drops the prefix in time.
	m.order = m.order[n:]
}

// Get implements StatusStore.
func (m *MemoryStatus) Get(_ context.Context, id string) (*MessageStatus, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.msgs[id]
	if !ok || !now.Before(s.expires) {
		return nil, ErrNotFound
	}
	st := s.status
	st.Devices = slices.Clone(st.Devices)
	for i := range st.Devices {
		st.Devices[i].History = slices.Clone(st.Devices[i].History)
	}
	st.summarize()
	st.applyTopic(s.topic)
	return &st, nil
}
