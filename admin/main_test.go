package admin

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a fleet
// call waits for every edge it asked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
