package edge

import (
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// BenchmarkTopicSubscriptionMemory measures what a subscription keeps alive:
// 1,000 devices connect to one edge (in this process, as are their clients),
// then each subscribes to one topic; the live heap and stacks after a GC,
// before and after (each once the readers have parked again), give the bytes
// per subscription (the topic index's entry, the session's list of topics,
// and whatever the sub frame left behind).
// herald bench topic measures the RSS of whole edges, where the noise of a
// process that just took thousands of connections is larger than this.
func BenchmarkTopicSubscriptionMemory(b *testing.B) {
	const n = 1000
	for range b.N {
		b.StopTimer()
		e := mustEdge(b, nil)
		devs := make([]*device, n)
		for i := range devs {
			devs[i] = e.mustDialTopics(b, "a"+strconv.Itoa(i), "tv1", "news.*")
		}
		time.Sleep(2 * time.Second)
		settle()
		before := readIdleSample(b)
		b.StartTimer()
		for _, d := range devs {
			if r := d.sub(false, "s", "news.sports"); r[0].Status != protocol.TopicSubscribed {
				b.Fatalf("sub answered %+v", r)
			}
		}
		b.StopTimer()
		// The sub frames woke the connections' readers, which park again
		// after a second without a frame (wsconn.wsParkAfter).
		time.Sleep(2 * time.Second)
		settle()
		after := readIdleSample(b)
		if got := e.srv.TopicSubscribers("news.sports"); got != n {
			b.Fatalf("%d subscribers, want %d", got, n)
		}
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/sub")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/sub")
		b.ReportMetric(float64(int64(after.RSS)-int64(before.RSS))/n, "RSS-B/sub")
		b.ReportMetric(float64(after.Goroutines-before.Goroutines)/n, "goroutines/sub")
		for _, d := range devs {
			_ = d.c.CloseNow()
		}
		b.StartTimer()
	}
}
