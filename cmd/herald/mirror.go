package main

import (
	"log/slog"

	"github.com/heraldpush/herald/settings"
)

// buildMirror builds the mirror role: the configuration that runAsync runs,
// copying the source region's topics (--mirror-source-*) into this region's
// cluster (--kafka-brokers). Without the role it builds nothing.
func (n *node) buildMirror(c *settings.Server, log *slog.Logger) error {
	if !c.HasRole("mirror") {
		return nil
	}
	cfg, err := c.Mirror.Config(&c.Kafka, "herald-mirror-"+c.EdgeID)
	if err != nil {
		return err
	}
	cfg.Logger = log.With("part", "mirror", "source", c.Mirror.SourceAlias)
	cfg.Metrics = n.metrics
	if err := cfg.Validate(); err != nil {
		return settings.Usagef("%v", err)
	}
	n.mirror = &cfg
	return nil
}
