package testenv

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts an in-process Kafka-protocol cluster of n brokers (kfake) on
// loopback ports with the topics seeded, 6 partitions each, and stops it when the
// test ends. Consumer groups accept session timeouts down to 1 s, so that a test
// sees a dead member's partitions move within seconds.
func Kafka(tb testing.TB, n int, topics ...string) *kfake.Cluster {
	tb.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(n),
		kfake.DefaultNumPartitions(6),
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(6, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("testenv: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}
