package mirror

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldpush/herald/processor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// targets keeps the target topics as wide as their source topics: a record
// keeps its partition number, so the target topic of a source topic of n
// partitions needs n. It creates a missing target topic with the source's
// partition count, and adds partitions to one that has fewer (a source topic
// that grew). Only Run's goroutine uses it.
type targets struct {
	src, tgt    *kgo.Client
	srcAdm      *kadm.Client
	tgtAdm      *kadm.Client
	replication int16
	parts       map[string]int32 // target topic -> partitions it is known to have
}

func newTargets(src, tgt *kgo.Client, replication int16) *targets {
	return &targets{src: src, tgt: tgt, srcAdm: kadm.NewClient(src), tgtAdm: kadm.NewClient(tgt), replication: replication, parts: map[string]int32{}}
}

// ensure makes sure that the target topic of every record of out (records
// for the target, named alias.<source topic>) has the record's partition.
func (t *targets) ensure(ctx context.Context, alias string, out []*kgo.Record) error {
	need := map[string]int32{} // target topic -> highest partition + 1
	for _, r := range out {
		if t.parts[r.Topic] <= r.Partition {
			need[r.Topic] = max(need[r.Topic], r.Partition+1)
		}
	}
	if len(need) == 0 {
		return nil
	}
	for target, n := range need {
		if err := t.grow(ctx, strings.TrimPrefix(target, alias+Separator), target, n); err != nil {
			return err
		}
	}
	t.tgt.ForceMetadataRefresh()
	return nil
}

// grow gives target at least as many partitions as source has, and at least n.
func (t *targets) grow(ctx context.Context, source, target string, n int32) error {
	srcMeta, err := t.srcAdm.ListTopics(ctx, source)
	if err != nil {
		return fmt.Errorf("mirror: describe source topic %s: %w", source, err)
	}
	if d, ok := srcMeta[source]; ok && d.Err == nil {
		n = max(n, int32(len(d.Partitions)))
	}
	tgtMeta, err := t.tgtAdm.ListTopics(ctx, target)
	if err != nil {
		return fmt.Errorf("mirror: describe target topic %s: %w", target, err)
	}
	have := int32(0)
	if d, ok := tgtMeta[target]; ok && d.Err == nil {
		have = int32(len(d.Partitions))
	}
	switch {
	case have == 0:
		err := processor.EnsureTopics(ctx, t.tgt, []string{target}, processor.TopicSpec{Partitions: n, ReplicationFactor: t.replication})
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		have = n
	case have < n:
		resp, err := t.tgtAdm.UpdatePartitions(ctx, int(n), target)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("mirror: grow target topic %s to %d partitions: %w", target, n, err)
		}
		have = n
	}
	t.parts[target] = have
	return nil
}
