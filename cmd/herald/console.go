package main

import (
	"log/slog"
	"os"

	"github.com/heraldpush/herald/admin"
	"github.com/heraldpush/herald/settings"
)

// buildAdmin builds the node's admin API. Every node has one: its internal
// endpoints answer the other nodes' fleet views; the admin listener serves
// the API itself and the console only with --console.
func (n *node) buildAdmin(c *settings.Server, log *slog.Logger) error {
	cfg, err := c.AdminConfig()
	if err != nil {
		return err
	}
	cfg.Node = c.EdgeID
	if n.edge == nil {
		cfg.Node, _ = os.Hostname()
	}
	cfg.Metrics, cfg.Ready, cfg.Drain, cfg.Statuses = n.metrics, n.ready.Load, n.requestDrain, n.statuses
	cfg.Edges, cfg.Locator, cfg.Devices = n.registry, n.registry, n.devices
	cfg.Logger = log.With("part", "admin")
	if n.regions != nil {
		cfg.Regions = n.regions
	}
	if n.edge != nil {
		cfg.Local = n.edge
	}
	if n.inbox != nil {
		cfg.Inbox = n.inbox
	}
	if n.router != nil {
		cfg.Disconnector = n.router
	}
	if n.api != nil {
		cfg.Push = n.api.PushHandler("admin")
	}
	if len(c.ClusterKeys) > 0 {
		cfg.Peers = &admin.Peers{Key: c.ClusterKeys[0], Client: n.tls.Client()}
	}
	if n.admin, err = admin.New(cfg); err != nil {
		return settings.Usagef("%v", err)
	}
	return nil
}
