package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/settings"
	"github.com/redis/rueidis"
)

// asyncParts are what the api role needs of the asynchronous path; all nil
// without Kafka.
type asyncParts struct {
	queue       api.Queue
	statuses    api.Statuses
	idempotency processor.Idempotency
}

// buildAsync builds the asynchronous path of a node: the embedded cluster of
// `herald dev`, the topics, the producer of the api role, the processor and the
// status materializer of the processor role. Without Kafka it builds nothing.
func (n *node) buildAsync(c *settings.Server, redis rueidis.Client, router *edge.Router, log *slog.Logger) (asyncParts, error) {
	k := &c.Kafka
	brokers := k.Brokers
	if len(brokers) == 0 && k.Embedded {
		e, err := startEmbeddedKafka(k.DevPort, log)
		if err != nil {
			return asyncParts{}, err
		}
		n.kafka = e
		n.closers = append(n.closers, e.close)
		brokers = e.cluster.ListenAddrs()
	}
	if len(brokers) == 0 {
		return asyncParts{}, nil
	}
	n.kafkaAddrs = brokers
	kc := *k
	kc.Brokers = brokers
	opts, err := kc.Opts("herald-" + c.EdgeID)
	if err != nil {
		return asyncParts{}, err
	}
	topics := k.Topics()
	prod, err := processor.NewProducer(processor.ProducerConfig{Kafka: opts, Topics: topics, Timeout: k.ProduceTimeout})
	if err != nil {
		return asyncParts{}, err
	}
	n.closers = append(n.closers, prod.Close)
	if k.CreateTopics {
		spec := processor.TopicSpec{Partitions: int32(k.Partitions), ReplicationFactor: int16(k.Replication)}
		if n.kafka != nil {
			spec.Partitions = 3
			spec.Retention, spec.RetentionBytes = k.DevRetention, k.DevRetentionBytes
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := processor.EnsureTopics(ctx, prod.Client(), topics.All(), spec)
		cancel()
		if err != nil {
			return asyncParts{}, fmt.Errorf("kafka at %v: %w (run with --kafka-create-topics=false where topics are managed elsewhere)", brokers, err)
		}
	}
	var parts asyncParts
	var store processor.StatusStore
	if redis != nil {
		store = processor.NewRedisStatus(redis, c.RedisPrefix, k.StatusTTL)
		parts.idempotency = processor.NewRedisIdempotency(redis, c.RedisPrefix)
	} else {
		store = processor.NewMemoryStatus(k.StatusTTL, 0)
		parts.idempotency = processor.NewMemoryIdempotency(0)
	}
	if c.HasRole("api") {
		n.producer = prod
		parts.queue, parts.statuses = prod, store
	}
	if c.HasRole("processor") {
		workers, err := settings.ParseWorkers(k.Workers)
		if err != nil {
			return asyncParts{}, err
		}
		gt := k.GroupTimeouts()
		n.processor, err = processor.New(processor.Config{
			Kafka:             opts,
			Topics:            topics,
			Group:             k.Group,
			Deliverer:         router,
			Directory:         n.registry,
			Inbox:             n.inbox,
			Nudger:            router,
			Workers:           workers,
			AckTimeout:        k.AckTimeout,
			SessionTimeout:    gt.Session,
			RebalanceTimeout:  gt.Rebalance,
			HeartbeatInterval: gt.Heartbeat,
			Metrics:           n.metrics,
			Types:             n.types,
			Logger:            log.With("part", "processor"),
		})
		if err != nil {
			return asyncParts{}, settings.Usagef("%v", err)
		}
		n.materializer = &processor.MaterializerConfig{
			Kafka: opts, Topics: topics, Group: k.Group + ".status", Store: store,
			SessionTimeout: gt.Session, RebalanceTimeout: gt.Rebalance, HeartbeatInterval: gt.Heartbeat,
			Logger: log.With("part", "materializer"), Metrics: n.metrics,
		}
	}
	return parts, nil
}

// runAsync starts the processor and the materializer, if the node has them, and
// returns a function that stops them and waits until they have committed what
// they hold, or until its ctx ends.
func (n *node) runAsync(log *slog.Logger) (stop func(context.Context) error) {
	if n.processor == nil {
		return func(context.Context) error { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := n.processor.Run(ctx); err != nil {
			log.Error("processor stopped", "err", err)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		if err := processor.RunMaterializer(ctx, *n.materializer); err != nil {
			log.Error("materializer stopped", "err", err)
		}
	}()
	return func(wctx context.Context) error {
		cancel()
		for range 2 {
			select {
			case <-done:
			case <-wctx.Done():
				return fmt.Errorf("the processor did not commit and stop within the shutdown grace: %w", wctx.Err())
			}
		}
		return nil
	}
}
