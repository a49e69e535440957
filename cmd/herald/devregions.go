package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/settings"
)

// runDevRegions runs `herald dev --regions N`: N regions in one process, each
// a whole node (every role, its own in-memory registry and inbox, its own
// embedded Kafka) on ports of its own, the gateway of its region and a peer
// of the others, sharing one in-memory device list as regions share one
// Postgres. The first region listens on --addr, the next on the ports after.
func runDevRegions(ctx context.Context, c *settings.Server, stdout, stderr io.Writer) error {
	configs, err := c.DevRegionConfigs()
	if err != nil {
		return err
	}
	devices := devicelist.NewMemory()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		nodes = make([]*node, len(configs))
		ready = 0
		wg    sync.WaitGroup
		errs  = make([]error, len(configs))
	)
	for i, rc := range configs {
		wg.Go(func() {
			errs[i] = serveWith(ctx, rc, stderr, func(n *node) {
				mu.Lock()
				defer mu.Unlock()
				nodes[i] = n
				if ready++; ready == len(configs) {
					printDevRegionsBanner(stdout, configs, nodes)
				}
			}, devices)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("region %s: %w", rc.Region.Name, errs[i])
			}
			cancel() // one region that stops stops them all
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// printDevRegionsBanner tells where each region listens and how to try a
// message across them.
func printDevRegionsBanner(w io.Writer, configs []*settings.Server, nodes []*node) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nHerald dev is running %d regions in one process, nothing persisted; they share one device list.\n\n", len(nodes))
	for i, n := range nodes {
		fmt.Fprintf(&b, "  %-3s  http://%s  (devices, REST, demo at /demo/)  Kafka %s  gateway %s\n",
			configs[i].Region.Name, n.addr("public"), strings.Join(n.kafkaAddrs, ","), n.addr("internal"))
		if admin := n.addr("admin"); admin != "" {
			fmt.Fprintf(&b, "       console http://%s/console/  (admin key: %s)\n", admin, settings.DevAdminKey)
		}
	}
	first, second := "http://"+nodes[0].addr("public"), "http://"+nodes[1].addr("public")
	fmt.Fprintf(&b, `
API key (dev only): %[3]s

A device in one region, a push from the other:
  go run ./cmd/herald listen --url %[2]s --account a1 --device tv1
  go run ./cmd/herald send --url %[1]s --key %[3]s --account a1 --device tv1 \
      --type notification.v1 --payload '{"title":"Hello","body":"from region %[4]s"}'
  curl -s -H 'Authorization: Bearer %[3]s' %[1]s/v1/accounts/a1/devices   # "region": %[5]q

`, first, second, settings.DevAPIKey, configs[0].Region.Name, configs[1].Region.Name)
	_, _ = io.WriteString(w, b.String())
}
