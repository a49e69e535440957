package settings

import (
	"fmt"
	"net"
	"strconv"
)

// DevRegionConfigs derives the configuration of each region of
// `herald dev --regions` from c: the public and admin ports counted up from
// c's, the gateways' internal listeners on free ports of 127.0.0.1, and the
// embedded Kafka on the port after c's (any free port when c's is 0), and
// the Redis keys, when c names a Redis, under a prefix per region. It binds
// and closes a listener per region to choose those free ports.
func (c *Server) DevRegionConfigs() ([]*Server, error) {
	n := c.DevRegions
	if len(c.Kafka.Brokers) > 0 {
		return nil, Usagef("--regions runs an embedded Kafka cluster per region: leave --kafka-brokers empty")
	}
	internals := make([]string, n)
	for i := range internals {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choosing a port for region %s: %w", DevRegionNames[i], err)
		}
		internals[i] = ln.Addr().String()
		_ = ln.Close()
	}
	configs := make([]*Server, n)
	for i := range n {
		name := DevRegionNames[i]
		rc := *c
		var err error
		if rc.Addr, err = shiftPort(c.Addr, i); err != nil {
			return nil, Usagef("--addr: %v", err)
		}
		if c.AdminAddr != "" {
			if rc.AdminAddr, err = shiftPort(c.AdminAddr, i); err != nil {
				return nil, Usagef("--admin-addr: %v", err)
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
		rc.Region = Region{Name: name, Keys: List{DevRegionKey}, Gateway: true,
			FoundTTL: c.Region.FoundTTL, MissTTL: c.Region.MissTTL, LocateTimeout: c.Region.LocateTimeout}
		for j := range n {
			if j != i {
				rc.Region.Peers = append(rc.Region.Peers, DevRegionNames[j]+"="+internals[j])
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
