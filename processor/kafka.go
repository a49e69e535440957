package processor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Defaults of the Kafka settings.
const (
	DefaultTopicPrefix = "herald."
	DefaultPartitions  = 12
	DefaultGroup       = "herald-processor"
)

// Defaults of the consumer group timeouts of the processors and the
// materializer.
//
// The session timeout bounds how long a dead member keeps its partitions; it is
// lower than franz-go's 45s so that a killed processor's partitions move within
// seconds, and within the brokers' usual group.min.session.timeout.ms (6s).
//
// The rebalance timeout bounds how long a rebalance waits for the members to
// rejoin, and so how long consumption stops when a member dies while its group
// forms; franz-go's default is 60s. A member joins again only once its batch in
// hand is delivered and committed (BlockRebalanceOnPoll), so it must cover one
// delivery attempt (DefaultDeliveryTimeout, 10s) plus the flush and commit that
// follow and the heartbeat that tells the member of the rebalance. A member that
// takes longer is dropped from the group: its uncommitted batch is delivered
// again by the next owner (at least once), nothing is lost.
//
// The heartbeat interval defaults to a fifth of the session timeout: a member
// learns of a rebalance from a heartbeat, and four may be lost before the
// session ends.
const (
	DefaultSessionTimeout   = 10 * time.Second
	DefaultRebalanceTimeout = 20 * time.Second
)

// GroupTimeouts are the timeouts of a consumer group member. Zero values take
// the defaults.
type GroupTimeouts struct {
	// Session is how long the group waits for a silent member before giving its
	// partitions to the others. Default [DefaultSessionTimeout].
	Session time.Duration
	// Rebalance is how long a rebalance waits for the members to join again
	// before it goes on without them. Default [DefaultRebalanceTimeout].
	Rebalance time.Duration
	// Heartbeat is how often a member tells the group it is alive; below
	// Session. Default Session / 5.
	Heartbeat time.Duration
}

// resolve fills in the defaults and validates t.
func (t GroupTimeouts) resolve() (GroupTimeouts, error) {
	if t.Session < 0 || t.Rebalance < 0 || t.Heartbeat < 0 {
		return t, errors.New("kafka: the group timeouts must not be negative")
	}
	if t.Session == 0 {
		t.Session = DefaultSessionTimeout
	}
	if t.Rebalance == 0 {
		t.Rebalance = DefaultRebalanceTimeout
	}
	if t.Heartbeat == 0 {
		t.Heartbeat = t.Session / 5
	}
	if t.Session < 100*time.Millisecond || t.Rebalance < 100*time.Millisecond {
		return t, fmt.Errorf("kafka: the session timeout (%v) and the rebalance timeout (%v) must be at least 100ms", t.Session, t.Rebalance)
	}
	if t.Heartbeat >= t.Session {
		return t, fmt.Errorf("kafka: the heartbeat interval (%v) must be below the session timeout (%v)", t.Heartbeat, t.Session)
	}
	return t, nil
}

// Options returns the franz-go options of the timeouts with the defaults
// filled in, for another consumer group of the async path (the mirror's).
func (t GroupTimeouts) Options() ([]kgo.Opt, error) {
	r, err := t.resolve()
	if err != nil {
		return nil, err
	}
	return r.opts(), nil
}

// opts returns the franz-go options of the timeouts, resolved.
func (t GroupTimeouts) opts() []kgo.Opt {
	return []kgo.Opt{kgo.SessionTimeout(t.Session), kgo.RebalanceTimeout(t.Rebalance), kgo.HeartbeatInterval(t.Heartbeat)}
}

// Priorities lists the priorities from the most urgent down.
var Priorities = []protocol.Priority{protocol.PriorityHigh, protocol.PriorityNormal, protocol.PriorityLow}

// Topics names the topics of the asynchronous path.
type Topics struct {
	// Prefix starts every topic name. Default [DefaultTopicPrefix].
	Prefix string
}

// Messages returns the topic of a priority.
func (t Topics) Messages(p protocol.Priority) string { return t.prefix() + "messages." + string(p) }

// Status returns the status topic.
func (t Topics) Status() string { return t.prefix() + "status" }

// All returns every topic: the three message topics and the status topic.
func (t Topics) All() []string {
	all := make([]string, 0, len(Priorities)+1)
	for _, p := range Priorities {
		all = append(all, t.Messages(p))
	}
	return append(all, t.Status())
}

// Mirrored returns the topics of region as they are mirrored into this
// region's cluster: <region>.<topic> (herald.status of region eu is
// eu.herald.status), MirrorMaker 2's DefaultReplicationPolicy, which package
// mirror follows too.
func (t Topics) Mirrored(region string) Topics { return Topics{Prefix: region + "." + t.prefix()} }

// WithMirrored returns every topic (All) and the mirrored topics that a
// processor reads: the status topics of statusMirrors' regions and the message
// topics of consumeMirrored's.
func (t Topics) WithMirrored(statusMirrors, consumeMirrored []string) []string {
	all := t.All()
	for _, r := range statusMirrors {
		all = append(all, t.Mirrored(r).Status())
	}
	for _, r := range consumeMirrored {
		for _, p := range Priorities {
			all = append(all, t.Mirrored(r).Messages(p))
		}
	}
	return all
}

// checkRegions says which of regions is not a region name, nil when all are.
func checkRegions(what string, regions []string) error {
	for _, r := range regions {
		if !protocol.ValidRegion(r) {
			return fmt.Errorf("%s: %q is not a region name ([a-z][a-z0-9-]{0,31})", what, r)
		}
	}
	return nil
}

func (t Topics) prefix() string {
	if t.Prefix == "" {
		return DefaultTopicPrefix
	}
	return t.Prefix
}

// Kafka says how to reach a Kafka cluster.
type Kafka struct {
	// Brokers are seed broker addresses, host:port. Required.
	Brokers []string
	// TLS, when not nil, encrypts the connections.
	TLS *tls.Config
	// SASLMechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"; the user
	// and password authenticate with it.
	SASLMechanism, SASLUser, SASLPassword string
	// ClientID names this process to the brokers.
	ClientID string
	// Compression is the codec of the record batches this process produces:
	// "none", "gzip", "snappy", "lz4" or "zstd"; "" is franz-go's default,
	// snappy. Consumers read every codec whatever this says.
	Compression string
	// MetadataMinAge is the least time between two metadata requests of a
	// client: after a broker's answer says that its metadata is stale (a
	// partition whose leader moved), the client asks for it again no sooner.
	// 0 is DefaultMetadataMinAge; else between MinMetadataMinAge and
	// MaxMetadataMinAge.
	MetadataMinAge time.Duration
}

// Bounds of Kafka.MetadataMinAge. franz-go's own default, 5 s, was how long
// deliveries stopped after a partition's leader moved whenever the refresh
// that the first refusal triggered came before the new leader was known:
// the client waited out the rest of the 5 s before it asked again
// (TestFaultKafkaLeaderMoved). One refresh a second at most, and only while
// answers say the metadata is stale, costs a cluster nothing.
const (
	DefaultMetadataMinAge = time.Second
	MinMetadataMinAge     = 100 * time.Millisecond
	MaxMetadataMinAge     = time.Minute
)

// compressions are the codecs Kafka.Compression names, besides "".
var compressions = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// Compressions returns the names Kafka.Compression takes, besides "".
func Compressions() []string {
	names := make([]string, len(compressions))
	for i, c := range compressions {
		names[i] = c.name
	}
	return names
}

// compressor returns the compressor of the codec named name, nil for "" (the
// client's default). It is made once and shared by every client built from
// the same options: franz-go's ProducerBatchCompression would have each new
// client rewrite the one codec slice the option holds, a data race when
// clients start together.
func compressor(name string) (kgo.Compressor, error) {
	if name == "" {
		return nil, nil
	}
	if strings.EqualFold(name, "none") {
		return uncompressed{}, nil
	}
	for _, c := range compressions {
		if strings.EqualFold(name, c.name) {
			return kgo.DefaultCompressor(c.codec)
		}
	}
	return nil, fmt.Errorf("kafka: unknown compression %q (want one of %s)", name, strings.Join(Compressions(), ", "))
}

// uncompressed is the compressor of "none": a batch it answers nil for is
// sent as it is.
type uncompressed struct{}

func (uncompressed) Compress(*bytes.Buffer, []byte, ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	return nil, kgo.CodecNone
}

// Opts returns the franz-go options that connect to k.
func (k Kafka) Opts() ([]kgo.Opt, error) {
	if len(k.Brokers) == 0 {
		return nil, errors.New("kafka: at least one broker address is required")
	}
	age := k.MetadataMinAge
	if age == 0 {
		age = DefaultMetadataMinAge
	}
	if age < MinMetadataMinAge || age > MaxMetadataMinAge {
		return nil, fmt.Errorf("kafka: the metadata minimum age must be between %v and %v, got %v", MinMetadataMinAge, MaxMetadataMinAge, age)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.MetadataMinAge(age)}
	if k.ClientID != "" {
		opts = append(opts, kgo.ClientID(k.ClientID))
	}
	if k.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(k.TLS))
	}
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", k.SASLMechanism)
	}
	if k.SASLMechanism != "" && k.SASLUser == "" {
		return nil, errors.New("kafka: SASL needs a user")
	}
	c, err := compressor(k.Compression)
	if err != nil {
		return nil, err
	}
	if c != nil {
		opts = append(opts, kgo.WithCompressor(c))
	}
	return opts, nil
}

// TLSConfig returns a client TLS configuration that trusts the PEM certificates
// in caFile (the system pool when empty) and, when certFile and keyFile are set,
// presents that client certificate.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: %s holds no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("kafka tls: a client certificate needs both the certificate and the key file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// TopicSpec says how EnsureTopics creates missing topics.
type TopicSpec struct {
	// Partitions per topic; default [DefaultPartitions].
	Partitions int32
	// ReplicationFactor; 0 or -1 takes the brokers' default.
	ReplicationFactor int16
	// Retention, when positive, sets retention.ms on the topics created.
	Retention time.Duration
	// RetentionBytes, when positive, sets retention.bytes (per partition).
	RetentionBytes int64
}

// EnsureTopics creates the topics that do not exist yet; existing ones are left
// as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, topics []string, spec TopicSpec) error {
	if spec.Partitions == 0 {
		spec.Partitions = DefaultPartitions
	}
	if spec.ReplicationFactor == 0 {
		spec.ReplicationFactor = -1
	}
	configs := map[string]*string{}
	if spec.Retention > 0 {
		v := strconv.FormatInt(spec.Retention.Milliseconds(), 10)
		configs["retention.ms"] = &v
	}
	if spec.RetentionBytes > 0 {
		v := strconv.FormatInt(spec.RetentionBytes, 10)
		configs["retention.bytes"] = &v
	}
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, spec.Partitions, spec.ReplicationFactor, configs, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
