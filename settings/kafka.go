package settings

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka is the Kafka part of a server's configuration.
type Kafka struct {
	Brokers           List
	TLS               bool
	TLSCA             string
	TLSCert           string
	TLSKey            string
	SASLMechanism     string
	SASLUser          string
	SASLPassword      string
	TopicPrefix       string
	Partitions        int
	Replication       int
	CreateTopics      bool
	Group             string
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	ProduceTimeout    time.Duration
	Workers           string
	AckTimeout        time.Duration
	PublishTimeout    time.Duration
	CommitInterval    time.Duration
	StatusTTL         time.Duration
	// MaxPollRecords, DeliveryTimeout, MaxAttempts and RetryBackoff are the
	// processor's batch and retry bounds (processor.Config's).
	MaxPollRecords  int
	DeliveryTimeout time.Duration
	MaxAttempts     int
	RetryBackoff    time.Duration
	// FetchWait, StatusFetchWait and ProduceLinger are the batching waits
	// of the processor's fetch, the materializer's and the API's producer.
	FetchWait       time.Duration
	StatusFetchWait time.Duration
	ProduceLinger   time.Duration
	// Compression is the codec of the record batches Herald produces; ""
	// is snappy, or none on herald dev's embedded cluster (EffectiveCompression).
	Compression string
	// MetadataMinAge is the least time between two metadata requests of a
	// Kafka client (processor.Kafka.MetadataMinAge).
	MetadataMinAge time.Duration

	// embedded: `herald dev` starts its own cluster when no brokers are given.
	Embedded bool
	// devRetention bounds how long the embedded cluster of `herald dev` keeps
	// records; devRetentionBytes bounds each partition.
	DevRetention      time.Duration
	DevRetentionBytes int64
	DevPort           int
}

// Flags defines the Kafka settings on fs; herald dev also has those of its
// embedded cluster, and its --kafka-brokers may be empty.
func (k *Kafka) Flags(fs *flag.FlagSet, dev bool) {
	k.CreateTopics, k.Embedded = true, dev
	help := "Kafka seed brokers, comma-separated host:port; enables POST /v1/messages and the processor role"
	if dev {
		help = "Kafka seed brokers, comma-separated host:port; empty: an embedded in-memory cluster"
	}
	fs.Var(&k.Brokers, "kafka-brokers", help)
	fs.BoolVar(&k.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&k.TLSCA, "kafka-tls-ca", "", "PEM file of the CA certificates that Kafka's are checked against (default: the system's)")
	fs.StringVar(&k.TLSCert, "kafka-tls-cert", "", "PEM client certificate for Kafka (with --kafka-tls-key)")
	fs.StringVar(&k.TLSKey, "kafka-tls-key", "", "PEM key of the client certificate")
	fs.StringVar(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none")
	fs.StringVar(&k.SASLUser, "kafka-sasl-user", "", "SASL user")
	fs.StringVar(&k.SASLPassword, "kafka-sasl-password", "", "SASL password")
	fs.StringVar(&k.TopicPrefix, "kafka-topic-prefix", processor.DefaultTopicPrefix, "prefix of the topic names: <prefix>messages.high|normal|low and <prefix>status")
	fs.IntVar(&k.Partitions, "kafka-partitions", processor.DefaultPartitions, "partitions of each topic created at start (the processors' parallelism)")
	fs.IntVar(&k.Replication, "kafka-replication", -1, "replication factor of the topics created at start; -1: the brokers' default")
	fs.BoolVar(&k.CreateTopics, "kafka-create-topics", true, "create missing topics at start (needs the CreateTopics permission)")
	fs.StringVar(&k.Group, "kafka-group", processor.DefaultGroup, "consumer group prefix of the processors")
	fs.DurationVar(&k.SessionTimeout, "kafka-session-timeout", processor.DefaultSessionTimeout, "how long a silent processor keeps its partitions before the others take them over")
	fs.DurationVar(&k.RebalanceTimeout, "kafka-rebalance-timeout", processor.DefaultRebalanceTimeout, "how long a consumer group rebalance waits for the processors to join again; a processor must finish its batch in hand within it, and a dead one stops the others for at most this long")
	fs.DurationVar(&k.HeartbeatInterval, "kafka-heartbeat-interval", 0, "how often a processor heartbeats to its consumer groups; below --kafka-session-timeout (0: a fifth of it)")
	fs.DurationVar(&k.ProduceTimeout, "kafka-produce-timeout", processor.DefaultProduceTimeout, "how long POST /v1/messages waits for Kafka before answering 503 (at least 1s)")
	fs.StringVar(&k.Workers, "processor-workers", fmt.Sprintf("high=%d,normal=%d,low=%d", processor.DefaultHighWorkers, processor.DefaultNormalWorkers, processor.DefaultLowWorkers), "concurrent deliveries per priority")
	fs.DurationVar(&k.AckTimeout, "ack-timeout", processor.DefaultAckTimeout, "how long an async message's ack is awaited after delivery")
	fs.IntVar(&k.MaxPollRecords, "processor-max-poll-records", processor.DefaultMaxPollRecords, "the most messages of one processor batch (one poll); collapse keys apply within a batch")
	fs.DurationVar(&k.DeliveryTimeout, "processor-delivery-timeout", processor.DefaultDeliveryTimeout, "bound on one delivery attempt of an async message, up to its write to the device; keep it below --kafka-rebalance-timeout")
	fs.IntVar(&k.MaxAttempts, "processor-max-attempts", processor.DefaultMaxAttempts, "attempts at an async delivery that failed because a part of the platform was unavailable")
	fs.DurationVar(&k.RetryBackoff, "processor-retry-backoff", processor.DefaultRetryBackoff, "wait before an async delivery's second attempt, doubled for each further one")
	fs.DurationVar(&k.CommitInterval, "processor-commit-interval", processor.DefaultCommitInterval, "how often a processor commits the offsets of the batches it has finished (and before a rebalance and at exit); a processor that dies leaves up to this much to be delivered again")
	fs.DurationVar(&k.FetchWait, "processor-fetch-wait", 0, "the least time between a processor's polls while messages flow (0: it polls again at once; else 10ms to 1s), so that a poll takes that long's messages in one batch: fewer Kafka round trips per message at a steady rate, for up to this much more delivery latency; an idle processor does not wait")
	fs.DurationVar(&k.StatusFetchWait, "status-fetch-wait", processor.DefaultStatusFetchWait, "the least time between the status materializer's polls while events flow (0: it polls again at once; else 10ms to 1s): fewer Kafka round trips per event, while GET /v1/messages/{id} may show an outcome up to twice this much later; no delivery waits for it")
	fs.DurationVar(&k.ProduceLinger, "kafka-produce-linger", 0, "how long a message sent to POST /v1/messages waits for others to share its Kafka produce request (0 to 100ms): fewer produce requests at a steady rate, each send answered up to this much later")
	fs.StringVar(&k.Compression, "kafka-compression", "", "codec of the record batches Herald produces: "+strings.Join(processor.Compressions(), ", ")+" (default: snappy, or none on herald dev's embedded cluster, which is in the same process)")
	fs.DurationVar(&k.MetadataMinAge, "kafka-metadata-min-age", processor.DefaultMetadataMinAge, fmt.Sprintf("the least time between two metadata requests of a Kafka client (%v to %v): after a partition's leader moved, how soon the clients ask where it went again", processor.MinMetadataMinAge, processor.MaxMetadataMinAge))
	fs.DurationVar(&k.PublishTimeout, "publish-timeout", processor.DefaultPublishTimeout, "how long a processor waits for the edges' counts of an asynchronous publish to a topic")
	fs.DurationVar(&k.StatusTTL, "status-ttl", processor.DefaultStatusTTL, "how long GET /v1/messages/{id} remembers a message")
	if dev {
		fs.IntVar(&k.DevPort, "kafka-port", 0, "port of the embedded Kafka cluster on 127.0.0.1 (0: any free port)")
		fs.DurationVar(&k.DevRetention, "kafka-retention", time.Hour, "how long the embedded Kafka cluster keeps records")
		fs.Int64Var(&k.DevRetentionBytes, "kafka-retention-bytes", 64<<20, "bytes the embedded Kafka cluster keeps per partition")
	}
}

// Validate checks the Kafka settings.
func (k *Kafka) Validate() error {
	if k.Partitions < 1 {
		return Usagef("--kafka-partitions must be at least 1, got %d", k.Partitions)
	}
	if k.Replication == 0 || k.Replication < -1 || k.Replication > 32767 {
		return Usagef("--kafka-replication must be -1 or between 1 and 32767, got %d", k.Replication)
	}
	if k.ProduceTimeout < time.Second {
		return Usagef("--kafka-produce-timeout must be at least 1s, got %v", k.ProduceTimeout)
	}
	if k.SessionTimeout < time.Second {
		return Usagef("--kafka-session-timeout must be at least 1s, got %v", k.SessionTimeout)
	}
	if k.RebalanceTimeout < time.Second {
		return Usagef("--kafka-rebalance-timeout must be at least 1s, got %v", k.RebalanceTimeout)
	}
	if k.HeartbeatInterval < 0 || k.HeartbeatInterval >= k.SessionTimeout {
		return Usagef("--kafka-heartbeat-interval must be 0 (a fifth of --kafka-session-timeout) or positive and below --kafka-session-timeout (%v), got %v", k.SessionTimeout, k.HeartbeatInterval)
	}
	if k.Embedded && (k.DevRetention <= 0 || k.DevRetentionBytes <= 0) {
		return Usagef("--kafka-retention and --kafka-retention-bytes must be positive: the embedded cluster keeps everything in memory")
	}
	if k.AckTimeout <= 0 || k.StatusTTL <= 0 || k.PublishTimeout <= 0 || k.CommitInterval <= 0 {
		return Usagef("--ack-timeout, --publish-timeout, --processor-commit-interval and --status-ttl must be positive")
	}
	if k.DeliveryTimeout <= 0 || k.RetryBackoff <= 0 {
		return Usagef("--processor-delivery-timeout and --processor-retry-backoff must be positive, got %v and %v", k.DeliveryTimeout, k.RetryBackoff)
	}
	if k.MaxPollRecords < 1 || k.MaxAttempts < 1 {
		return Usagef("--processor-max-poll-records and --processor-max-attempts must be at least 1, got %d and %d", k.MaxPollRecords, k.MaxAttempts)
	}
	for _, w := range []struct {
		flag string
		v    time.Duration
	}{{"--processor-fetch-wait", k.FetchWait}, {"--status-fetch-wait", k.StatusFetchWait}} {
		if w.v != 0 && (w.v < processor.MinFetchWait || w.v > processor.MaxFetchWait) {
			return Usagef("%s must be 0 (off) or between %v and %v, got %v", w.flag, processor.MinFetchWait, processor.MaxFetchWait, w.v)
		}
	}
	if k.ProduceLinger < 0 || k.ProduceLinger > processor.MaxProduceLinger {
		return Usagef("--kafka-produce-linger must be between 0 and %v, got %v", processor.MaxProduceLinger, k.ProduceLinger)
	}
	if _, err := ParseWorkers(k.Workers); err != nil {
		return err
	}
	if (k.TLSCA != "" || k.TLSCert != "" || k.TLSKey != "") && !k.TLS {
		return Usagef("--kafka-tls-ca, --kafka-tls-cert and --kafka-tls-key need --kafka-tls")
	}
	if _, err := (processor.Kafka{Brokers: []string{"x"}, SASLMechanism: k.SASLMechanism, SASLUser: k.SASLUser}).Opts(); err != nil {
		return Usagef("--kafka-sasl-mechanism/--kafka-sasl-user: %v", err)
	}
	if _, err := (processor.Kafka{Brokers: []string{"x"}, Compression: k.Compression}).Opts(); err != nil {
		return Usagef("--kafka-compression: %v", err)
	}
	if k.MetadataMinAge < processor.MinMetadataMinAge || k.MetadataMinAge > processor.MaxMetadataMinAge {
		return Usagef("--kafka-metadata-min-age must be between %v and %v, got %v", processor.MinMetadataMinAge, processor.MaxMetadataMinAge, k.MetadataMinAge)
	}
	return nil
}

// EffectiveCompression is the codec Herald produces with: --kafka-compression,
// or when it is empty, none on herald dev's embedded cluster (embedded), where
// compressing only spends the process's CPU on both ends, and franz-go's
// default (snappy) on any other.
func (k *Kafka) EffectiveCompression(embedded bool) string {
	if k.Compression == "" && embedded {
		return "none"
	}
	return k.Compression
}

// ParseWorkers parses high=16,normal=8,low=4.
func ParseWorkers(s string) (map[protocol.Priority]int, error) {
	out := map[protocol.Priority]int{}
	for _, part := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		v, err := strconv.Atoi(n)
		p := protocol.Priority(name)
		if !ok || err != nil || v < 1 || (p != protocol.PriorityHigh && p != protocol.PriorityNormal && p != protocol.PriorityLow) {
			return nil, Usagef("--processor-workers: %q must be priority=count with a priority of high, normal or low and a count of at least 1", part)
		}
		out[p] = v
	}
	return out, nil
}

// Opts returns the franz-go options that reach the configured cluster.
func (k *Kafka) Opts(clientID string) ([]kgo.Opt, error) {
	kc := processor.Kafka{Brokers: k.Brokers, SASLMechanism: k.SASLMechanism, SASLUser: k.SASLUser, SASLPassword: k.SASLPassword, ClientID: clientID, Compression: k.Compression,
		MetadataMinAge: k.MetadataMinAge}
	if k.TLS {
		t, err := processor.TLSConfig(k.TLSCA, k.TLSCert, k.TLSKey)
		if err != nil {
			return nil, Usagef("%v", err)
		}
		kc.TLS = t
	}
	return kc.Opts()
}

// GroupTimeouts returns the consumer group timeouts of the processor and the
// materializer.
func (k *Kafka) GroupTimeouts() processor.GroupTimeouts {
	return processor.GroupTimeouts{Session: k.SessionTimeout, Rebalance: k.RebalanceTimeout, Heartbeat: k.HeartbeatInterval}
}

// Topics names the topics by --kafka-topic-prefix.
func (k *Kafka) Topics() processor.Topics { return processor.Topics{Prefix: k.TopicPrefix} }

// TopicSpec returns how the topics are created: --kafka-partitions and
// --kafka-replication, or for herald dev's embedded cluster (embedded) three
// partitions with its retention.
func (k *Kafka) TopicSpec(embedded bool) processor.TopicSpec {
	spec := processor.TopicSpec{Partitions: int32(k.Partitions), ReplicationFactor: int16(k.Replication)}
	if embedded {
		spec.Partitions = 3
		spec.Retention, spec.RetentionBytes = k.DevRetention, k.DevRetentionBytes
	}
	return spec
}

// ProcessorConfig returns the processor's configuration as the settings give
// it: its topics, group, mirrored topics, workers, timeouts and fetch wait.
// The Kafka client options and the parts it delivers through are
// cmd/herald's to add.
func (c *Server) ProcessorConfig() (processor.Config, error) {
	k := &c.Kafka
	workers, err := ParseWorkers(k.Workers)
	if err != nil {
		return processor.Config{}, err
	}
	gt := k.GroupTimeouts()
	return processor.Config{
		Topics:            k.Topics(),
		Group:             k.Group,
		Mirrored:          c.Mirror.ConsumeMirrored,
		PublishTimeout:    k.PublishTimeout,
		Workers:           workers,
		AckTimeout:        k.AckTimeout,
		CommitInterval:    k.CommitInterval,
		FetchWait:         k.FetchWait,
		MaxPollRecords:    k.MaxPollRecords,
		DeliveryTimeout:   k.DeliveryTimeout,
		MaxAttempts:       k.MaxAttempts,
		RetryBackoff:      k.RetryBackoff,
		SessionTimeout:    gt.Session,
		RebalanceTimeout:  gt.Rebalance,
		HeartbeatInterval: gt.Heartbeat,
	}, nil
}

// MaterializerConfig returns the status materializer's configuration as the
// settings give it: its topics, group (the processor's, with ".status"), the
// other regions' status topics it reads and its fetch wait. The Kafka client
// options, the store, metrics and logger are cmd/herald's to add.
func (c *Server) MaterializerConfig() processor.MaterializerConfig {
	k := &c.Kafka
	gt := k.GroupTimeouts()
	return processor.MaterializerConfig{
		Topics: k.Topics(), Group: k.Group + ".status", StatusMirrors: c.Mirror.StatusMirrors,
		SessionTimeout: gt.Session, RebalanceTimeout: gt.Rebalance, HeartbeatInterval: gt.Heartbeat,
		FetchWait: k.StatusFetchWait,
	}
}

// ProducerConfig returns the configuration of the producer of the api role
// (which also reports the status events of the api and edge roles) as the
// settings give it: its topics, timeout and linger. The Kafka client options,
// logger and tracer are cmd/herald's to add.
func (c *Server) ProducerConfig() processor.ProducerConfig {
	k := &c.Kafka
	return processor.ProducerConfig{Topics: k.Topics(), Timeout: k.ProduceTimeout, Linger: k.ProduceLinger}
}
