package devicelist

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Postgres store a test opens must be closed, and Close must stop its flusher.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
