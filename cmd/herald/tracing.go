package main

import (
	"context"
	"os"

	"github.com/heraldpush/herald/settings"
	"github.com/heraldpush/herald/tracing"
)

// startTracing starts the node's tracing as --tracing and the OTEL_*
// environment say: nil (tracing off) unless they turn it on.
func startTracing(c *settings.Server) (*tracing.Provider, error) {
	cfg := tracing.Config{
		Enabled:     c.Tracing.On(os.Getenv),
		SampleRatio: c.Tracing.SampleRatio,
		Roles:       c.Roles,
		Region:      c.Region.Name,
	}
	if c.HasRole("edge") {
		cfg.EdgeID = c.EdgeID
	}
	return tracing.Start(context.Background(), cfg)
}
