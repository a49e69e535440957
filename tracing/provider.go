package tracing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ServiceName is the service.name of every span Herald exports.
const ServiceName = "herald"

// Config configures a Provider.
type Config struct {
	// Enabled turns tracing on; Start returns a nil Provider without it.
	Enabled bool
	// SampleRatio is the share of new traces recorded, 0 to 1; a span with a
	// parent (from a Kafka record, a link frame or a REST caller) follows its
	// parent's decision.
	SampleRatio float64
	// Roles, EdgeID and Region describe the process in the resource of its
	// spans (herald.roles, herald.edge, herald.region).
	Roles  []string
	EdgeID string
	Region string
	// Exporter, when set, receives the spans instead of the OTLP/HTTP
	// exporter (configured by OTEL_EXPORTER_OTLP_*).
	Exporter sdktrace.SpanExporter
	// Syncer exports each span as it ends instead of in batches: for tests
	// that read an in-memory exporter right after a delivery.
	Syncer bool
}

// Provider owns the tracer provider of a process. A nil *Provider is tracing
// off.
type Provider struct {
	tp     *sdktrace.TracerProvider
	tracer *Tracer
}

// Start builds the provider of cfg, or returns nil when cfg.Enabled is not
// set. Nothing is dialled until a span is exported.
func Start(ctx context.Context, cfg Config) (*Provider, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v is not within 0 and 1", cfg.SampleRatio)
	}
	exp := cfg.Exporter
	if exp == nil {
		var err error
		if exp, err = otlptracehttp.New(ctx); err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(ServiceName)}
	if len(cfg.Roles) > 0 {
		attrs = append(attrs, attribute.StringSlice("herald.roles", cfg.Roles))
	}
	if cfg.EdgeID != "" {
		attrs = append(attrs, attribute.String("herald.edge", cfg.EdgeID))
	}
	if cfg.Region != "" {
		attrs = append(attrs, attribute.String("herald.region", cfg.Region))
	}
	// The environment's resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME)
	// is merged under Herald's, which names the service and the process.
	res, err := resource.Merge(resource.Environment(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// WithBatcher starts its goroutine when called: only one of the two is.
	var spans sdktrace.TracerProviderOption
	if cfg.Syncer {
		spans = sdktrace.WithSyncer(exp)
	} else {
		spans = sdktrace.WithBatcher(exp)
	}
	tp := sdktrace.NewTracerProvider(
		spans,
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Provider{tp: tp, tracer: New(tp)}, nil
}

// Tracer returns the process's tracer; nil (tracing off) for a nil Provider.
func (p *Provider) Tracer() *Tracer {
	if p == nil {
		return nil
	}
	return p.tracer
}

// Shutdown exports the spans still buffered and stops the provider, within
// ctx. It is called last in a process's shutdown, after the deliveries it
// traced have ended.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
