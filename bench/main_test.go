package bench

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/scripts/testenv"
	"go.uber.org/goleak"
)

// waitBound bounds every wait of these tests. It is a failure bound only: nothing
// asserts that anything happens faster than this.
const waitBound = 30 * time.Second

// The public development defaults of `herald dev`, which the bench's devices
// and REST calls use against it.
const (
	devTokenSecret = "herald-dev-token-secret-not-for-production"
	devAPIKey      = "dev-api-key"
)

// The herald binary of the tests that run one, built once on first use.
var (
	buildOnce sync.Once
	binDir    string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The herald processes read HERALD_* variables: keep the caller's out.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "HERALD_") && !strings.HasPrefix(name, "HERALD_TEST_") {
			os.Unsetenv(name)
		}
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// heraldBinary builds ./cmd/herald once and returns its path.
func heraldBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "herald-bench-bin-"); buildErr == nil {
			builtBin, buildErr = testenv.BuildHerald(binDir)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBin
}

// mustDev starts `herald dev` in a child process on free loopback ports and
// stops it when the test ends.
func mustDev(tb testing.TB) *testenv.Herald {
	tb.Helper()
	return testenv.StartHerald(tb, heraldBinary(tb), "herald dev", "dev")
}

// devConfig is a run of mode against url with herald bench's defaults and
// herald dev's development credentials.
func devConfig(mode, url string) Config {
	return Config{
		Mode: mode, URL: url, Key: devAPIKey, TokenKey: token.HS256Key{Secret: []byte(devTokenSecret)},
		Devices: 100, Rate: 1000, Duration: 10 * time.Second, Procs: 1, Batch: 1, Fanout: 10,
		Settle: 2 * time.Second, Drain: 5 * time.Second,
		Sample: 10 * time.Second, Churn: 0.1, D2DShare: 0.5, FlatTolerance: 0.05,
	}
}
