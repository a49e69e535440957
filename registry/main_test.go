package registry

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Redis client a test opens must be closed.
//
// Two goroutines of a rueidis cluster client are let go, each of which Close
// does not wait for and which end by themselves: the topology refresh that
// its connections' close hook schedules after a random delay of up to a
// second, even in Close; and, after a refresh that found a node gone (a
// failover), the closing of that node's connections five seconds later.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"))
}
