package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/mirror"
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
	// reporter produces the status events of stored messages that the api
	// and edge roles settle (sync pushes queued, stored messages delivered,
	// acked or expired at the edge) to the status topic.
	reporter *processor.Producer
}

// edgeStatuses reports the edge's outcomes of stored messages as status
// events.
type edgeStatuses struct{ p *processor.Producer }

func (s edgeStatuses) Report(o edge.StoredOutcome) {
	e := processor.Event{ID: o.ID, Account: o.Account, Device: o.Device, Status: processor.Outcome(o.Status), Error: o.Error, At: o.At.UnixMilli()}
	if !o.Expires.IsZero() {
		e.Expires = o.Expires.UnixMilli()
	}
	s.p.Report(e)
}

// statuses returns what the edge reports its stored messages' outcomes to:
// nil without Kafka.
func (a asyncParts) edgeStatuses() edge.Statuses {
	if a.reporter == nil {
		return nil
	}
	return edgeStatuses{a.reporter}
}

// apiReporter returns what the API reports its stored pushes to: nil
// without Kafka.
func (a asyncParts) apiReporter() api.Reporter {
	if a.reporter == nil {
		return nil
	}
	return a.reporter
}

// buildAsync builds the asynchronous path of a node: the embedded cluster of
// `herald dev`, the topics, the producer of the api role (which also reports
// the status events of the api and edge roles), the processor and the status
// materializer of the processor role. Without Kafka it builds nothing. An
// edge-only node makes no admin request: it starts whether Kafka answers or
// not.
func (n *node) buildAsync(c *settings.Server, redis rueidis.Client, router *edge.Router, log *slog.Logger) (asyncParts, error) {
	k := &c.Kafka
	brokers := k.Brokers
	if len(brokers) == 0 && k.Embedded {
		e, err := processor.StartEmbedded(k.DevPort, log)
		if err != nil {
			return asyncParts{}, err
		}
		n.kafka = e
		n.closers = append(n.closers, e.Close)
		brokers = e.Addrs()
	}
	if len(brokers) == 0 {
		return asyncParts{}, nil
	}
	n.kafkaAddrs = brokers
	kc := *k
	kc.Brokers = brokers
	kc.Compression = k.EffectiveCompression(n.kafka != nil)
	opts, err := kc.Opts("herald-" + c.EdgeID)
	if err != nil {
		return asyncParts{}, err
	}
	topics := k.Topics()
	prc := c.ProducerConfig()
	prc.Kafka, prc.Logger, prc.Tracer = opts, log.With("part", "status"), n.tracing.Tracer()
	prod, err := processor.NewProducer(prc)
	if err != nil {
		return asyncParts{}, err
	}
	n.closers = append(n.closers, prod.Close)
	parts := asyncParts{reporter: prod}
	if !c.HasRole("api") && !c.HasRole("processor") {
		return parts, nil
	}
	if k.CreateTopics {
		// The mirrored topics the processor role reads are created too, so
		// that its consumers subscribe to topics that exist; the mirror
		// grows them to their source's partitions when it has more.
		all := topics.All()
		if c.HasRole("processor") {
			all = topics.WithMirrored(c.Mirror.StatusMirrors, c.Mirror.ConsumeMirrored)
		}
		spec := k.TopicSpec(n.kafka != nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := processor.EnsureTopics(ctx, prod.Client(), all, spec)
		cancel()
		if err != nil {
			return asyncParts{}, fmt.Errorf("kafka at %v: %w (run with --kafka-create-topics=false where topics are managed elsewhere)", brokers, err)
		}
	}
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
		pc, err := c.ProcessorConfig()
		if err != nil {
			return asyncParts{}, err
		}
		pc.Kafka, pc.Directory, pc.Inbox, pc.Devices, pc.Types = opts, n.registry, n.inbox, devicelist.Listed{Store: n.devices}, n.types
		pc.Deliverer, pc.Publisher, pc.Nudger = router, router, router
		pc.Metrics, pc.Logger, pc.Tracer = n.metrics, log.With("part", "processor"), n.tracing.Tracer()
		if n.processor, err = processor.New(pc); err != nil {
			return asyncParts{}, settings.Usagef("%v", err)
		}
		mc := c.MaterializerConfig()
		mc.Kafka, mc.Store, mc.Metrics, mc.Logger = opts, store, n.metrics, log.With("part", "materializer")
		n.materializer = &mc
	}
	return parts, nil
}

// runAsync starts the processor, the materializer and the mirror, those the
// node has, and returns a function that stops them and waits until they have
// committed what they hold, or until its ctx ends.
func (n *node) runAsync(log *slog.Logger) (stop func(context.Context) error) {
	type part struct {
		name string
		run  func(context.Context) error
	}
	var parts []part
	if n.processor != nil {
		parts = append(parts,
			part{"processor", n.processor.Run},
			part{"materializer", func(ctx context.Context) error { return processor.RunMaterializer(ctx, *n.materializer) }})
	}
	if n.mirror != nil {
		parts = append(parts, part{"mirror", func(ctx context.Context) error { return mirror.Run(ctx, *n.mirror) }})
	}
	if len(parts) == 0 {
		return func(context.Context) error { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(parts))
	for _, p := range parts {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := p.run(ctx); err != nil {
				log.Error(p.name+" stopped", "err", err)
			}
		}()
	}
	return func(wctx context.Context) error {
		cancel()
		for range parts {
			select {
			case <-done:
			case <-wctx.Done():
				return fmt.Errorf("the processor, materializer or mirror did not commit and stop within the shutdown grace: %w", wctx.Err())
			}
		}
		return nil
	}
}
