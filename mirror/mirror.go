package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of a mirror's settings.
const (
	// DefaultGroupPrefix starts the default consumer group, on the source
	// cluster, of the mirrors of one source region: herald-mirror.<alias>.
	DefaultGroupPrefix = "herald-mirror."
	// DefaultMaxPollRecords bounds the records of one batch, the only batch a
	// mirror holds at a time.
	DefaultMaxPollRecords = 1000
	// DefaultFetchMaxBytes bounds one fetch response from the source; with
	// DefaultMaxConcurrentFetches it bounds what the client buffers beside
	// the batch in hand.
	DefaultFetchMaxBytes = 16 << 20
	// DefaultMaxConcurrentFetches bounds the fetches in flight or buffered.
	DefaultMaxConcurrentFetches = 2
	// DefaultProduceTimeout bounds one attempt at producing a batch to the
	// target and waiting for its acknowledgement.
	DefaultProduceTimeout = 30 * time.Second
	// DefaultDiscoveryInterval is how often the source's metadata is read
	// again, so that a new topic the filter matches is mirrored within it.
	DefaultDiscoveryInterval = 30 * time.Second
)

// maxBackoff bounds the wait between two attempts at a batch.
const maxBackoff = 5 * time.Second

// Config configures Run. Zero values take the defaults above.
type Config struct {
	// Source are the options that reach the source cluster, whose topics are
	// copied (see processor.Kafka.Opts). Required.
	Source []kgo.Opt
	// Target are the options that reach the target cluster. Required.
	Target []kgo.Opt
	// Alias names the source region: the target topic of source topic T is
	// Alias.T. Required; a region name (protocol.ValidRegion).
	Alias string
	// Topics gives the topic prefix that DefaultFilter and IsRemote use.
	Topics processor.Topics
	// Filter is the regexp of the source topics to copy; default
	// DefaultFilter(Topics). A remote topic (IsRemote) is never copied.
	Filter string
	// Group is the consumer group on the source cluster; default
	// DefaultGroupPrefix + Alias. Mirrors of one source into one target share
	// it and split the partitions.
	Group string
	// MaxPollRecords bounds one batch; FetchMaxBytes one fetch response;
	// MaxConcurrentFetches the fetches in flight or buffered. Together they
	// bound the memory of a mirror.
	MaxPollRecords       int
	FetchMaxBytes        int32
	MaxConcurrentFetches int
	// ProduceTimeout bounds one attempt at copying a batch: producing it and
	// waiting for the target's acknowledgement.
	ProduceTimeout time.Duration
	// DiscoveryInterval is how often new source topics are looked for.
	DiscoveryInterval time.Duration
	// Replication is the replication factor of the target topics the mirror
	// creates; 0 or -1 takes the target brokers' default.
	Replication int16
	// SessionTimeout, RebalanceTimeout and HeartbeatInterval are those of the
	// consumer group (processor.GroupTimeouts has their defaults). A batch in
	// hand must be copied within RebalanceTimeout, or it is copied again by
	// the member that takes its partitions over.
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// Logger receives the mirror's logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives the mirror's metrics (metrics.go); nil keeps
	// them in a private registry.
	Metrics prometheus.Registerer
}

// resolve validates c and fills in the defaults; it returns the compiled
// filter and the consumer group's options.
func (c *Config) resolve() (*regexp.Regexp, []kgo.Opt, error) {
	if len(c.Source) == 0 || len(c.Target) == 0 {
		return nil, nil, errors.New("mirror: config: Source and Target are required")
	}
	if err := CheckAlias(c.Topics, c.Alias); err != nil {
		return nil, nil, fmt.Errorf("mirror: config: %w", err)
	}
	if c.Filter == "" {
		c.Filter = DefaultFilter(c.Topics)
	}
	filter, err := regexp.Compile(c.Filter)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: config: filter: %w", err)
	}
	if c.Group == "" {
		c.Group = DefaultGroupPrefix + c.Alias
	}
	if c.MaxPollRecords < 0 || c.FetchMaxBytes < 0 || c.MaxConcurrentFetches < 0 || c.ProduceTimeout < 0 || c.DiscoveryInterval < 0 {
		return nil, nil, errors.New("mirror: config: the limits and durations must not be negative")
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.MaxConcurrentFetches == 0 {
		c.MaxConcurrentFetches = DefaultMaxConcurrentFetches
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.DiscoveryInterval == 0 {
		c.DiscoveryInterval = DefaultDiscoveryInterval
	}
	if c.Replication == 0 {
		c.Replication = -1
	}
	group, err := processor.GroupTimeouts{Session: c.SessionTimeout, Rebalance: c.RebalanceTimeout, Heartbeat: c.HeartbeatInterval}.Options()
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: config: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	return filter, group, nil
}

// Validate reports whether Run would take c: what is required is there, the
// alias is a region name and the filter a regexp.
func (c Config) Validate() error {
	_, _, err := c.resolve()
	return err
}

// mirror is one Run: its clients, the target topics it knows, its metrics.
// Only Run's goroutine uses it.
type mirror struct {
	cfg     Config
	src     *kgo.Client
	tgt     *kgo.Client
	targets *targets
	metrics *metrics
	remote  map[string]bool // remote topics already logged as skipped
}

// Run copies the records of the source topics that cfg.Filter matches to the
// target cluster until ctx is done; then it copies and commits the batch in
// hand (within cfg.ProduceTimeout), leaves the group and returns nil. It
// returns an error only for a config that is not valid or a client that
// cannot be created; a cluster that is away is waited for, logged and counted.
//
// Each batch is produced to the target, and its source offsets are committed
// only once the target acknowledged every record of it: a mirror killed at any
// point copies again, on restart, what it had not committed (at least once).
func Run(ctx context.Context, cfg Config) error {
	filter, group, err := cfg.resolve()
	if err != nil {
		return err
	}
	m := &mirror{cfg: cfg, remote: map[string]bool{}}
	if m.metrics, err = newMetrics(cfg.Metrics); err != nil {
		return err
	}
	srcOpts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(filter.String()),
		kgo.ConsumeRegex(),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxBytes),
		kgo.MaxConcurrentFetches(cfg.MaxConcurrentFetches),
		kgo.MetadataMaxAge(cfg.DiscoveryInterval),
		kgo.MetadataMinAge(min(cfg.DiscoveryInterval, time.Second)),
	}, group...)
	if m.src, err = kgo.NewClient(append(srcOpts, cfg.Source...)...); err != nil {
		return fmt.Errorf("mirror: source kafka client: %w", err)
	}
	defer m.src.Close()
	// The lag is exported while the client it is read through is open.
	lag := newLagCollector(cfg.Group, cfg.Logger)
	if err := cfg.Metrics.Register(lag); err != nil {
		cfg.Logger.Warn("the mirror's lag is not exported", "err", err)
	} else {
		lag.attach(m.src)
		defer func() {
			cfg.Metrics.Unregister(lag)
			lag.detach()
		}()
	}
	tgtOpts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(cfg.MaxPollRecords),
		kgo.ProducerLinger(time.Millisecond),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	if m.tgt, err = kgo.NewClient(append(tgtOpts, cfg.Target...)...); err != nil {
		return fmt.Errorf("mirror: target kafka client: %w", err)
	}
	defer m.tgt.Close()
	m.targets = newTargets(m.src, m.tgt, cfg.Replication)
	cfg.Logger.Info("mirroring", "alias", cfg.Alias, "filter", filter.String(), "group", cfg.Group)
	for {
		fetches := m.src.PollRecords(ctx, cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil && fetches.NumRecords() == 0 {
			m.src.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.Canceled) {
				m.metrics.errors[opFetch].Inc()
				cfg.Logger.Warn("fetch failed", "topic", topic, "partition", part, "err", err)
			}
		})
		if recs := fetches.Records(); len(recs) > 0 {
			m.batch(ctx, recs)
		}
		m.src.AllowRebalance()
	}
}

// batch copies recs to the target and commits their offsets on the source
// once the target acknowledged them. A failed attempt is tried again, after a
// backoff, until it succeeds or ctx ends; the attempt under way when ctx ends
// still runs, so that a mirror that stops commits what it copied.
func (m *mirror) batch(ctx context.Context, recs []*kgo.Record) {
	out := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		if IsRemote(m.cfg.Topics, r.Topic) {
			if !m.remote[r.Topic] {
				m.remote[r.Topic] = true
				m.cfg.Logger.Info("not mirroring a remote topic", "topic", r.Topic)
			}
			continue
		}
		out = append(out, &kgo.Record{
			Topic:     RemoteTopic(m.cfg.Alias, r.Topic),
			Partition: r.Partition,
			Key:       r.Key,
			Value:     r.Value,
			Headers:   r.Headers,
			Timestamp: r.Timestamp,
		})
	}
	work := context.WithoutCancel(ctx)
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, maxBackoff) {
		err := m.copy(work, out)
		if err == nil {
			break
		}
		m.cfg.Logger.Warn("copying a batch failed; retrying", "records", len(out), "err", err)
		select {
		case <-ctx.Done():
			return // not committed: copied again by the next owner
		case <-time.After(backoff):
		}
	}
	cctx, cancel := context.WithTimeout(work, m.cfg.ProduceTimeout)
	defer cancel()
	if err := m.src.CommitRecords(cctx, recs...); err != nil {
		// Copied again by whoever holds the partitions next: at least once.
		m.metrics.errors[opCommit].Inc()
		m.cfg.Logger.Warn("commit failed", "records", len(recs), "err", err)
	}
}

// copy makes one attempt at out: it creates or grows the target topics, then
// produces every record and waits for the target's acknowledgement. The
// records are copied again by a further attempt, so a partial failure leaves
// duplicates in the target, never a gap.
func (m *mirror) copy(ctx context.Context, out []*kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ProduceTimeout)
	defer cancel()
	if err := m.targets.ensure(ctx, m.cfg.Alias, out); err != nil {
		m.metrics.errors[opTopic].Inc()
		return err
	}
	// Fresh records for each attempt: the client owns a record once produced.
	attempt := make([]*kgo.Record, len(out))
	for i, r := range out {
		c := *r
		attempt[i] = &c
	}
	if err := m.tgt.ProduceSync(ctx, attempt...).FirstErr(); err != nil {
		m.metrics.errors[opProduce].Inc()
		return fmt.Errorf("mirror: produce to the target: %w", err)
	}
	for _, r := range out {
		m.metrics.records(strings.TrimPrefix(r.Topic, m.cfg.Alias+Separator)).Inc()
	}
	return nil
}
