package herald_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// shortTokens is a real edge that allows a tenth of a second of clock skew, and
// an issuer of tokens that expire within two seconds (exp is in whole seconds).
func shortTokens(t *testing.T) (*realEdge, func(context.Context) (string, error), *atomic.Int32) {
	t.Helper()
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: []byte(edgeSecret)}}, Leeway: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	mint := func(context.Context) (string, error) {
		calls.Add(1)
		return iss.Issue("a1", "tv1", 2*time.Second)
	}
	return mustEdge(t, edge.Config{Verifier: v}), mint, &calls
}

// TestRealEdgeTokenExpiry runs the client against a real edge with tokens that
// expire within two seconds: the edge closes each connection with 4001 when its
// token expires, and the client fetches a fresh token through TokenFunc and
// reconnects at once, without reporting an error.
func TestRealEdgeTokenExpiry(t *testing.T) {
	e, mint, calls := shortTokens(t)
	var (
		mu       sync.Mutex
		welcomes int
		errs     []error
	)
	c, err := herald.New(herald.Config{
		URL: e.url, TokenFunc: mint, RefreshBefore: -1, // the reconnect at 4001 is what is tested
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnFrame: func(f protocol.Frame) {
			if _, ok := f.(*protocol.Welcome); ok {
				mu.Lock()
				welcomes++
				mu.Unlock()
			}
		},
		OnState: func(s herald.State, err error) {
			if s == herald.StateDisconnected {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	waitUntil(t, "three connections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return welcomes >= 3
	})
	waitUntil(t, "the edge to count two expiries", func() bool { return e.disconnects(t, "token_expired", "4001") >= 2 })
	if n := calls.Load(); n < 3 {
		t.Errorf("TokenFunc called %d times for 3 connections", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 2 {
		t.Fatalf("%d disconnects seen, want at least 2", len(errs))
	}
	for _, err := range errs {
		if err != nil {
			t.Errorf("a token expiry reported an error: %v", err)
		}
	}
}

// TestRealEdgeTokenExpiryFixedToken: without TokenFunc there is no fresh token,
// so the 4001 close ends Run with ErrTokenExpired.
func TestRealEdgeTokenExpiryFixedToken(t *testing.T) {
	e, mint, _ := shortTokens(t)
	tok, err := mint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := herald.New(herald.Config{URL: e.url, Token: tok, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failAfterEdge)
	defer cancel()
	err = c.Run(ctx)
	if !errors.Is(err, herald.ErrTokenExpired) {
		t.Fatalf("Run = %v, want ErrTokenExpired", err)
	}
	waitUntil(t, "the edge to count the expiry", func() bool { return e.disconnects(t, "token_expired", "4001") == 1 })
}

// TestRealEdgeTokenRefresh runs the client against a real edge with tokens
// that expire within two seconds: with TokenFunc the client refreshes the
// live connection ahead of each expiry, so one connection outlives several
// tokens, with no reconnect.
func TestRealEdgeTokenRefresh(t *testing.T) {
	e, mint, calls := shortTokens(t)
	var (
		mu        sync.Mutex
		welcomes  int
		refreshed int
	)
	c, err := herald.New(herald.Config{
		URL: e.url, TokenFunc: mint,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnFrame: func(f protocol.Frame) {
			mu.Lock()
			defer mu.Unlock()
			switch f.(type) {
			case *protocol.Welcome:
				welcomes++
			case *protocol.Refreshed:
				refreshed++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	waitUntil(t, "three refreshes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refreshed >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if welcomes != 1 {
		t.Fatalf("%d welcomes over %d refreshes: the connection was not kept", welcomes, refreshed)
	}
	if n := calls.Load(); n < 4 {
		t.Fatalf("TokenFunc called %d times, want one per connection and refresh", n)
	}
	if n := e.disconnects(t, "token_expired", "4001"); n != 0 {
		t.Fatalf("%v connections closed with 4001", n)
	}
}
