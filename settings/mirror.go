package settings

import (
	"flag"
	"regexp"
	"time"

	"github.com/heraldpush/herald/mirror"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// Mirror is the configuration of the mirror role (package mirror): the source
// cluster it copies from (the target is --kafka-brokers), and the mirrored
// topics the processor role reads.
type Mirror struct {
	// Source reaches the source cluster: its brokers, TLS and SASL, read by
	// the same code as --kafka-*, under --mirror-source-*.
	Source               Kafka
	SourceAlias          string
	Topics               string
	Group                string
	MaxPollRecords       int
	FetchMaxBytes        int
	MaxConcurrentFetches int
	ProduceTimeout       time.Duration
	DiscoveryInterval    time.Duration

	// StatusMirrors and ConsumeMirrored name the regions whose mirrored
	// status topics the materializer reads, and whose mirrored message topics
	// the processors consume.
	StatusMirrors   List
	ConsumeMirrored List
}

// Flags defines the settings of the mirror role and of the mirrored topics on
// fs (serve only).
func (m *Mirror) Flags(fs *flag.FlagSet) {
	fs.Var(&m.Source.Brokers, "mirror-source-brokers", "the mirror role: seed brokers of the source region's Kafka cluster, comma-separated host:port; the target is --kafka-brokers")
	fs.BoolVar(&m.Source.TLS, "mirror-source-tls", false, "the mirror role: connect to the source cluster over TLS")
	fs.StringVar(&m.Source.TLSCA, "mirror-source-tls-ca", "", "the mirror role: PEM file of the CA certificates that the source brokers' are checked against (default: the system's)")
	fs.StringVar(&m.Source.TLSCert, "mirror-source-tls-cert", "", "the mirror role: PEM client certificate for the source cluster (with --mirror-source-tls-key)")
	fs.StringVar(&m.Source.TLSKey, "mirror-source-tls-key", "", "the mirror role: PEM key of the source client certificate")
	fs.StringVar(&m.Source.SASLMechanism, "mirror-source-sasl-mechanism", "", "the mirror role: SASL mechanism of the source cluster: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none")
	fs.StringVar(&m.Source.SASLUser, "mirror-source-sasl-user", "", "the mirror role: SASL user on the source cluster")
	fs.StringVar(&m.Source.SASLPassword, "mirror-source-sasl-password", "", "the mirror role: SASL password on the source cluster")
	fs.StringVar(&m.SourceAlias, "mirror-source-alias", "", "the mirror role: the source region's name ([a-z][a-z0-9-]{0,31}); source topic T is copied to <alias>.T")
	fs.StringVar(&m.Topics, "mirror-topics", "", `the mirror role: regexp of the source topics to copy (default: the message and status topics of --kafka-topic-prefix, ^herald\.(messages\.(high|normal|low)|status)$); a topic that starts with a region name and a dot is never copied`)
	fs.StringVar(&m.Group, "mirror-group", "", "the mirror role: consumer group on the source cluster (default: "+mirror.DefaultGroupPrefix+"<alias>)")
	fs.IntVar(&m.MaxPollRecords, "mirror-max-poll-records", mirror.DefaultMaxPollRecords, "the mirror role: records of one batch, the only one a mirror holds at a time")
	fs.IntVar(&m.FetchMaxBytes, "mirror-fetch-max-bytes", mirror.DefaultFetchMaxBytes, "the mirror role: bytes of one fetch from the source cluster")
	fs.IntVar(&m.MaxConcurrentFetches, "mirror-max-concurrent-fetches", mirror.DefaultMaxConcurrentFetches, "the mirror role: fetches from the source in flight or buffered at once (with --mirror-fetch-max-bytes, the bound of the fetch buffer)")
	fs.DurationVar(&m.ProduceTimeout, "mirror-produce-timeout", mirror.DefaultProduceTimeout, "the mirror role: how long one attempt at copying a batch waits for the target cluster's acknowledgement")
	fs.DurationVar(&m.DiscoveryInterval, "mirror-discovery-interval", mirror.DefaultDiscoveryInterval, "the mirror role: how often the source cluster is asked for new topics that --mirror-topics matches")
	fs.Var(&m.StatusMirrors, "status-mirrors", "the processor role: regions, comma-separated, whose mirrored status topics (<region>.herald.status) the materializer reads too, so that GET /v1/messages/{id} shows their outcomes")
	fs.Var(&m.ConsumeMirrored, "consume-mirrored", "the processor role: regions, comma-separated, whose mirrored message topics (<region>.herald.messages.<priority>) the processors consume too, each with its priority: the switch that delivers from here what a lost region accepted")
}

// Validate checks the settings of the mirror role, when the process runs it,
// and the mirrored topics, against the topics of k.
func (m *Mirror) Validate(k *Kafka, mirrorRole, processorRole bool) error {
	for _, l := range []struct {
		name string
		v    List
	}{{"--status-mirrors", m.StatusMirrors}, {"--consume-mirrored", m.ConsumeMirrored}} {
		for _, r := range l.v {
			if !protocol.ValidRegion(r) {
				return Usagef("%s: %q is not a region name: a lowercase letter, then up to 31 lowercase letters, digits or '-'", l.name, r)
			}
		}
		if len(l.v) > 0 && !processorRole {
			return Usagef("%s needs the processor role: it says what the processors and the materializer read", l.name)
		}
	}
	if !mirrorRole {
		return nil
	}
	if len(k.Brokers) == 0 {
		return Usagef("--kafka-brokers (or HERALD_KAFKA_BROKERS) is required for the mirror role: it is the target cluster")
	}
	if len(m.Source.Brokers) == 0 {
		return Usagef("--mirror-source-brokers (or HERALD_MIRROR_SOURCE_BROKERS) is required for the mirror role")
	}
	if m.SourceAlias == "" {
		return Usagef("--mirror-source-alias (or HERALD_MIRROR_SOURCE_ALIAS) is required for the mirror role: the source region's name")
	}
	if err := mirror.CheckAlias(k.Topics(), m.SourceAlias); err != nil {
		return Usagef("--mirror-source-alias: %v", err)
	}
	if m.Topics != "" {
		if _, err := regexp.Compile(m.Topics); err != nil {
			return Usagef("--mirror-topics %q: %v", m.Topics, err)
		}
	}
	switch {
	case m.MaxPollRecords < 1:
		return Usagef("--mirror-max-poll-records must be at least 1, got %d", m.MaxPollRecords)
	case m.FetchMaxBytes < 1 || m.FetchMaxBytes > 1<<30:
		return Usagef("--mirror-fetch-max-bytes must be between 1 and 1073741824, got %d", m.FetchMaxBytes)
	case m.MaxConcurrentFetches < 1:
		return Usagef("--mirror-max-concurrent-fetches must be at least 1, got %d", m.MaxConcurrentFetches)
	case m.ProduceTimeout < time.Second:
		return Usagef("--mirror-produce-timeout must be at least 1s, got %v", m.ProduceTimeout)
	case m.DiscoveryInterval < 100*time.Millisecond:
		return Usagef("--mirror-discovery-interval must be at least 100ms, got %v", m.DiscoveryInterval)
	}
	if (m.Source.TLSCA != "" || m.Source.TLSCert != "" || m.Source.TLSKey != "") && !m.Source.TLS {
		return Usagef("--mirror-source-tls-ca, --mirror-source-tls-cert and --mirror-source-tls-key need --mirror-source-tls")
	}
	if _, err := (processor.Kafka{Brokers: []string{"x"}, SASLMechanism: m.Source.SASLMechanism, SASLUser: m.Source.SASLUser}).Opts(); err != nil {
		return Usagef("--mirror-source-sasl-mechanism/--mirror-source-sasl-user: %v", err)
	}
	return nil
}

// Config returns the mirror's configuration but its logger and metrics: the
// source from --mirror-source-*, the target from k (--kafka-*), the group
// timeouts of k.
func (m *Mirror) Config(k *Kafka, clientID string) (mirror.Config, error) {
	src, err := m.Source.Opts(clientID)
	if err != nil {
		return mirror.Config{}, err
	}
	tgt, err := k.Opts(clientID)
	if err != nil {
		return mirror.Config{}, err
	}
	gt := k.GroupTimeouts()
	return mirror.Config{
		Source:               src,
		Target:               tgt,
		Alias:                m.SourceAlias,
		Topics:               k.Topics(),
		Filter:               m.Topics,
		Group:                m.Group,
		MaxPollRecords:       m.MaxPollRecords,
		FetchMaxBytes:        int32(m.FetchMaxBytes),
		MaxConcurrentFetches: m.MaxConcurrentFetches,
		ProduceTimeout:       m.ProduceTimeout,
		DiscoveryInterval:    m.DiscoveryInterval,
		Replication:          int16(k.Replication),
		SessionTimeout:       gt.Session,
		RebalanceTimeout:     gt.Rebalance,
		HeartbeatInterval:    gt.Heartbeat,
	}, nil
}
