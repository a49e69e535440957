package settings

import (
	"errors"
	"strings"
	"testing"
)

// TestKafkaBatchingWaits checks the bounds of the batching waits at their
// edges: the fetch waits take 0 (off) or 10ms to 1s, the linger 0 to 100ms,
// and a refusal is a usage error that names the flag.
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
