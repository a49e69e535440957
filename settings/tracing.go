package settings

import (
	"flag"
	"strings"

	"github.com/heraldpush/herald/tracing"
)

// Tracing is the OpenTelemetry part of a server's configuration
// (docs/design.md, "Tracing"). Where the spans go is the standard
// OTEL_EXPORTER_OTLP_* environment's business (OTLP over HTTP); these
// settings say whether to trace and how much.
type Tracing struct {
	// Mode is off, on, or auto: on when the environment names an OTLP
	// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and neither OTEL_SDK_DISABLED=true
	// nor OTEL_TRACES_EXPORTER=none says otherwise.
	Mode string
	// SampleRatio is the share of new traces recorded; a message that
	// arrives with a trace context follows its parent's decision.
	SampleRatio float64
}

// Flags defines the tracing settings on fs.
func (t *Tracing) Flags(fs *flag.FlagSet) {
	fs.StringVar(&t.Mode, "tracing", "auto", "OpenTelemetry tracing: off, on, or auto (on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set); spans go over OTLP/HTTP as the OTEL_EXPORTER_OTLP_* variables say")
	fs.Float64Var(&t.SampleRatio, "tracing-sample-ratio", 1, "share of new traces recorded, 0 to 1; a message with a trace context (from a REST caller, a Kafka record or a link) follows its parent's decision")
}

// Validate checks the tracing settings. getenv reads the environment
// (os.Getenv).
func (t *Tracing) Validate(getenv func(string) string) error {
	switch t.Mode {
	case "off", "on", "auto":
	default:
		return Usagef("--tracing %q: want off, on or auto", t.Mode)
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		return Usagef("--tracing-sample-ratio must be from 0 to 1, got %v", t.SampleRatio)
	}
	if t.On(getenv) {
		p := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if p == "" {
			p = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if p != "" && p != "http/protobuf" {
			return Usagef("OTEL_EXPORTER_OTLP_PROTOCOL %q: Herald exports traces over http/protobuf only (an OpenTelemetry Collector takes them on port 4318)", p)
		}
		if e := getenv("OTEL_TRACES_EXPORTER"); t.Mode == "on" && e != "" && e != "otlp" {
			return Usagef("OTEL_TRACES_EXPORTER %q: Herald exports traces over OTLP only (otlp), or not at all (--tracing=off)", e)
		}
	}
	return nil
}

// On reports whether the settings and the environment (getenv) turn
// tracing on.
func (t *Tracing) On(getenv func(string) string) bool {
	switch t.Mode {
	case "on":
		return true
	case "auto":
		if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
			return false
		}
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return false
}

// TracingConfig returns the process's tracing configuration: on as --tracing
// and the environment (getenv, os.Getenv) say, with the roles, region and, for
// an edge, the edge id that describe the process in its spans.
func (c *Server) TracingConfig(getenv func(string) string) tracing.Config {
	cfg := tracing.Config{
		Enabled:     c.Tracing.On(getenv),
		SampleRatio: c.Tracing.SampleRatio,
		Roles:       c.Roles,
		Region:      c.Region.Name,
	}
	if c.HasRole("edge") {
		cfg.EdgeID = c.EdgeID
	}
	return cfg
}
