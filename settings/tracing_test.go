package settings

import (
	"strings"
	"testing"
)

func TestTracingValidate(t *testing.T) {
	endpoint := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
	for _, c := range []struct {
		name    string
		t       Tracing
		env     map[string]string
		wantOn  bool
		wantErr string
	}{
		{"off by default", Tracing{Mode: "auto", SampleRatio: 1}, nil, false, ""},
		{"auto with an endpoint", Tracing{Mode: "auto", SampleRatio: 1}, endpoint, true, ""},
		{"auto with a traces endpoint", Tracing{Mode: "auto", SampleRatio: 0.5}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, ""},
		{"auto with the SDK disabled", Tracing{Mode: "auto", SampleRatio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, false, ""},
		{"auto with no exporter", Tracing{Mode: "auto", SampleRatio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"on without an endpoint", Tracing{Mode: "on", SampleRatio: 0}, nil, true, ""},
		{"off with an endpoint", Tracing{Mode: "off", SampleRatio: 1}, endpoint, false, ""},
		{"unknown mode", Tracing{Mode: "yes", SampleRatio: 1}, nil, false, "--tracing"},
		{"ratio above 1", Tracing{Mode: "on", SampleRatio: 1.5}, nil, true, "--tracing-sample-ratio"},
		{"negative ratio", Tracing{Mode: "off", SampleRatio: -0.1}, nil, false, "--tracing-sample-ratio"},
		{"grpc", Tracing{Mode: "on", SampleRatio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, "http/protobuf only"},
		{"grpc for traces", Tracing{Mode: "auto", SampleRatio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, true, "http/protobuf only"},
		{"grpc while off", Tracing{Mode: "off", SampleRatio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, ""},
		{"on with the console exporter", Tracing{Mode: "on", SampleRatio: 1}, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true, "OTLP only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(k string) string { return c.env[k] }
			if on := c.t.On(getenv); on != c.wantOn {
				t.Errorf("On = %v, want %v", on, c.wantOn)
			}
			err := c.t.Validate(getenv)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one with %q", err, c.wantErr)
			}
		})
	}
}

func TestTracingConfig(t *testing.T) {
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
	for _, c := range []struct {
		name    string
		s       Server
		getenv  func(string) string
		enabled bool
		edgeID  string
	}{
		{"auto with an endpoint, an edge", Server{Tracing: Tracing{Mode: "auto", SampleRatio: 0.5}, Roles: List{"edge", "api"}, EdgeID: "e1"},
			func(k string) string { return env[k] }, true, "e1"},
		{"auto without an endpoint", Server{Tracing: Tracing{Mode: "auto", SampleRatio: 0.5}, Roles: List{"edge"}, EdgeID: "e1"},
			func(string) string { return "" }, false, "e1"},
		{"on, no edge", Server{Tracing: Tracing{Mode: "on", SampleRatio: 0.5}, Roles: List{"processor"}, EdgeID: "e1"},
			func(string) string { return "" }, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.s.Region.Name = "eu"
			cfg := c.s.TracingConfig(c.getenv)
			if cfg.Enabled != c.enabled || cfg.EdgeID != c.edgeID || cfg.SampleRatio != 0.5 || cfg.Region != "eu" || len(cfg.Roles) != len(c.s.Roles) {
				t.Fatalf("tracing config %+v", cfg)
			}
		})
	}
}
