package faults

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFaultKafkaOutage makes Kafka unavailable for a few seconds while
// asynchronous messages flow through POST /v1/messages and, in batches of 20,
// POST /v1/messages/batch: every produce request, the API's and the
// processor's, is answered with a retriable error (request timed out), and
// every fetch request has its connection closed, until the outage ends; then
// the load goes on. A message answered 202, or with an id in its batch slot,
// must be delivered at least once; one answered 503, as a whole request or in
// its slot, was refused and its sender knows. Recovery is the longest time no
// new message arrived at any device after the outage began; held_accepted and
// held_refused count the messages of calls in flight during the outage that
// were accepted (late, once Kafka was back) and refused; slowest_answer is
// the longest a call waited for its answer.
//
// The outage is shorter than the API's produce timeout (5 s): the producer
// holds the calls in flight and they are accepted late.
func TestFaultKafkaOutage(t *testing.T) {
	kafkaOutage(t, "kafka-outage", time.Duration(size(1000, 3000))*time.Millisecond, kerr.RequestTimedOut)
}

// TestFaultKafkaOutageRefused is TestFaultKafkaOutage with an outage longer
// than the API's produce timeout (--kafka-produce-timeout 1s, the least):
// the calls in flight when their timeout passes must be answered 503, the
// whole request or its slots, and nothing else; those answered 202 must be
// delivered as before.
func TestFaultKafkaOutageRefused(t *testing.T) {
	async := kafkaOutage(t, "kafka-outage-refused", time.Duration(size(2500, 4000))*time.Millisecond, kerr.RequestTimedOut,
		"--kafka-produce-timeout", "1s")
	if async.refused[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no message was refused with 503 during an outage past the produce timeout: %v", async.refused)
	}
	for code, n := range async.refused {
		if code != http.StatusServiceUnavailable {
			t.Errorf("%d messages refused with %d; want only 503", n, code)
		}
	}
	if async.errs != 0 {
		t.Errorf("%d messages sent in calls without an answer", async.errs)
	}
}

// TestFaultKafkaLeaderMoved is TestFaultKafkaOutage with the answer of a
// partition whose leader has moved, NOT_LEADER_FOR_PARTITION, for 1 s: a
// client answers it with a metadata refresh, and another after each
// produce that is refused again, as often as the clients' metadata minimum
// age (--kafka-metadata-min-age) lets it. Recovery is how long deliveries
// stopped.
func TestFaultKafkaLeaderMoved(t *testing.T) {
	kafkaOutage(t, "kafka-leader-moved", time.Second, kerr.NotLeaderForPartition)
}

// kafkaOutage runs a Kafka outage of the given length under async load,
// every produce answered with produceErr, the edge and the processor
// started with extra, reports its figures under scenario, and returns its
// senders' log.
func kafkaOutage(t *testing.T, scenario string, outage time.Duration, produceErr *kerr.Error, extra ...string) *asyncLog {
	const batch = 20
	total := size(600, 20000)
	flags, k := newKafkaCluster(t, 3)
	flags = append(flags, extra...)
	kafkaSeeds = k.ListenAddrs()
	var down atomic.Bool
	var failed atomic.Int64 // produce requests answered with the outage's error
	k.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		k.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		failed.Add(1)
		return produceFailure(r.(*kmsg.ProduceRequest), produceErr), nil, true
	})
	var cut atomic.Int64 // fetch requests whose connection the outage closed
	k.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		cut.Add(1)
		return nil, errors.New("kafka outage"), true
	})
	c := newCluster(t, flags...)
	e := c.edge("edge-1", "", "")
	c.start("processor-1", "--roles=processor", "--edge-id", "processor-1")

	waitGroups(t, 1)
	peers := accountPeers(t, e.Addr, 10)
	async := newAsyncLog(e.Addr)
	var (
		handed        atomic.Int64 // messages handed to senders
		stop          atomic.Bool
		began, ended  atomic.Int64 // the outage's start and end, Unix nanoseconds
		held, heldRef atomic.Int64 // messages in flight during the outage: accepted, not accepted
		slowest       atomic.Int64 // the longest call, nanoseconds
	)
	// during records a call's messages that were in flight at some point of
	// the outage.
	during := func(start time.Time, n, accepted int) {
		took := int64(time.Since(start))
		for cur := slowest.Load(); took > cur && !slowest.CompareAndSwap(cur, took); cur = slowest.Load() {
		}
		b, en := began.Load(), ended.Load()
		if b == 0 || time.Now().UnixNano() < b || (en != 0 && start.UnixNano() > en) {
			return
		}
		held.Add(int64(accepted))
		heldRef.Add(int64(n - accepted))
	}
	var wg sync.WaitGroup
	for s := range 6 {
		wg.Go(func() {
			for !stop.Load() {
				start := time.Now()
				if s%2 == 0 {
					n := handed.Add(1)
					during(start, 1, async.send(peers[int(n)%len(peers)]))
					continue
				}
				first := int(handed.Add(batch)) - batch
				to := make([]target, batch)
				for j := range to {
					to[j] = peers[(first+j)%len(peers)]
				}
				during(start, batch, async.sendBatch(to))
			}
		})
	}
	waitFor(t, "load before the outage", func() bool { return handed.Load() >= int64(total/3) })
	start := time.Now()
	began.Store(start.UnixNano())
	down.Store(true)
	time.Sleep(outage)
	down.Store(false)
	back := time.Now()
	ended.Store(back.UnixNano())
	atBack := handed.Load()
	waitFor(t, "load after the outage", func() bool {
		n := handed.Load()
		return n >= int64(total) && n >= atBack+int64(total/3)
	})
	stop.Store(true)
	wg.Wait()
	answered := time.Now()
	delivered, reported, lost := async.settle(t)
	f := &figures{Scenario: scenario, Sent: async.sent, Accepted: int64(len(async.accepted)), Delivered: delivered,
		Reported: reported, Lost: lost + async.errs, Recovery: stall(peers, start)}
	f.add("outage", back.Sub(start).Round(time.Millisecond))
	f.add("failed_produces", failed.Load())
	f.add("cut_fetches", cut.Load())
	f.add("held_accepted", held.Load())
	f.add("held_refused", heldRef.Load())
	f.add("load_after_outage", answered.Sub(back).Round(time.Millisecond))
	f.add("slowest_answer", time.Duration(slowest.Load()).Round(time.Millisecond))
	f.add("batch_size", batch)
	f.add("refused", fmt.Sprint(async.refused))
	report(t, f)
	return async
}

// produceFailure answers every partition of req with the retriable error
// code, as a cluster whose leaders are away or have moved does.
func produceFailure(req *kmsg.ProduceRequest, code *kerr.Error) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
