package processor

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The batching waits of the asynchronous path. At a steady rate a fetch that
// returns at its first record and a produce that does not linger carry one
// record each: the Kafka round trips, not the deliveries, then take much of
// the CPU. A fetch wait (Config.FetchWait, MaterializerConfig.FetchWait) lets
// a fetch gather the records of up to that long before it returns, and a
// linger (ProducerConfig.Linger) lets the records produced within it share
// one request: fewer round trips, for up to that much latency. The broker
// answers a fetch with a wait when the wait is over, records or not: an idle
// consumer fetches once per wait rather than once per idleFetchWait, so below
// about one record per wait a fetch wait costs round trips instead of saving
// them.
const (
	// MinFetchWait is the shortest fetch wait: franz-go refuses a
	// FetchMaxWait below 10 ms.
	MinFetchWait = 10 * time.Millisecond
	// MaxFetchWait is the longest fetch wait: past a few tens of
	// milliseconds a fetch at any real rate carries hundreds of records, and
	// a longer wait saves few round trips for the latency it adds.
	MaxFetchWait = time.Second
	// DefaultStatusFetchWait is the materializer's fetch wait that herald's
	// --status-fetch-wait defaults to: GET /v1/messages/{id} may show an
	// outcome up to this much later, and no delivery waits for it.
	DefaultStatusFetchWait = 20 * time.Millisecond
	// MaxProduceLinger is the longest ProducerConfig.Linger: every
	// POST /v1/messages waits for it before its answer.
	MaxProduceLinger = 100 * time.Millisecond
)

// fetchMinBytes is what a fetch with a wait asks the broker to gather before
// it answers early: 1 MiB, franz-go's default FetchMaxPartitionBytes, the most
// one partition gives a fetch. At the rates of one processor it is more than
// arrives within a wait, so the wait is what ends a fetch; a partition with a
// backlog of 1 MiB fills it alone, so catching up is not slowed. A larger
// value could not be filled by one partition's backlog (the broker would hold
// the fetch for the whole wait while records sit there), and a smaller one
// would only end waits early at rates whose fetches are full anyway.
const fetchMinBytes = 1 << 20

// idleFetchWait is how long the broker holds a fetch without a wait
// (FetchMinBytes 1) while there is no record: it answers at the first one.
const idleFetchWait = 500 * time.Millisecond

// fetchOpts returns the options of a consumer's fetch wait: with 0, a fetch
// returns as soon as a record is there; with a wait, once fetchMinBytes have
// gathered or wait has passed.
func fetchOpts(wait time.Duration) []kgo.Opt {
	if wait == 0 {
		return []kgo.Opt{kgo.FetchMinBytes(1), kgo.FetchMaxWait(idleFetchWait)}
	}
	return []kgo.Opt{kgo.FetchMinBytes(fetchMinBytes), kgo.FetchMaxWait(wait)}
}

// checkFetchWait refuses a fetch wait that is neither 0 (off) nor between
// MinFetchWait and MaxFetchWait; what names the setting.
func checkFetchWait(what string, wait time.Duration) error {
	if wait != 0 && (wait < MinFetchWait || wait > MaxFetchWait) {
		return fmt.Errorf("%s must be 0 (off) or between %v and %v, got %v", what, MinFetchWait, MaxFetchWait, wait)
	}
	return nil
}
