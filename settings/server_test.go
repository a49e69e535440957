package settings

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/edge"
)

// TestEdgeReleaseMemoryQuiet checks that --release-memory-quiet=0 reaches the
// edge as off, not as the edge's default.
func TestEdgeReleaseMemoryQuiet(t *testing.T) {
	for _, tt := range []struct {
		flag, want time.Duration
	}{{0, -1}, {time.Second, time.Second}, {edge.DefaultReleaseMemoryQuiet, edge.DefaultReleaseMemoryQuiet}} {
		c := Server{ReleaseMemoryQuiet: tt.flag}
		if got := c.EdgeReleaseMemoryQuiet(); got != tt.want {
			t.Errorf("--release-memory-quiet=%v: edge.Config.ReleaseMemoryQuiet = %v, want %v", tt.flag, got, tt.want)
		}
	}
}

// TestEdgePolicyBackoff checks that --policy-backoff=0 reaches the edge as off,
// not as the edge's default.
func TestEdgePolicyBackoff(t *testing.T) {
	for _, tt := range []struct {
		flag, want time.Duration
	}{{0, -1}, {time.Second, time.Second}, {edge.DefaultPolicyBackoff, edge.DefaultPolicyBackoff}} {
		c := Server{PolicyBackoff: tt.flag}
		if got := c.EdgePolicyBackoff(); got != tt.want {
			t.Errorf("--policy-backoff=%v: edge.Config.PolicyBackoff = %v, want %v", tt.flag, got, tt.want)
		}
	}
}
