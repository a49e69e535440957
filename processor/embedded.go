package processor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is the in-process Kafka cluster of `herald dev`, with a goroutine
// that applies its retention.
type Embedded struct {
	cluster *kfake.Cluster
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// StartEmbedded starts a one-broker in-memory cluster on loopback, on port
// (0: any free port).
func StartEmbedded(port int, log *slog.Logger) (*Embedded, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{cluster: c, stop: cancel}
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

// Addrs returns the addresses of the cluster's brokers.
func (e *Embedded) Addrs() []string { return e.cluster.ListenAddrs() }

// Close stops the retention goroutine and the cluster.
func (e *Embedded) Close() {
	e.stop()
	e.wg.Wait()
	e.cluster.Close()
}
