package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// embeddedKafka is the in-process cluster of `herald dev`, with a goroutine that
// applies its retention.
type embeddedKafka struct {
	cluster *kfake.Cluster
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// startEmbeddedKafka starts a one-broker in-memory cluster on loopback.
func startEmbeddedKafka(port int, log *slog.Logger) (*embeddedKafka, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &embeddedKafka{cluster: c, stop: cancel}
	// kfake applies retention on its own only hourly: often enough here.
	e.wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.ApplyRetention()
			}
		}
	})
	log.Debug("embedded kafka started", "addr", c.ListenAddrs())
	return e, nil
}

// close stops the retention goroutine and the cluster.
func (e *embeddedKafka) close() {
	e.stop()
	e.wg.Wait()
	e.cluster.Close()
}
