package settings

import (
	"errors"
	"strings"
	"testing"
)

// TestKafkaBatchingWaits checks the bounds of the batching waits at their
// edges: the fetch waits take 0 (off) or 10ms to 1s, the linger 0 to 100ms,
// the metadata minimum age 100ms to 1m, and a refusal is a usage error that
// names the flag.
func TestKafkaBatchingWaits(t *testing.T) {
	tests := []struct {
		flag, value string
		ok          bool
	}{
		{"--processor-fetch-wait", "0s", true},
		{"--processor-fetch-wait", "-10ms", false},
		{"--processor-fetch-wait", "9ms", false},
		{"--processor-fetch-wait", "10ms", true},
		{"--processor-fetch-wait", "1s", true},
		{"--processor-fetch-wait", "1.001s", false},
		{"--status-fetch-wait", "0s", true},
		{"--status-fetch-wait", "9ms", false},
		{"--status-fetch-wait", "10ms", true},
		{"--status-fetch-wait", "1s", true},
		{"--status-fetch-wait", "1.001s", false},
		{"--kafka-produce-linger", "0s", true},
		{"--kafka-produce-linger", "-1ms", false},
		{"--kafka-produce-linger", "1ms", true},
		{"--kafka-produce-linger", "100ms", true},
		{"--kafka-produce-linger", "101ms", false},
		{"--kafka-metadata-min-age", "99ms", false},
		{"--kafka-metadata-min-age", "100ms", true},
		{"--kafka-metadata-min-age", "1m0s", true},
		{"--kafka-metadata-min-age", "1m0.001s", false},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			c := serveServer(t, tt.flag, tt.value)
			err := c.Kafka.Validate()
			if tt.ok {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var ue UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.flag+" must be") || !strings.Contains(err.Error(), "got "+strings.TrimSuffix(tt.value, "s")) {
				t.Errorf("error %v, want a usage error that names %s and the value", err, tt.flag)
			}
		})
	}
}

// TestKafkaCompression checks --kafka-compression: each codec is taken, in
// any case, an unknown one is a usage error that names the flag, and the
// empty default is none on herald dev's embedded cluster only.
func TestKafkaCompression(t *testing.T) {
	tests := []struct {
		value              string
		ok                 bool
		embedded, external string
	}{
		{"", true, "none", ""},
		{"none", true, "none", "none"},
		{"gzip", true, "gzip", "gzip"},
		{"snappy", true, "snappy", "snappy"},
		{"LZ4", true, "LZ4", "LZ4"},
		{"zstd", true, "zstd", "zstd"},
		{"brotli", false, "", ""},
		{"snappy ", false, "", ""},
	}
	for _, tt := range tests {
		t.Run("value="+tt.value, func(t *testing.T) {
			c := serveServer(t, "--kafka-compression", tt.value)
			err := c.Kafka.Validate()
			if !tt.ok {
				var ue UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--kafka-compression") || !strings.Contains(err.Error(), tt.value) {
					t.Errorf("error %v, want a usage error that names --kafka-compression and the value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := c.Kafka.EffectiveCompression(true); got != tt.embedded {
				t.Errorf("on the embedded cluster: %q, want %q", got, tt.embedded)
			}
			if got := c.Kafka.EffectiveCompression(false); got != tt.external {
				t.Errorf("on brokers of its own: %q, want %q", got, tt.external)
			}
		})
	}
}
