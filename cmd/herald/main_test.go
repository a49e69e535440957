package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Flags fall back to HERALD_* variables: keep the caller's environment out.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "HERALD_") && !strings.HasPrefix(name, "HERALD_TEST_") {
			os.Unsetenv(name)
		}
	}
	goleak.VerifyTestMain(m)
}
