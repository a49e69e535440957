package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaConfig is the Kafka part of a server's configuration.
type kafkaConfig struct {
	brokers           listFlag
	tls               bool
	tlsCA             string
	tlsCert           string
	tlsKey            string
	saslMechanism     string
	saslUser          string
	saslPassword      string
	topicPrefix       string
	partitions        int
	replication       int
	createTopics      bool
	group             string
	sessionTimeout    time.Duration
	rebalanceTimeout  time.Duration
	heartbeatInterval time.Duration
	produceTimeout    time.Duration
	workers           string
	ackTimeout        time.Duration
	statusTTL         time.Duration

	// embedded: `herald dev` starts its own cluster when no brokers are given.
	embedded bool
	// devRetention bounds how long the embedded cluster of `herald dev` keeps
	// records; devRetentionBytes bounds each partition.
	devRetention      time.Duration
	devRetentionBytes int64
	devPort           int
}

func (k *kafkaConfig) flags(fs *flag.FlagSet, dev bool) {
	k.createTopics, k.embedded = true, dev
	help := "Kafka seed brokers, comma-separated host:port; enables POST /v1/messages and the processor role"
	if dev {
		help = "Kafka seed brokers, comma-separated host:port; empty: an embedded in-memory cluster"
	}
	fs.Var(&k.brokers, "kafka-brokers", help)
	fs.BoolVar(&k.tls, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM file of the CA certificates that Kafka's are checked against (default: the system's)")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate for Kafka (with --kafka-tls-key)")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM key of the client certificate")
	fs.StringVar(&k.saslMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none")
	fs.StringVar(&k.saslUser, "kafka-sasl-user", "", "SASL user")
	fs.StringVar(&k.saslPassword, "kafka-sasl-password", "", "SASL password")
	fs.StringVar(&k.topicPrefix, "kafka-topic-prefix", processor.DefaultTopicPrefix, "prefix of the topic names: <prefix>messages.high|normal|low and <prefix>status")
	fs.IntVar(&k.partitions, "kafka-partitions", processor.DefaultPartitions, "partitions of each topic created at start (the processors' parallelism)")
	fs.IntVar(&k.replication, "kafka-replication", -1, "replication factor of the topics created at start; -1: the brokers' default")
	fs.BoolVar(&k.createTopics, "kafka-create-topics", true, "create missing topics at start (needs the CreateTopics permission)")
	fs.StringVar(&k.group, "kafka-group", processor.DefaultGroup, "consumer group prefix of the processors")
	fs.DurationVar(&k.sessionTimeout, "kafka-session-timeout", processor.DefaultSessionTimeout, "how long a silent processor keeps its partitions before the others take them over")
	fs.DurationVar(&k.rebalanceTimeout, "kafka-rebalance-timeout", processor.DefaultRebalanceTimeout, "how long a consumer group rebalance waits for the processors to join again; a processor must finish its batch in hand within it, and a dead one stops the others for at most this long")
	fs.DurationVar(&k.heartbeatInterval, "kafka-heartbeat-interval", 0, "how often a processor heartbeats to its consumer groups; below --kafka-session-timeout (0: a fifth of it)")
	fs.DurationVar(&k.produceTimeout, "kafka-produce-timeout", processor.DefaultProduceTimeout, "how long POST /v1/messages waits for Kafka before answering 503 (at least 1s)")
	fs.StringVar(&k.workers, "processor-workers", fmt.Sprintf("high=%d,normal=%d,low=%d", processor.DefaultHighWorkers, processor.DefaultNormalWorkers, processor.DefaultLowWorkers), "concurrent deliveries per priority")
	fs.DurationVar(&k.ackTimeout, "ack-timeout", processor.DefaultAckTimeout, "how long an async message's ack is awaited after delivery")
	fs.DurationVar(&k.statusTTL, "status-ttl", processor.DefaultStatusTTL, "how long GET /v1/messages/{id} remembers a message")
	if dev {
		fs.IntVar(&k.devPort, "kafka-port", 0, "port of the embedded Kafka cluster on 127.0.0.1 (0: any free port)")
		fs.DurationVar(&k.devRetention, "kafka-retention", time.Hour, "how long the embedded Kafka cluster keeps records")
		fs.Int64Var(&k.devRetentionBytes, "kafka-retention-bytes", 64<<20, "bytes the embedded Kafka cluster keeps per partition")
	}
}

// validate checks the Kafka settings.
func (k *kafkaConfig) validate() error {
	if k.partitions < 1 {
		return usagef("--kafka-partitions must be at least 1, got %d", k.partitions)
	}
	if k.replication == 0 || k.replication < -1 || k.replication > 32767 {
		return usagef("--kafka-replication must be -1 or between 1 and 32767, got %d", k.replication)
	}
	if k.produceTimeout < time.Second {
		return usagef("--kafka-produce-timeout must be at least 1s, got %v", k.produceTimeout)
	}
	if k.sessionTimeout < time.Second {
		return usagef("--kafka-session-timeout must be at least 1s, got %v", k.sessionTimeout)
	}
	if k.rebalanceTimeout < time.Second {
		return usagef("--kafka-rebalance-timeout must be at least 1s, got %v", k.rebalanceTimeout)
	}
	if k.heartbeatInterval < 0 || k.heartbeatInterval >= k.sessionTimeout {
		return usagef("--kafka-heartbeat-interval must be 0 (a fifth of --kafka-session-timeout) or positive and below --kafka-session-timeout (%v), got %v", k.sessionTimeout, k.heartbeatInterval)
	}
	if k.embedded && (k.devRetention <= 0 || k.devRetentionBytes <= 0) {
		return usagef("--kafka-retention and --kafka-retention-bytes must be positive: the embedded cluster keeps everything in memory")
	}
	if k.ackTimeout <= 0 || k.statusTTL <= 0 {
		return usagef("--ack-timeout and --status-ttl must be positive")
	}
	if _, err := parseWorkers(k.workers); err != nil {
		return err
	}
	if (k.tlsCA != "" || k.tlsCert != "" || k.tlsKey != "") && !k.tls {
		return usagef("--kafka-tls-ca, --kafka-tls-cert and --kafka-tls-key need --kafka-tls")
	}
	if _, err := (processor.Kafka{Brokers: []string{"x"}, SASLMechanism: k.saslMechanism, SASLUser: k.saslUser}).Opts(); err != nil {
		return usagef("--kafka-sasl-mechanism/--kafka-sasl-user: %v", err)
	}
	return nil
}

// parseWorkers parses high=16,normal=8,low=4.
func parseWorkers(s string) (map[protocol.Priority]int, error) {
	out := map[protocol.Priority]int{}
	for _, part := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		v, err := strconv.Atoi(n)
		p := protocol.Priority(name)
		if !ok || err != nil || v < 1 || (p != protocol.PriorityHigh && p != protocol.PriorityNormal && p != protocol.PriorityLow) {
			return nil, usagef("--processor-workers: %q must be priority=count with a priority of high, normal or low and a count of at least 1", part)
		}
		out[p] = v
	}
	return out, nil
}

// opts returns the franz-go options that reach the configured cluster.
func (k *kafkaConfig) opts(clientID string) ([]kgo.Opt, error) {
	kc := processor.Kafka{Brokers: k.brokers, SASLMechanism: k.saslMechanism, SASLUser: k.saslUser, SASLPassword: k.saslPassword, ClientID: clientID}
	if k.tls {
		t, err := processor.TLSConfig(k.tlsCA, k.tlsCert, k.tlsKey)
		if err != nil {
			return nil, usagef("%v", err)
		}
		kc.TLS = t
	}
	return kc.Opts()
}

// groupTimeouts returns the consumer group timeouts of the processor and the
// materializer.
func (k *kafkaConfig) groupTimeouts() processor.GroupTimeouts {
	return processor.GroupTimeouts{Session: k.sessionTimeout, Rebalance: k.rebalanceTimeout, Heartbeat: k.heartbeatInterval}
}

func (k *kafkaConfig) topics() processor.Topics { return processor.Topics{Prefix: k.topicPrefix} }

// embeddedKafka is the in-process cluster of `herald dev`, with a goroutine that
// applies its retention.
type embeddedKafka struct {
	cluster *kfake.Cluster
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// startEmbeddedKafka starts a one-broker in-memory cluster on loopback.
func startEmbeddedKafka(port int, log *slog.Logger) (*embeddedKafka, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &embeddedKafka{cluster: c, stop: cancel}
	// kfake applies retention on its own only hourly: often enough here.
	e.wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.ApplyRetention()
			}
		}
	})
	log.Debug("embedded kafka started", "addr", c.ListenAddrs())
	return e, nil
}

// close stops the retention goroutine and the cluster.
func (e *embeddedKafka) close() {
	e.stop()
	e.wg.Wait()
	e.cluster.Close()
}
