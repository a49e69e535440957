package mirror

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkMirrorThroughput copies b.N records of 1 KiB, produced to one
// kfake cluster's status topic (6 partitions) before the timer starts, to
// another kfake cluster in the same process: the timer runs from Run's start
// (its group join included) until the target acknowledged the last record.
// Both clusters, the mirror and its clients share the process's cores.
func BenchmarkMirrorThroughput(b *testing.B) {
	for _, poll := range []int{100, DefaultMaxPollRecords, 5000} {
		b.Run(fmt.Sprintf("poll=%d", poll), func(b *testing.B) {
			topics := processor.Topics{}
			src := mustCluster(b, map[string]int32{topics.Status(): 6})
			dst := mustCluster(b, nil)
			cl := mustClient(b, src, kgo.ProducerBatchMaxBytes(4<<20))
			value := make([]byte, 1024)
			recs := make([]*kgo.Record, 0, 10_000)
			for i := range b.N {
				recs = append(recs, &kgo.Record{Topic: topics.Status(), Partition: int32(i % 6), Key: fmt.Appendf(nil, "m%d", i), Value: value})
				if len(recs) == cap(recs) || i == b.N-1 {
					produce(b, cl, recs...)
					recs = recs[:0]
				}
			}
			reg := prometheus.NewRegistry()
			counter := mustCounter(b, reg, topics.Status())
			b.SetBytes(1024)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			m := startMirror(b, src, dst, Config{MaxPollRecords: poll, Metrics: reg})
			deadline := start.Add(5 * time.Minute)
			for testutil.ToFloat64(counter) < float64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("%v copied of %d after 5 minutes", testutil.ToFloat64(counter), b.N)
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			m.stop(b)
		})
	}
}
