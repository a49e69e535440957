package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The batching waits of the asynchronous path. At a steady rate a consumer
// that polls again as soon as it has handled a poll, and a produce that does
// not linger, carry one record each: the Kafka round trips, not the
// deliveries, then take much of the CPU. A fetch wait (Config.FetchWait,
// MaterializerConfig.FetchWait) spaces a consumer's polls at least that far
// apart while records flow (pollSpacer), and a linger (ProducerConfig.Linger)
// lets the records produced within it share one request: fewer round trips,
// for up to that much latency.
//
// The spacing is done by the consumer, not by the broker (a fetch's
// FetchMinBytes with a FetchMaxWait): a broker answers such a fetch when its
// wait is over, records or not, so an idle consumer would fetch once per wait
// instead of once per idleFetchWait; it cost idle `herald dev` 2.3 % of a core
// at a 20 ms status wait. franz-go keeps at most one fetch response of a
// partition buffered and asks for the next only once a poll took it, so while
// a consumer rests between polls the records of the rest gather in the broker,
// and the next fetch takes them all at once. A consumer whose poll found
// nothing does not rest: its next poll blocks in the broker as before, and the
// first record after a quiet spell is handled at once. In steady state a poll
// carries about a wait's worth of records, each of which waited up to twice the
// wait (for the fetch that took it, then for the poll), unless the consumer
// also takes the fetch its poll started (gathered, which the processor does):
// then up to once.
const (
	// MinFetchWait is the shortest fetch wait: below it a rest between
	// polls saves little against the time a poll and its handling take.
	MinFetchWait = 10 * time.Millisecond
	// MaxFetchWait is the longest fetch wait: past a few tens of
	// milliseconds a poll at any real rate carries hundreds of records, and
	// a longer wait saves few round trips for the latency it adds.
	MaxFetchWait = time.Second
	// DefaultStatusFetchWait is the materializer's fetch wait that herald's
	// --status-fetch-wait defaults to: GET /v1/messages/{id} may show an
	// outcome up to twice this much later, and no delivery waits for it.
	DefaultStatusFetchWait = 20 * time.Millisecond
	// MaxProduceLinger is the longest ProducerConfig.Linger: every
	// POST /v1/messages waits for it before its answer.
	MaxProduceLinger = 100 * time.Millisecond
)

// idleFetchWait is how long the broker holds a fetch while there is no
// record: it answers at the first one.
const idleFetchWait = 500 * time.Millisecond

// pollSpacer spaces a consumer's polls at least wait apart while they return
// records; wait 0 does not space them.
type pollSpacer struct {
	wait time.Duration
	last time.Time // when the last poll started
}

// polling notes that a poll starts now.
func (s *pollSpacer) polling() { s.last = time.Now() }

// rest waits, after a poll that returned n records has been handled, until
// wait has passed since that poll started, or ctx ends. It returns at once
// when n is 0 or there is no wait.
func (s *pollSpacer) rest(ctx context.Context, n int) {
	if s.wait == 0 || n == 0 {
		return
	}
	d := time.Until(s.last.Add(s.wait))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// gatheredWait bounds how long gathered waits for the fetch that a poll
// started: one that finds records answers within a round trip.
const gatheredWait = 2 * time.Millisecond

// gathered returns recs, the records of a poll after a rest, with those the
// fetch that this poll started brings, up to max in all. The records a poll
// returns after a rest were fetched when the rest began; the fetch it starts
// takes those that gathered during the rest, and waiting a round trip for it
// halves what a rest adds to a message's latency (from up to twice the wait to
// up to once). With no wait, or when nothing gathered, it costs at most
// gatheredWait.
func (s *pollSpacer) gathered(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, max int, log *slog.Logger) []*kgo.Record {
	if s.wait == 0 {
		return recs
	}
	ctx, cancel := context.WithTimeout(ctx, gatheredWait)
	defer cancel()
	more := cl.PollRecords(ctx, max-len(recs))
	warnFetchErrors(log, more)
	return append(recs, more.Records()...)
}

// warnFetchErrors logs the errors of a poll, but for those of its context
// ending: a consumer that stops, or gathered's bound.
func warnFetchErrors(log *slog.Logger, f kgo.Fetches) {
	f.EachError(func(topic string, part int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			log.Warn("fetch failed", "topic", topic, "partition", part, "err", err)
		}
	})
}

// checkFetchWait refuses a fetch wait that is neither 0 (off) nor between
// MinFetchWait and MaxFetchWait; what names the setting.
func checkFetchWait(what string, wait time.Duration) error {
	if wait != 0 && (wait < MinFetchWait || wait > MaxFetchWait) {
		return fmt.Errorf("%s must be 0 (off) or between %v and %v, got %v", what, MinFetchWait, MaxFetchWait, wait)
	}
	return nil
}
