package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of a Processor's settings.
const (
	DefaultHighWorkers     = 16
	DefaultNormalWorkers   = 8
	DefaultLowWorkers      = 4
	DefaultMaxPollRecords  = 2000
	DefaultDeliveryTimeout = 10 * time.Second
	DefaultAckTimeout      = 30 * time.Second
	DefaultMaxAttempts     = 3
	DefaultRetryBackoff    = 200 * time.Millisecond
	DefaultPublishTimeout  = 5 * time.Second
	DefaultCommitInterval  = 500 * time.Millisecond
)

// Deliverer delivers a message to a device wherever it is connected and returns
// its final outcome; progress, when not nil, is called once the message is
// written while an ack is still awaited. edge.Router implements it.
type Deliverer interface {
	Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result
}

// Publisher publishes a message to a topic: one frame to each edge with
// subscribers of it, answered with counts until ctx ends. An error means the
// edges could not be looked up and nothing was sent. edge.Router implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, m *protocol.Msg) (protocol.PublishResult, error)
}

// Directory lists the connected devices of an account.
type Directory interface {
	Connected(ctx context.Context, account string) ([]string, error)
}

// DeviceList names the devices of an account's device list, connected or not.
type DeviceList interface {
	Listed(ctx context.Context, account string) ([]string, error)
}

// Config configures a Processor. Zero values take the defaults above.
type Config struct {
	// Kafka are the options that reach the cluster (see [Kafka.Opts]). Required.
	Kafka []kgo.Opt
	// Topics names the topics.
	Topics Topics
	// Group is the consumer group prefix: the members of one priority form the
	// group Group.<priority>. Default [DefaultGroup].
	Group string
	// Tracer traces each message from its record to its deliveries, as a
	// child of the producer's span (docs/design.md, "Tracing"); nil is
	// tracing off.
	Tracer *tracing.Tracer
	// Deliverer and Directory deliver messages. Required.
	Deliverer Deliverer
	Directory Directory
	// Publisher publishes the messages to a topic (topic.go); without it
	// they fail.
	Publisher Publisher
	// PublishTimeout bounds one publish to a topic: how long the edges'
	// counts are awaited. Default [DefaultPublishTimeout].
	PublishTimeout time.Duration
	// Inbox, when set with Types, stores a message for a device that is
	// offline, of a type whose policy stores it (protocol.Policy.Keep), for
	// the device to get when it connects: its outcome is queued rather than
	// offline. A message to a whole account is stored so for the devices of
	// its device list (Devices) that are not connected.
	Inbox Inbox
	// Devices, when set, names an account's listed devices, for a message to
	// a whole account that stores.
	Devices DeviceList
	// Nudger, when set, tells the edge that holds a device to read its inbox
	// again after a message was stored for it (nudge.go); without it a
	// message stored while the device connects waits for its next connection.
	Nudger Nudger
	// Mirrored names regions whose message topics, mirrored into this
	// cluster (Topics.Mirrored), the processors consume too, each beside the
	// local topic of its priority: what a lost region accepted and never
	// processed is delivered from here (at least once; devices drop repeats
	// by id). Region names (protocol.ValidRegion).
	Mirrored []string
	// Workers is the number of concurrent deliveries per priority: the weight of
	// each. Missing priorities take DefaultHighWorkers and so on.
	Workers map[protocol.Priority]int
	// MaxPollRecords bounds one batch; collapse keys apply within a batch.
	MaxPollRecords int
	// CommitInterval is how often the offsets of the batches done (every
	// delivery attempt finished and every status event acknowledged) are
	// committed, rather than once per batch: at a steady rate each poll holds
	// a message or two, and a commit each was a Kafka round trip per message.
	// The offsets done are also committed before a rebalance takes the
	// partitions and when Run returns; a processor that dies loses at most
	// this much of its commits, which the next owner delivers again (at
	// least once). Default [DefaultCommitInterval].
	CommitInterval time.Duration
	// FetchWait spaces the polls of a priority's member at least this far
	// apart while they return records: 0 (the default) polls again at once;
	// a wait between [MinFetchWait] and [MaxFetchWait] lets the records of
	// about that long gather into one batch, whose status events go to
	// Kafka together, for up to that much more delivery latency. A
	// member whose poll found nothing does not wait (batching.go).
	FetchWait time.Duration
	// DeliveryTimeout bounds one delivery attempt, up to the message being
	// written; the attempts of a batch's lane share one context per tenth
	// of it (deadline.go), so an attempt has at least nine tenths of it.
	DeliveryTimeout time.Duration
	// AckTimeout bounds the wait for a device's ack, after the write.
	AckTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to the others; RebalanceTimeout how long a
	// rebalance waits for the members to join again, which a batch in hand
	// must finish within (one DeliveryTimeout and its commit); HeartbeatInterval
	// how often a member heartbeats, below SessionTimeout. See [GroupTimeouts]
	// for the defaults.
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// MaxAttempts bounds the attempts at a delivery that failed because a part of
	// the platform was unavailable; RetryBackoff is the wait before the second,
	// doubling for each further one.
	MaxAttempts  int
	RetryBackoff time.Duration
	// Logger receives the processor's logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives the processor's Prometheus metrics (see
	// metrics.go for their names); nil keeps them in a private registry.
	Metrics prometheus.Registerer
	// Types, when set, bounds the type label of the metrics to the registered
	// message types; others count as "other". Without it the first 100 distinct
	// names get their own label, and nothing is stored in Inbox.
	Types *protocol.Types
}

// Stats counts a Processor's outcomes.
type Stats struct {
	Processed, Delivered, Acked, Offline, Expired, Collapsed, Failed uint64
	// Queued counts the messages stored in an offline device's inbox.
	Queued uint64
	// Published counts the messages published to a topic.
	Published uint64
}

// Processor consumes the message topics and delivers each message.
type Processor struct {
	cfg         Config
	status      *kgo.Client // produces events; created by Run
	statusTopic string
	seed        maphash.Seed

	acks  sync.WaitGroup // ack waits that outlive their batch
	stats struct {
		processed, delivered, acked, offline, expired, collapsed, failed, queued, published atomic.Uint64
	}
	metrics *metrics
	lag     *lagCollector
}

// New validates cfg and returns a Processor; Run starts it.
func New(cfg Config) (*Processor, error) {
	if len(cfg.Kafka) == 0 || cfg.Deliverer == nil || cfg.Directory == nil {
		return nil, errors.New("processor: config: Kafka, Deliverer and Directory are required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if err := checkRegions("processor: config: Mirrored", cfg.Mirrored); err != nil {
		return nil, err
	}
	w := map[protocol.Priority]int{
		protocol.PriorityHigh: DefaultHighWorkers, protocol.PriorityNormal: DefaultNormalWorkers, protocol.PriorityLow: DefaultLowWorkers,
	}
	for p, n := range cfg.Workers {
		if _, ok := w[p]; !ok {
			return nil, fmt.Errorf("processor: config: unknown priority %q in Workers", p)
		}
		if n < 1 {
			return nil, fmt.Errorf("processor: config: Workers[%s] must be at least 1, got %d", p, n)
		}
		w[p] = n
	}
	cfg.Workers = w
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.DeliveryTimeout, DefaultDeliveryTimeout}, {&cfg.AckTimeout, DefaultAckTimeout},
		{&cfg.RetryBackoff, DefaultRetryBackoff}, {&cfg.PublishTimeout, DefaultPublishTimeout},
		{&cfg.CommitInterval, DefaultCommitInterval},
	} {
		if *d.v < 0 {
			return nil, errors.New("processor: config: durations must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if err := checkFetchWait("FetchWait", cfg.FetchWait); err != nil {
		return nil, fmt.Errorf("processor: config: %w", err)
	}
	gt, err := GroupTimeouts{Session: cfg.SessionTimeout, Rebalance: cfg.RebalanceTimeout, Heartbeat: cfg.HeartbeatInterval}.resolve()
	if err != nil {
		return nil, fmt.Errorf("processor: config: %w", err)
	}
	cfg.SessionTimeout, cfg.RebalanceTimeout, cfg.HeartbeatInterval = gt.Session, gt.Rebalance, gt.Heartbeat
	if cfg.MaxPollRecords == 0 {
		cfg.MaxPollRecords = DefaultMaxPollRecords
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxPollRecords < 1 || cfg.MaxAttempts < 1 {
		return nil, errors.New("processor: config: MaxPollRecords and MaxAttempts must be at least 1")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if budget := max(cfg.DeliveryTimeout, cfg.PublishTimeout) + cfg.HeartbeatInterval; cfg.RebalanceTimeout < budget {
		cfg.Logger.Warn("the rebalance timeout is shorter than a delivery attempt and a heartbeat: a slow batch may be delivered twice after a rebalance",
			"rebalance_timeout", cfg.RebalanceTimeout, "delivery_timeout", cfg.DeliveryTimeout, "heartbeat_interval", cfg.HeartbeatInterval)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics, cfg.Types)
	if err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, seed: maphash.MakeSeed(), metrics: m, lag: newLagCollector(cfg.Group, cfg.Topics, cfg.Mirrored, cfg.Logger)}, nil
}

// Stats returns the counts so far.
func (p *Processor) Stats() Stats {
	return Stats{
		Processed: p.stats.processed.Load(), Delivered: p.stats.delivered.Load(), Acked: p.stats.acked.Load(),
		Offline: p.stats.offline.Load(), Expired: p.stats.expired.Load(), Collapsed: p.stats.collapsed.Load(),
		Failed: p.stats.failed.Load(), Queued: p.stats.queued.Load(), Published: p.stats.published.Load(),
	}
}

// Run consumes until ctx is done, then finishes the batches in hand, commits them,
// leaves the groups and returns. A Processor runs once.
func (p *Processor) Run(ctx context.Context) error {
	status, err := kgo.NewClient(append([]kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0)}, p.cfg.Kafka...)...)
	if err != nil {
		return fmt.Errorf("processor: kafka client: %w", err)
	}
	p.status = status
	p.statusTopic = p.cfg.Topics.Status()
	defer status.Close()
	// The lag is exported while the client it is read through is open; while
	// another Processor on the same registry exports it, this one does not.
	if err := p.cfg.Metrics.Register(p.lag); err != nil {
		p.cfg.Logger.Warn("the consumer lag is not exported", "err", err)
	} else {
		p.lag.attach(status)
		defer func() {
			p.cfg.Metrics.Unregister(p.lag)
			p.lag.detach()
		}()
	}
	// Deliveries outlive ctx so that a batch in hand finishes (each is bounded by
	// DeliveryTimeout); ack waits end with Run.
	acksCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	errs := make(chan error, len(Priorities))
	for _, prio := range Priorities {
		go func() { errs <- p.consume(ctx, acksCtx, prio) }()
	}
	var all []error
	for range Priorities {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	stopAcks()
	p.acks.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), p.cfg.DeliveryTimeout)
	defer cancel()
	if err := p.status.Flush(fctx); err != nil {
		all = append(all, fmt.Errorf("processor: flush status events: %w", err))
	}
	return errors.Join(all...)
}

// groupTimeouts returns the resolved timeouts of the consumer groups.
func (p *Processor) groupTimeouts() GroupTimeouts {
	return GroupTimeouts{Session: p.cfg.SessionTimeout, Rebalance: p.cfg.RebalanceTimeout, Heartbeat: p.cfg.HeartbeatInterval}
}

// topics returns the topics of a priority: the local one and the mirrored
// ones of Config.Mirrored.
func (p *Processor) topics(prio protocol.Priority) []string {
	return messageTopics(p.cfg.Topics, p.cfg.Mirrored, prio)
}

// messageTopics returns the message topics of prio of t and of the mirrors
// of regions.
func messageTopics(t Topics, regions []string, prio protocol.Priority) []string {
	out := []string{t.Messages(prio)}
	for _, r := range regions {
		out = append(out, t.Mirrored(r).Messages(prio))
	}
	return out
}

// consume is the group member of one priority.
func (p *Processor) consume(ctx, acksCtx context.Context, prio protocol.Priority) error {
	log := p.cfg.Logger.With("priority", prio)
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(p.cfg.Group + "." + string(prio)),
		kgo.ConsumeTopics(p.topics(prio)...),
		// The offsets marked (MarkCommitRecords, once a batch is done) are
		// committed every CommitInterval, and before the partitions are
		// revoked or the group is left (franz-go's default revoke).
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(p.cfg.CommitInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(idleFetchWait),
	}, p.groupTimeouts().opts()...)
	opts = append(opts, p.cfg.Kafka...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("processor: kafka client: %w", err)
	}
	defer cl.Close()
	work := context.WithoutCancel(ctx)
	lanes := newLanePool(p.cfg.Workers[prio])
	defer lanes.stop()
	spacer := pollSpacer{wait: p.cfg.FetchWait}
	for {
		spacer.polling()
		fetches := cl.PollRecords(ctx, p.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil && fetches.NumRecords() == 0 {
			cl.AllowRebalance()
			return nil
		}
		warnFetchErrors(log, fetches)
		recs := fetches.Records()
		if len(recs) > 0 && len(recs) < p.cfg.MaxPollRecords {
			recs = spacer.gathered(ctx, cl, recs, p.cfg.MaxPollRecords, log)
		}
		if len(recs) > 0 {
			p.metrics.batch(prio, len(recs))
			events := p.newBatchEvents(len(recs))
			p.batch(work, acksCtx, prio, recs, events, lanes)
			p.produceEvents(events)
			if !p.acknowledged(events) {
				log.Warn("status events not acknowledged in time", "records", len(recs), "timeout", p.cfg.DeliveryTimeout)
			}
			// Committed with the next autocommit, or before a rebalance
			// (which waits for AllowRebalance below) or the close. A
			// commit that fails leaves the batch to be delivered again
			// by whoever holds the partitions next: at least once.
			cl.MarkCommitRecords(recs...)
		}
		cl.AllowRebalance()
		spacer.rest(ctx, len(recs))
	}
}

// collapseKey identifies the messages that replace each other.
type collapseKey struct{ account, device, key string }

// batch delivers one polled batch: records with the same key (account) go to the
// same worker in order, workers run concurrently on the goroutines of pool, and
// batch returns when every delivery attempt has finished.
func (p *Processor) batch(ctx, acksCtx context.Context, prio protocol.Priority, recs []*kgo.Record, events *batchEvents, pool *lanePool) {
	msgs := make([]*Message, len(recs))
	newest := make(map[collapseKey]int)
	for i, r := range recs {
		m, err := decodeMessage(r.Value)
		if err != nil {
			p.cfg.Logger.Warn("skipping a malformed record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			if m != nil && m.ID != "" && (m.Account != "" || m.Topic != "") {
				p.emit(events, Event{ID: m.ID, Account: m.Account, Device: m.Device, Topic: m.Topic, Status: Failed, Error: err.Error(), Priority: prio}, m.Type)
			} else {
				p.metrics.outcome(prio, otherType, Failed)
			}
			continue
		}
		m.rec, m.events = r, events
		msgs[i] = m
		if m.CollapseKey != "" {
			newest[collapseKey{m.Account, m.Device, m.CollapseKey}] = i
		}
	}
	n := p.cfg.Workers[prio]
	lanes := make([][]*Message, n)
	for i, m := range msgs {
		if m == nil {
			continue
		}
		if m.CollapseKey != "" && newest[collapseKey{m.Account, m.Device, m.CollapseKey}] != i {
			p.stats.processed.Add(1)
			p.stats.collapsed.Add(1)
			p.emit(events, Event{ID: m.ID, Account: m.Account, Device: m.Device, Status: Collapsed, Priority: m.Priority}, m.Type)
			continue
		}
		lane := maphash.String(p.seed, m.lane()) % uint64(n)
		lanes[lane] = append(lanes[lane], m)
	}
	// The lanes share the batch's attempt deadlines: one context and timer
	// per tenth of DeliveryTimeout for the whole batch, not per lane.
	dl := newDeadlines(ctx, p.cfg.DeliveryTimeout)
	defer dl.stop()
	jobs := make([]func(), 0, n)
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		jobs = append(jobs, func() {
			for _, m := range lane {
				m.deadlines = dl
				p.handle(ctx, acksCtx, m)
			}
		})
	}
	pool.run(jobs)
}

// decodeMessage parses and validates a record value; a message that parses but
// is invalid is returned with the error, so that its status can say why.
func decodeMessage(v []byte) (*Message, error) {
	var m Message
	if !decodeCanonicalMessage(v, &m) {
		m = Message{}
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("not a message: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return &m, err
	}
	// Both decoders checked the payload as JSON (plainjson's Raw checks it
	// as encoding/json does; encoding/json checks the whole record first).
	m.payloadValid = true
	return &m, nil
}

// handle processes one message: expiry, then its targets.
func (p *Processor) handle(ctx, acksCtx context.Context, m *Message) {
	if p.cfg.Tracer != nil {
		var span trace.Span
		ctx, span = p.cfg.Tracer.Process(ctx, m.rec, p.cfg.Group+"."+string(m.Priority), m.ID)
		p.cfg.Tracer.Annotate(ctx, "", m.Account, m.Device)
		defer span.End()
		acksCtx = p.cfg.Tracer.WithSpan(acksCtx, ctx)
	}
	p.stats.processed.Add(1)
	now := time.Now()
	if m.Expired(now) {
		p.stats.expired.Add(1)
		p.emit(m.events, Event{ID: m.ID, Account: m.Account, Device: m.Device, Topic: m.Topic, Status: Expired, Priority: m.Priority}, m.Type)
		return
	}
	if m.Topic != "" {
		p.publish(ctx, m, m.Msg(now))
		return
	}
	if m.Device != "" {
		p.deliver(ctx, acksCtx, m, m.Msg(now), m.Device)
		return
	}
	devices, err := p.connected(ctx, m.deadlines, m.Account)
	if err == nil && p.cfg.Devices != nil && p.keepFor(m, m.Device, now) > 0 {
		devices = p.withListed(ctx, m.Account, devices)
	}
	switch {
	case err != nil:
		p.stats.failed.Add(1)
		p.emit(m.events, Event{ID: m.ID, Account: m.Account, Status: Failed, Error: err.Error(), Priority: m.Priority}, m.Type)
		return
	case len(devices) == 0:
		p.stats.offline.Add(1)
		p.emit(m.events, Event{ID: m.ID, Account: m.Account, Status: Offline, Priority: m.Priority}, m.Type)
		return
	}
	msg := m.Msg(now)
	if len(devices) == 1 {
		// The common account of one device: no goroutine to wait for.
		p.deliver(ctx, acksCtx, m, msg, devices[0])
		return
	}
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() { p.deliver(ctx, acksCtx, m, msg, d) })
	}
	wg.Wait()
}

// connected lists an account's devices, retrying while the registry is
// unavailable.
func (p *Processor) connected(ctx context.Context, dl *deadlines, account string) ([]string, error) {
	var err error
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 && !p.sleep(ctx, attempt) {
			break
		}
		var devices []string
		cctx, cancel := dl.within(ctx, p.cfg.DeliveryTimeout)
		devices, err = p.cfg.Directory.Connected(cctx, account)
		cancel()
		if err == nil {
			return devices, nil
		}
	}
	return nil, fmt.Errorf("%s: listing the account's devices: %w", protocol.CodeUnavailable, err)
}

// sleep waits before attempt (1-based retries), or reports false when ctx ends.
func (p *Processor) sleep(ctx context.Context, attempt int) bool {
	t := time.NewTimer(p.cfg.RetryBackoff << (attempt - 1))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliver delivers msg to one device and emits its outcome; with Ack, the wait
// for the device's ack goes on after deliver returned, and emits acked if it
// comes.
func (p *Processor) deliver(ctx, acksCtx context.Context, m *Message, msg *protocol.Msg, device string) {
	var res protocol.Result
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 && !p.sleep(ctx, attempt) {
			break
		}
		res = p.attempt(ctx, acksCtx, m, msg, device)
		if res.Status != protocol.StatusRejected || !strings.HasPrefix(res.Error, string(protocol.CodeUnavailable)) {
			break
		}
	}
	e := Event{ID: m.ID, Account: m.Account, Device: device, Priority: m.Priority}
	switch res.Status {
	case protocol.StatusDelivered:
		p.stats.delivered.Add(1)
		p.metrics.written(m, time.Now())
		e.Status = Delivered
	case protocol.StatusAcked:
		// Only when the ack came before attempt returned, which it does not:
		// attempt returns at the write.
		p.stats.acked.Add(1)
		p.metrics.written(m, time.Now())
		e.Status = Acked
	case protocol.StatusOffline:
		now := time.Now()
		if keep := p.keepFor(m, device, now); keep > 0 {
			e = p.store(ctx, m, device, keep, now)
		} else {
			e.Status = Offline
		}
		switch e.Status {
		case Queued:
			p.stats.queued.Add(1)
		case Expired:
			p.stats.expired.Add(1)
		case Failed:
			p.stats.failed.Add(1)
		default:
			p.stats.offline.Add(1)
		}
	case protocol.StatusTimeout:
		p.stats.failed.Add(1)
		e.Status, e.Error = Failed, "timeout: the message could not be written in time"
	default:
		p.stats.failed.Add(1)
		e.Status, e.Error = Failed, res.Error
		if e.Error == "" {
			e.Error = string(res.Status)
		}
	}
	p.emit(m.events, e, m.Type)
}

// attempt is one delivery attempt; it returns once the message is written (or
// failed). With Ack, a goroutine owned by p.acks waits on for the ack.
func (p *Processor) attempt(ctx, acksCtx context.Context, m *Message, msg *protocol.Msg, device string) protocol.Result {
	if !msg.Ack {
		dctx, cancel := m.deadlines.within(ctx, p.cfg.DeliveryTimeout)
		defer cancel()
		return p.cfg.Deliverer.Deliver(dctx, m.Account, device, msg, nil)
	}
	written := make(chan protocol.Result, 1)
	p.acks.Add(1)
	go func() {
		defer p.acks.Done()
		actx, cancel := context.WithTimeout(acksCtx, p.cfg.DeliveryTimeout+p.cfg.AckTimeout)
		defer cancel()
		progressed := false
		res := p.cfg.Deliverer.Deliver(actx, m.Account, device, msg, func(r protocol.Result) {
			progressed = true
			written <- r
		})
		if !progressed {
			written <- res
			return
		}
		if res.Status == protocol.StatusAcked {
			p.stats.acked.Add(1)
			// After the delivered event: held with it while the batch
			// runs, produced at once after.
			p.emit(m.events, Event{ID: m.ID, Account: m.Account, Device: device, Status: Acked, Priority: m.Priority}, m.Type)
		}
	}()
	select {
	case res := <-written:
		return res
	case <-time.After(p.cfg.DeliveryTimeout):
		// The write has not finished in time; the goroutine's own deadline ends it.
		return protocol.Result{Device: device, Status: protocol.StatusTimeout}
	}
}

// emit counts an outcome of a message of type typ and produces its event to the
// status topic without waiting. events, when not nil, is the batch the message
// came in: while the batch runs, its events are held and go to Kafka together
// when it ends (produceEvents), in as few produce requests as the status
// topic's partitions allow instead of about one each; an event of a batch that
// has ended (an ack that came later) is produced at once.
func (p *Processor) emit(events *batchEvents, e Event, typ string) {
	p.metrics.outcome(e.Priority, typ, e.Status)
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	// The id (the key), then the event (the value), built in scratch when
	// they fit: a held event is copied into its batch's slab.
	var scratch [384]byte
	buf := scratch[:0]
	if need := len(e.ID) + eventSize(&e); need > len(scratch) {
		buf = make([]byte, 0, need)
	}
	buf = append(buf, e.ID...)
	buf, err := appendEvent(buf, &e)
	if err != nil {
		p.metrics.statusFailed.Inc()
		p.cfg.Logger.Error("encoding a status event failed", "err", err)
		return
	}
	if events != nil && events.hold(p.statusTopic, buf, len(e.ID)) {
		return
	}
	kv := bytes.Clone(buf) // not buf: scratch must not escape
	r := &kgo.Record{Topic: p.statusTopic, Key: kv[:len(e.ID):len(e.ID)], Value: kv[len(e.ID):]}
	p.status.Produce(context.Background(), r, p.produced)
}

// batchEvents holds the status events of one polled batch until it ends and
// counts those Kafka has not answered yet, which the batch waits for before
// its offsets are marked for commit. The held records and their bytes are cut
// from slabs, a few allocations a batch instead of two an event.
type batchEvents struct {
	pending  sync.WaitGroup
	answered func(*kgo.Record, error) // produced, then pending.Done

	mu    sync.Mutex
	held  []*kgo.Record
	recs  []kgo.Record // the slab the held records are in
	bytes []byte       // the slab their keys and values are in
	slab  int          // the records a slab holds: the batch's size, within bounds
	ended bool         // produceEvents has run: hold takes no more
}

// The slabs' bounds in records (most messages have one event), and the bytes
// a slab gives each (an event is about 200).
const (
	eventSlabMin   = 4
	eventSlabMax   = 64
	eventSlabBytes = 256
)

// newBatchEvents returns the events of a new batch of n messages: its slabs
// are sized for n events, so that a small batch does not allocate for 64.
func (p *Processor) newBatchEvents(n int) *batchEvents {
	b := &batchEvents{slab: min(max(n, eventSlabMin), eventSlabMax)}
	b.answered = func(r *kgo.Record, err error) {
		p.produced(r, err)
		b.pending.Done()
	}
	return b
}

// hold keeps a copy of the event kv (its key is kv[:keyLen]) for topic, to be
// produced with the batch's other events, and reports false, keeping
// nothing, once the batch has ended.
func (b *batchEvents) hold(topic string, kv []byte, keyLen int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return false
	}
	if cap(b.bytes)-len(b.bytes) < len(kv) {
		b.bytes = make([]byte, 0, max(b.slab*eventSlabBytes, len(kv)))
	}
	start := len(b.bytes)
	b.bytes = append(b.bytes, kv...)
	v := b.bytes[start:len(b.bytes):len(b.bytes)]
	if len(b.recs) == cap(b.recs) {
		b.recs = make([]kgo.Record, 0, b.slab)
	}
	b.recs = append(b.recs, kgo.Record{Topic: topic, Key: v[:keyLen:keyLen], Value: v[keyLen:]})
	b.held = append(b.held, &b.recs[len(b.recs)-1])
	b.pending.Add(1)
	return true
}

// produceEvents ends the batch: its held events go to Kafka, one after the
// other so that the client puts them in the same requests.
func (p *Processor) produceEvents(b *batchEvents) {
	b.mu.Lock()
	held := b.held
	b.held, b.ended = nil, true
	b.mu.Unlock()
	for _, r := range held {
		p.status.Produce(context.Background(), r, b.answered)
	}
}

// produced counts and logs a status event that could not be produced.
func (p *Processor) produced(r *kgo.Record, err error) {
	if err != nil {
		p.metrics.statusFailed.Inc()
		p.cfg.Logger.Warn("producing a status event failed", "id", string(r.Key), "event", string(r.Value), "err", err)
	}
}

// acknowledged waits until Kafka has answered every status event of a batch
// (each is acknowledged or counted as failed), for at most DeliveryTimeout,
// as the flush before the commit did; it reports whether they all were.
func (p *Processor) acknowledged(events *batchEvents) bool {
	done := make(chan struct{})
	go func() {
		events.pending.Wait()
		close(done)
	}()
	t := time.NewTimer(p.cfg.DeliveryTimeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
