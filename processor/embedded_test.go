package processor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEmbedded starts herald dev's cluster, reaches its broker and closes
// it, leaving no goroutine behind (TestMain).
func TestEmbedded(t *testing.T) {
	e, err := StartEmbedded(0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.Addrs()) != 1 {
		t.Fatalf("brokers %v, want one", e.Addrs())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
