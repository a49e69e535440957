package processor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Redis client and Kafka client a test opens must be closed. One goroutine is
// let go: a rueidis cluster client, when its connections close, even in
// Close, schedules a refresh of the cluster's topology after a random delay
// of up to a second, in a goroutine Close does not wait for; it ends by itself
// once the delay is over.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"))
}
