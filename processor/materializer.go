package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// MaterializerConfig configures RunMaterializer.
type MaterializerConfig struct {
	// Kafka are the options that reach the cluster (see [Kafka.Opts]). Required.
	Kafka []kgo.Opt
	// Topics names the topics.
	Topics Topics
	// StatusMirrors names regions whose status topics, mirrored into this
	// cluster (Topics.Mirrored), the materializer consumes too, so that a
	// message's status here shows the outcomes of the other regions; the
	// store's rank merge makes delivered or acked anywhere win over offline
	// elsewhere. Region names (protocol.ValidRegion).
	StatusMirrors []string
	// Group is the consumer group; default [DefaultGroup].status.
	Group string
	// Store receives every event. Required.
	Store StatusStore
	// SessionTimeout, RebalanceTimeout and HeartbeatInterval: see
	// [Config.SessionTimeout].
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// FetchWait spaces the materializer's polls at least this far apart
	// while they return events: 0 polls again at once; a wait between
	// [MinFetchWait] and [MaxFetchWait] takes the events of about that long
	// in one poll, and the store shows an outcome up to twice that much
	// later. No delivery waits for it, and an idle materializer does not
	// wait (batching.go); herald's --status-fetch-wait defaults to
	// [DefaultStatusFetchWait].
	FetchWait time.Duration
	// Logger receives the materializer's logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives herald_materializer_events_total and
	// herald_materializer_batches_total; nil keeps them in a private
	// registry. It may be the registry of a Processor: the names differ.
	Metrics prometheus.Registerer
}

// RunMaterializer consumes the status topic, and those of cfg.StatusMirrors,
// into cfg.Store until ctx is done. An
// event the store cannot take is retried until it can, so that no outcome is
// skipped; offsets are committed after the store took them (every
// DefaultCommitInterval: a restart stores the events since again, which the
// store's rank merge makes harmless).
func RunMaterializer(ctx context.Context, cfg MaterializerConfig) error {
	if len(cfg.Kafka) == 0 || cfg.Store == nil {
		return errors.New("processor: materializer config: Kafka and Store are required")
	}
	if err := checkRegions("processor: materializer config: StatusMirrors", cfg.StatusMirrors); err != nil {
		return err
	}
	if err := checkFetchWait("FetchWait", cfg.FetchWait); err != nil {
		return fmt.Errorf("processor: materializer config: %w", err)
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup + ".status"
	}
	topics := []string{cfg.Topics.Status()}
	for _, r := range cfg.StatusMirrors {
		topics = append(topics, cfg.Topics.Mirrored(r).Status())
	}
	gt, err := GroupTimeouts{Session: cfg.SessionTimeout, Rebalance: cfg.RebalanceTimeout, Heartbeat: cfg.HeartbeatInterval}.resolve()
	if err != nil {
		return fmt.Errorf("processor: materializer config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	metrics, err := newMaterializerMetrics(cfg.Metrics)
	if err != nil {
		return err
	}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics...),
		// As the processor's: the offsets of what the store took are marked,
		// and committed every DefaultCommitInterval, before a rebalance and
		// on close, not once per poll.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(DefaultCommitInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(idleFetchWait),
	}, gt.opts()...)
	cl, err := kgo.NewClient(append(opts, cfg.Kafka...)...)
	if err != nil {
		return fmt.Errorf("processor: kafka client: %w", err)
	}
	defer cl.Close()
	spacer := pollSpacer{wait: cfg.FetchWait}
	for {
		spacer.polling()
		fetches := cl.PollRecords(ctx, 10_000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		warnFetchErrors(log, fetches)
		recs := fetches.Records()
		if len(recs) > 0 {
			metrics.batches.Inc()
		}
		events := make([]Event, 0, len(recs))
		for _, r := range recs {
			e, err := decodeEvent(r.Value)
			if err == nil && e.ID == "" {
				err = errors.New("no id")
			}
			if err == nil {
				err = checkOutcome(&e) // the stores would refuse it, and the retry below never end
			}
			if err != nil {
				log.Warn("skipping a malformed status event", "partition", r.Partition, "offset", r.Offset, "err", err)
				metrics.malformed.Inc()
				continue
			}
			events = append(events, e)
		}
		// A poll's events are stored together (one Redis pipeline, not a
		// round trip each), and again, all of them, until that succeeds:
		// storing an event twice changes nothing.
		for backoff := 50 * time.Millisecond; len(events) > 0; backoff = min(2*backoff, 5*time.Second) {
			err := cfg.Store.RecordAll(ctx, events)
			if err == nil {
				for i := range events {
					metrics.byStatus[events[i].Status].Inc()
				}
				break
			}
			log.Warn("storing status events failed; retrying", "events", len(events), "err", err)
			select {
			case <-ctx.Done():
				cl.AllowRebalance()
				return nil // not committed: the next member stores them
			case <-time.After(backoff):
			}
		}
		cl.MarkCommitRecords(recs...)
		cl.AllowRebalance()
		spacer.rest(ctx, len(recs))
	}
}

// decodeEvent decodes a status record as encoding/json does, in its
// canonical form without it (canonical.go).
func decodeEvent(v []byte) (Event, error) {
	var e Event
	if decodeCanonicalEvent(v, &e) {
		return e, nil
	}
	e = Event{}
	err := json.Unmarshal(v, &e)
	return e, err
}
