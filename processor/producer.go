package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
)

// DefaultProduceTimeout bounds how long Enqueue waits for Kafka's acknowledgement.
const DefaultProduceTimeout = 5 * time.Second

// ErrUnavailable wraps every error of a produce that Kafka did not acknowledge.
var ErrUnavailable = errors.New("kafka unavailable")

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	// Kafka are the options that reach the cluster (see [Kafka.Opts]). Required.
	Kafka []kgo.Opt
	// Topics names the topics.
	Topics Topics
	// Timeout bounds one Enqueue; at least 1s. Default [DefaultProduceTimeout].
	Timeout time.Duration
	// Linger is how long a record waits for others to share its produce
	// request: 0 (the default) sends it at once; up to [MaxProduceLinger],
	// the messages enqueued within it (and the events of Report) go to
	// Kafka together, in fewer requests, and each Enqueue returns up to that
	// much later.
	Linger time.Duration
	// Logger receives the failures of Report, at most one line per
	// reportLogEvery with the count of those not logged. Default: discarded.
	Logger *slog.Logger
	// Tracer traces each Enqueue as a producer span whose context goes in
	// the record's headers; nil is tracing off.
	Tracer *tracing.Tracer
}

// Producer enqueues messages: an idempotent producer that waits for every
// in-sync replica (acks=all). It is safe for concurrent use.
type Producer struct {
	cl     *kgo.Client
	topics Topics
	// msgTopics and statusTopic are topics' names, made once.
	msgTopics   map[protocol.Priority]string
	statusTopic string
	timeout     time.Duration
	log         *slog.Logger
	tracer      *tracing.Tracer

	reportFailed atomic.Uint64 // Report's produces that failed
	reportLogged atomic.Int64  // unix nanoseconds of the last failure logged
	reportQuiet  atomic.Uint64 // failures not logged since
}

// reportLogEvery bounds the lines Report logs while Kafka is unreachable.
const reportLogEvery = 10 * time.Second

// NewProducer returns a Producer; it connects lazily.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultProduceTimeout
	}
	if cfg.Timeout < time.Second {
		return nil, fmt.Errorf("processor: producer config: Timeout %v is below 1s, the least Kafka clients allow", cfg.Timeout)
	}
	if cfg.Linger < 0 || cfg.Linger > MaxProduceLinger {
		return nil, fmt.Errorf("processor: producer config: Linger must be between 0 and %v, got %v", MaxProduceLinger, cfg.Linger)
	}
	opts := append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.ProducerLinger(cfg.Linger),
	}, cfg.Kafka...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("processor: kafka client: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	msgTopics := make(map[protocol.Priority]string, len(Priorities))
	for _, prio := range Priorities {
		msgTopics[prio] = cfg.Topics.Messages(prio)
	}
	return &Producer{cl: cl, topics: cfg.Topics, msgTopics: msgTopics, statusTopic: cfg.Topics.Status(),
		timeout: cfg.Timeout, log: cfg.Logger, tracer: cfg.Tracer}, nil
}

// Report produces e to the status topic without waiting, for the outcomes
// that happen outside the processor: a sync push stored for an offline
// device, a stored message delivered, acked or expired at the edge, the
// messages a put collapsed or dropped. The status store takes it from there
// (RunMaterializer), as it takes the processor's. A produce that fails is
// counted (ReportFailed) and logged; the message itself is unaffected.
func (p *Producer) Report(e Event) {
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	v, err := json.Marshal(e)
	if err != nil {
		p.reportFailure(e, err)
		return
	}
	// TryProduce: with Kafka unreachable and the buffer full, the event fails
	// at once rather than blocking the edge or the API that reports it.
	p.cl.TryProduce(context.Background(), &kgo.Record{Topic: p.topics.Status(), Key: []byte(e.ID), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil {
			p.reportFailure(e, err)
		}
	})
}

// ReportFailed returns how many of Report's events could not be produced.
func (p *Producer) ReportFailed() uint64 { return p.reportFailed.Load() }

func (p *Producer) reportFailure(e Event, err error) {
	p.reportFailed.Add(1)
	now := time.Now().UnixNano()
	last := p.reportLogged.Load()
	if now-last < int64(reportLogEvery) || !p.reportLogged.CompareAndSwap(last, now) {
		p.reportQuiet.Add(1)
		return
	}
	p.log.Warn("producing a status event failed", "id", e.ID, "status", e.Status, "err", err, "suppressed", p.reportQuiet.Swap(0))
}

// Client returns the underlying Kafka client, for admin requests.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Close releases the client; records still waiting for Kafka fail.
func (p *Producer) Close() { p.cl.Close() }

// Enqueue writes m to the topic of its priority and a queued event to the status
// topic, and returns once Kafka acknowledged the message. An error wraps
// [ErrUnavailable] when Kafka did not within the timeout: the message may or may
// not be written, and the caller must not report it as accepted. The queued
// event is produced without waiting: the message is safe once acknowledged, and
// its later outcomes follow.
func (p *Producer) Enqueue(ctx context.Context, m *Message) error {
	var err [1]error
	p.enqueue(ctx, []*Message{m}, err[:])
	return err[0]
}

// EnqueueBatch enqueues ms as Enqueue does each, in one go: every record is
// handed to the client before any is waited for, so that they travel in as few
// produce requests as their partitions allow, and it returns once Kafka has
// answered for all of them or the timeout has passed. errs[i] is ms[i]'s
// error, nil when Kafka acknowledged it; one message's failure does not fail
// the others.
func (p *Producer) EnqueueBatch(ctx context.Context, ms []*Message) (errs []error) {
	errs = make([]error, len(ms))
	p.enqueue(ctx, ms, errs)
	return errs
}

// enqueue enqueues ms, setting errs[i] to ms[i]'s error. The records of ms
// are made in one slice, their keys and values in one buffer and their queued
// events likewise, and one callback answers them all: a batch of n costs a
// few allocations, not several per message.
func (p *Producer) enqueue(ctx context.Context, ms []*Message, errs []error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	type answer struct {
		i   int
		err error
	}
	// Every answer fits in done, so no callback blocks; the last one closes
	// all, so that the wait below wakes once for the batch, not once per
	// record.
	done := make(chan answer, len(ms))
	all := make(chan struct{})
	var left atomic.Int64
	recs := make([]kgo.Record, len(ms))
	at := make([]recordAt, len(ms)) // each record's index, in its Context
	var spans []trace.Span
	if p.tracer != nil {
		spans = make([]trace.Span, len(ms))
	}
	size := 0
	for _, m := range ms {
		size += len(topicKeyPrefix) + len(m.Topic) + len(m.Account) + messageSize(m)
	}
	buf := make([]byte, 0, size)
	answered := func(r *kgo.Record, err error) {
		i := r.Context.(*recordAt).i
		if spans != nil {
			tracing.EndErr(spans[i], err)
		}
		done <- answer{i, err}
		if left.Add(-1) == 0 {
			close(all)
		}
	}
	waiting := 0
	for i, m := range ms {
		if err := m.Validate(); err != nil {
			errs[i] = fmt.Errorf("processor: enqueue: %w", err)
			continue
		}
		// A record's key and value are cut from buf, each capped so that
		// what follows cannot write into them; when buf grows, the records
		// before keep the array they were cut from.
		start := len(buf)
		if m.Topic != "" {
			buf = append(append(buf, topicKeyPrefix...), m.Topic...)
		} else {
			buf = append(buf, m.Account...)
		}
		keyEnd := len(buf)
		out, err := appendMessage(buf, m)
		if err != nil {
			errs[i] = fmt.Errorf("processor: enqueue: %w", err)
			buf = buf[:start]
			continue
		}
		buf = out
		at[i] = recordAt{Context: ctx, i: i}
		rec := &recs[i]
		*rec = kgo.Record{Topic: p.messageTopic(m.Priority), Key: buf[start:keyEnd:keyEnd], Value: buf[keyEnd:len(buf):len(buf)], Context: &at[i]}
		if spans != nil {
			spans[i] = p.tracer.Produce(ctx, rec, m.ID)
		}
		errs[i] = errNoAnswer
		waiting++
	}
	// The count is set before the first record is handed to the client, so
	// that no answer can bring it to zero early.
	left.Store(int64(waiting))
	for i := range recs {
		if errs[i] == errNoAnswer {
			// The idempotent producer does not fail a record that is in
			// flight when ctx ends (it could not tell a retry from a
			// duplicate), so the wait below stops on its own: the record
			// may still be written later.
			p.cl.Produce(ctx, &recs[i], answered)
		}
	}
	if waiting > 0 {
		select {
		case <-all:
		case <-ctx.Done():
		}
	}
	// The answers that came are in done; the records without one are
	// those still errNoAnswer.
	for n := len(done); n > 0; n-- {
		a := <-done
		errs[a.i] = a.err
		if a.err != nil {
			errs[a.i] = fmt.Errorf("processor: enqueue %s: %w: %w", ms[a.i].ID, ErrUnavailable, a.err)
		}
	}
	for i, err := range errs {
		if err == errNoAnswer {
			errs[i] = fmt.Errorf("processor: enqueue %s: %w: %w", ms[i].ID, ErrUnavailable, ctx.Err())
		}
	}
	p.produceQueued(context.WithoutCancel(ctx), ms, errs)
}

// recordAt is the Context of an enqueued record: the enqueue's, and the
// record's index, which the callback shared by the batch reads.
type recordAt struct {
	context.Context
	i int
}

// produceQueued produces the queued event of each of ms that Kafka took
// (errs[i] nil), without waiting: one slice of records and one buffer for all.
func (p *Producer) produceQueued(ctx context.Context, ms []*Message, errs []error) {
	size, n := 0, 0
	for i, m := range ms {
		if errs[i] == nil {
			size += 2*len(m.ID) + len(m.Account) + len(m.Topic) + 128
			n++
		}
	}
	if n == 0 {
		return
	}
	recs := make([]kgo.Record, 0, n)
	buf := make([]byte, 0, size)
	for i, m := range ms {
		if errs[i] != nil {
			continue
		}
		e := Event{ID: m.ID, Account: m.Account, Topic: m.Topic, Status: Queued, Priority: m.Priority, At: m.Accepted}
		start := len(buf)
		out, err := appendEvent(append(buf, m.ID...), &e)
		if err != nil {
			buf = buf[:start]
			continue // an event of plain strings and numbers always encodes
		}
		buf = out
		keyEnd := start + len(m.ID)
		recs = append(recs, kgo.Record{Topic: p.statusTopic, Key: buf[start:keyEnd:keyEnd], Value: buf[keyEnd:len(buf):len(buf)]})
		p.cl.Produce(ctx, &recs[len(recs)-1], nil)
	}
}

// errNoAnswer marks, during enqueue, a record that Kafka has not answered yet.
var errNoAnswer = errors.New("processor: no answer yet")

// Produce writes raw records and waits for their acknowledgement: for tools and
// tests that feed the topics directly.
func (p *Producer) Produce(ctx context.Context, rs ...*kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	done := make(chan error, len(rs))
	for _, r := range rs {
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) { done <- err })
	}
	for range rs {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("processor: produce: %w: %w", ErrUnavailable, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("processor: produce: %w: %w", ErrUnavailable, ctx.Err())
		}
	}
	return nil
}

// messageTopic is the message topic of prio.
func (p *Producer) messageTopic(prio protocol.Priority) string {
	if t, ok := p.msgTopics[prio]; ok {
		return t
	}
	return p.topics.Messages(prio)
}
