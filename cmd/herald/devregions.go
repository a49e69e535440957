package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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
	configs, err := devRegionConfigs(c)
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

// devRegionConfigs derives the configuration of each region of
// `herald dev --regions` from c: the public and admin ports counted up from
// c's, the gateways' internal listeners on free ports of 127.0.0.1, and the
// embedded Kafka on the port after c's (any free port when c's is 0), and
// the Redis keys, when c names a Redis, under a prefix per region.
func devRegionConfigs(c *settings.Server) ([]*settings.Server, error) {
	n := c.DevRegions
	if len(c.Kafka.Brokers) > 0 {
		return nil, settings.Usagef("--regions runs an embedded Kafka cluster per region: leave --kafka-brokers empty")
	}
	internals := make([]string, n)
	for i := range internals {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choosing a port for region %s: %w", settings.DevRegionNames[i], err)
		}
		internals[i] = ln.Addr().String()
		_ = ln.Close()
	}
	configs := make([]*settings.Server, n)
	for i := range n {
		name := settings.DevRegionNames[i]
		rc := *c
		var err error
		if rc.Addr, err = shiftPort(c.Addr, i); err != nil {
			return nil, settings.Usagef("--addr: %v", err)
		}
		if c.AdminAddr != "" {
			if rc.AdminAddr, err = shiftPort(c.AdminAddr, i); err != nil {
				return nil, settings.Usagef("--admin-addr: %v", err)
			}
		}
		if c.Kafka.DevPort != 0 {
			rc.Kafka.DevPort = c.Kafka.DevPort + i
		}
		rc.EdgeID = c.EdgeID + "-" + name
		// A Redis given to dev is shared: each region keeps its registry and
		// inboxes under a prefix of its own, as if in a Redis of its own.
		rc.RedisPrefix = c.RedisPrefix + name + ":"
		rc.InternalAddr = internals[i]
		rc.Region = settings.Region{Name: name, Keys: settings.List{settings.DevRegionKey}, Gateway: true,
			FoundTTL: c.Region.FoundTTL, MissTTL: c.Region.MissTTL, LocateTimeout: c.Region.LocateTimeout}
		for j := range n {
			if j != i {
				rc.Region.Peers = append(rc.Region.Peers, settings.DevRegionNames[j]+"="+internals[j])
			}
		}
		configs[i] = &rc
	}
	return configs, nil
}

// shiftPort returns addr with its port plus by, a port 0 left as it is (any
// free port).
func shiftPort(addr string, by int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p+by > 65535 {
		return "", fmt.Errorf("port %q cannot be counted up from", port)
	}
	if p == 0 {
		return addr, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+by)), nil
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
