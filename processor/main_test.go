package processor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Redis client and Kafka client a test opens must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
