package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMirrorRegions runs two regions' Kafka clusters, a and b (kfake), region
// b's node (edge, api, processor) with --status-mirrors a and
// --consume-mirrored a, and the mirror role copying a's topics into b. Region
// a's processes are stood in for by processor.Producer on a's cluster: it is
// what a's API enqueues with and what a's processors report statuses with.
func TestMirrorRegions(t *testing.T) {
	topics := processor.Topics{}
	a := testenv.Kafka(t, 1, topics.All()...)
	b := testenv.Kafka(t, 1, topics.All()...)
	aBrokers, bBrokers := strings.Join(a.ListenAddrs(), ","), strings.Join(b.ListenAddrs(), ",")
	group := []string{"--kafka-session-timeout", "2s", "--kafka-rebalance-timeout", "2s"}
	region := mustServe(t, append([]string{"--roles=edge,api,processor", "--edge-id", "b-1", "--kafka-brokers", bBrokers,
		"--token-secret", clusterSecret, "--api-keys", clusterAPIKey, "--status-mirrors", "a", "--consume-mirrored", "a"}, group...)...)
	mustServe(t, append([]string{"--roles=mirror", "--edge-id", "mirror-a-b", "--kafka-brokers", bBrokers,
		"--mirror-source-brokers", aBrokers, "--mirror-source-alias", "a", "--mirror-discovery-interval", "1s"}, group...)...)
	inA, err := processor.NewProducer(processor.ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(a.ListenAddrs()...)}, Topics: topics, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inA.Close)
	inB, err := processor.NewProducer(processor.ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(b.ListenAddrs()...)}, Topics: topics, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inB.Close)

	t.Run("a status produced in a is read through b's API", func(t *testing.T) {
		// b's own outcome for the phone is offline; a's, mirrored, is
		// delivered, and wins: one answer per device.
		id := protocol.NewID()
		now := time.Now().UnixMilli()
		inB.Report(processor.Event{ID: id, Account: "acct", Device: "phone", Status: processor.Offline, Priority: protocol.PriorityNormal, At: now})
		inA.Report(processor.Event{ID: id, Account: "acct", Status: processor.Queued, Priority: protocol.PriorityNormal, At: now})
		inA.Report(processor.Event{ID: id, Account: "acct", Device: "phone", Status: processor.Delivered, Priority: protocol.PriorityNormal, At: now + 5})
		inA.Report(processor.Event{ID: id, Account: "acct", Device: "tv", Status: processor.Acked, Priority: protocol.PriorityNormal, At: now + 7})
		waitOutcome(t, region.addr, id, "phone", processor.Delivered)
		waitOutcome(t, region.addr, id, "tv", processor.Acked)
		if st := statusOf(t, region.addr, id); st.Account != "acct" || st.Accepted != now || len(st.Devices) != 2 {
			t.Errorf("status %+v, want acct's message accepted at %d with two devices", st, now)
		}
	})

	t.Run("--consume-mirrored delivers in b a message accepted in a", func(t *testing.T) {
		dev := dialDevice(t, region.addr, "acct", "tv2")
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		m := &processor.Message{ID: protocol.NewID(), Account: "acct", Device: "tv2", Type: "notification.v1",
			Payload: json.RawMessage(`{"title":"from a"}`), Priority: protocol.PriorityHigh, Accepted: time.Now().UnixMilli()}
		if err := inA.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, ok := dev.next(t).(*protocol.Msg)
		if !ok || got.ID != m.ID || got.Type != m.Type {
			t.Fatalf("tv2 got %+v, want message %s", got, m.ID)
		}
		// b's processor reported the delivery; a's queued comes through the
		// mirrored status topic, which the mirror role copies on its own
		// time: it may be stored after b's delivered.
		waitOutcome(t, region.addr, m.ID, "tv2", processor.Delivered)
		var st processor.MessageStatus
		waitFor(t, "a's queued event through the mirror", func() bool {
			st = statusOf(t, region.addr, m.ID)
			return st.Accepted == m.Accepted
		})
		if st.Priority != protocol.PriorityHigh || st.Devices[0].Status != processor.Delivered {
			t.Errorf("status %+v, want high, delivered to tv2", st)
		}
	})
}

// TestMirrorRoleKilled runs the mirror role as a process: killed with SIGKILL
// in the middle of a backlog, and started again after more records came, it
// loses nothing (repeats allowed); SIGTERM then stops it cleanly.
func TestMirrorRoleKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	topics := processor.Topics{}
	a := testenv.Kafka(t, 1, topics.All()...)
	b := testenv.Kafka(t, 1)
	status := topics.Status()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	produce := func(from, n int) {
		t.Helper()
		recs := make([]*kgo.Record, 0, n)
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: status, Key: []byte(fmt.Sprint("m", i%50)), Value: []byte(fmt.Sprint("m", i))})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const first, second = 30_000, 5_000
	produce(0, first)
	args := []string{"--roles=mirror", "--kafka-brokers", strings.Join(b.ListenAddrs(), ","), "--mirror-source-brokers", strings.Join(a.ListenAddrs(), ","),
		"--mirror-source-alias", "a", "--mirror-max-poll-records", "10", "--kafka-session-timeout", "1s", "--kafka-rebalance-timeout", "1s"}
	m := startProc(t, "mirror-1", args...)
	seen := map[string]int{}
	var total int
	reader, err := kgo.NewClient(kgo.SeedBrokers(b.ListenAddrs()...), kgo.ConsumeTopics("a."+status), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	read := func(until func() bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		for !until() {
			fs := reader.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%d distinct of %d records in b after %v", len(seen), total, waitBound)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++ })
		}
	}
	read(func() bool { return total >= 500 })
	m.Kill()
	ends, err := kadm.NewClient(reader).ListEndOffsets(context.Background(), "a."+status)
	if err != nil {
		t.Fatal(err)
	}
	var killedAt int64
	ends.Each(func(o kadm.ListedOffset) { killedAt += o.Offset })
	if killedAt >= first {
		t.Fatalf("the whole backlog of %d was copied before the kill: nothing was tested", first)
	}
	produce(first, second)
	m = startProc(t, "mirror-2", args...)
	read(func() bool { return len(seen) == first+second })
	for i := range first + second {
		if seen[fmt.Sprint("m", i)] == 0 {
			t.Fatalf("m%d is missing", i)
		}
	}
	t.Logf("killed with %d of %d copied; %d records in b for %d, %d repeats", killedAt, first, total, first+second, total-len(seen))
	m.Stop(syscall.SIGTERM)
	if code, _ := m.Wait(time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, m.Logs())
	}
	if !strings.Contains(m.Logs(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", m.Logs())
	}
}
