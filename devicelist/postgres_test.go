package devicelist

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/jackc/pgx/v5/pgconn"
)

// within runs call and returns its error, failing the test if it has not
// returned after a bound far above any configured timeout: the point is that
// it returns at all instead of hanging the test until go test's timeout.
func within(tb testing.TB, call func() error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		tb.Fatal("call still blocked after 30s")
		return nil
	}
}

// deadURL returns a connection string for a loopback port where nothing listens.
func deadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "postgres://postgres@" + addr + "/herald?sslmode=disable"
}

func TestOpenPostgresConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     PostgresConfig
		mention string
	}{
		{"no URL", PostgresConfig{}, "URL is required"},
		{"bad URL", PostgresConfig{URL: "postgres://u:s3cret@%zz/db"}, "not a valid connection string"},
		{"negative timeout", PostgresConfig{URL: "postgres://h/db", Timeout: -time.Second}, "Timeout is negative"},
		{"negative buffer", PostgresConfig{URL: "postgres://h/db", SeenBuffer: -1}, "SeenBuffer is negative"},
		{"negative conns", PostgresConfig{URL: "postgres://h/db", MaxConns: -1}, "MaxConns is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := OpenPostgres(testContext(t), tc.cfg)
			if err == nil {
				p.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			if errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %v, want a config error mentioning %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("err = %v shows the password", err)
			}
		})
	}
}

// TestOpenPostgresUnreachable checks that OpenPostgres reports a server it
// cannot reach as unavailable instead of hanging, also when the caller's
// context has no deadline.
func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(tb testing.TB) string
	}{
		{"refused", deadURL},
		{"silent", func(tb testing.TB) string {
			px, url := startProxy(tb, deadURL(tb))
			px.setMode("silent")
			return url
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			err := within(t, func() error {
				p, err := OpenPostgres(context.Background(), PostgresConfig{URL: url, Timeout: 200 * time.Millisecond})
				if err == nil {
					p.Close()
				}
				return err
			})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("OpenPostgres: %v, want ErrUnavailable", err)
			}
			t.Log(err)
		})
	}
}

// TestPostgresServerGone checks that a store whose server goes away answers
// every call with ErrUnavailable within its Timeout, keeps the last-seen
// updates it could not write, and recovers when the server is back.
func TestPostgresServerGone(t *testing.T) {
	t.Parallel()
	px, url := startProxy(t, testenv.Postgres(t))
	// A timeout short enough for a quick test, long enough for the first
	// connection and the migrations on a loaded host.
	p := mustPostgres(t, PostgresConfig{URL: url, Timeout: 500 * time.Millisecond, SeenFlush: time.Hour})
	mustPut(t, p, phone("a1", "p1"))
	seen := timestamp(time.Now())

	for _, mode := range []string{"refuse", "silent"} {
		t.Run(mode, func(t *testing.T) {
			px.setMode(mode)
			for _, ctx := range []struct {
				name string
				ctx  context.Context
			}{
				{"with deadline", testContext(t)},
				{"without deadline", context.Background()},
			} {
				for _, op := range storeCalls(ctx.ctx, p) {
					t.Run(op.name+" "+ctx.name, func(t *testing.T) {
						if err := within(t, op.call); !errors.Is(err, ErrUnavailable) {
							t.Fatalf("err = %v, want ErrUnavailable", err)
						}
					})
				}
			}
			t.Run("flush", func(t *testing.T) {
				p.Seen("a1", "p1", seen)
				if err := within(t, func() error { return p.flush(context.Background()) }); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("flush: %v, want ErrUnavailable", err)
				}
			})
		})
	}

	px.setMode("forward")
	// The pool drops broken connections as it finds them; the first calls after
	// the outage may still meet one.
	var err error
	for range 10 {
		if err = p.flush(testContext(t)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("flush after the server came back: %v", err)
	}
	// Idle connections that sat in the pool through the outage may still be
	// stuck; each times out once and is dropped.
	var d Device
	for range 10 {
		if d, err = p.Get(testContext(t), "a1", "p1"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Get after the server came back: %v", err)
	}
	if got := d.LastSeen; !got.Equal(seen) {
		t.Errorf("LastSeen = %v, want %v from the Seen made during the outage", got, seen)
	}
	if n := p.SeenDropped(); n != 0 {
		t.Errorf("SeenDropped = %d, want 0", n)
	}
}

func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	t.Run("twice", func(t *testing.T) {
		url := testenv.Postgres(t)
		first := mustPostgres(t, PostgresConfig{URL: url})
		mustPut(t, first, phone("a1", "p1"))
		second := mustPostgres(t, PostgresConfig{URL: url})
		mustGet(t, second, "a1", "p1")
		applied, err := migrate(testContext(t), second.pool)
		if err != nil || len(applied) != 0 {
			t.Errorf("migrate on a migrated database applied %q, %v; want nothing", applied, err)
		}
		wantMigrations(t, second)
	})
	t.Run("concurrently", func(t *testing.T) {
		url := testenv.Postgres(t)
		const n = 8
		stores := make([]*Postgres, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				stores[i], errs[i] = OpenPostgres(testContext(t), PostgresConfig{URL: url, MaxConns: 2})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("OpenPostgres %d: %v", i, err)
				continue
			}
			t.Cleanup(stores[i].Close)
		}
		if t.Failed() {
			return
		}
		mustPut(t, stores[0], phone("a1", "p1"))
		mustGet(t, stores[n-1], "a1", "p1")
		wantMigrations(t, stores[0])
	})
}

// wantMigrations checks that schema_migrations lists every embedded migration once.
func wantMigrations(tb testing.TB, p *Postgres) {
	tb.Helper()
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		tb.Fatalf("migrations() = %v, %v", ms, err)
	}
	var rows int
	if err := p.pool.QueryRow(testContext(tb), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil {
		tb.Fatal(err)
	}
	if rows != len(ms) {
		tb.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
}

// TestPostgresSeenBatching checks that many Seen calls cost one statement per
// flush and leave each device with its latest time.
func TestPostgresSeenBatching(t *testing.T) {
	t.Parallel()
	p := mustPostgres(t, PostgresConfig{URL: testenv.Postgres(t), SeenFlush: time.Hour})
	base := timestamp(time.Now())
	latest := map[seenKey]time.Time{}
	var calls []func()
	for a := range 3 {
		for d := range 50 {
			k := seenKey{fmt.Sprintf("a%d", a), fmt.Sprintf("d%02d", d)}
			mustTouch(t, p, k.account, k.id, nil)
			for i := range 10 {
				at := base.Add(time.Duration(a*1000+d*10+i) * time.Second)
				latest[k] = at
				calls = append(calls, func() { p.Seen(k.account, k.id, at) })
			}
		}
	}
	rand.Shuffle(len(calls), func(i, j int) { calls[i], calls[j] = calls[j], calls[i] })
	// From several goroutines, as several connections would.
	var wg sync.WaitGroup
	for part := range 4 {
		wg.Go(func() {
			for i := part; i < len(calls); i += 4 {
				calls[i]()
			}
		})
	}
	wg.Wait()

	before := p.seenStatements.Load()
	if err := p.flush(testContext(t)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := p.flush(testContext(t)); err != nil {
		t.Fatalf("second flush: %v", err)
	}
	if n := p.seenStatements.Load() - before; n != 1 {
		t.Errorf("%d statements for %d Seen calls of %d devices and two flushes, want 1", n, len(calls), len(latest))
	}
	for _, account := range []string{"a0", "a1", "a2"} {
		list, err := p.List(testContext(t), account)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if want := latest[seenKey{account, d.ID}]; !d.LastSeen.Equal(want) {
				t.Errorf("%s/%s LastSeen = %v, want %v", account, d.ID, d.LastSeen, want)
			}
		}
	}
	if n := p.SeenDropped(); n != 0 {
		t.Errorf("SeenDropped = %d, want 0", n)
	}
}

func TestPostgresSeenDropped(t *testing.T) {
	t.Parallel()
	p := mustPostgres(t, PostgresConfig{URL: testenv.Postgres(t), SeenFlush: time.Hour, SeenBuffer: 3})
	at := timestamp(time.Now())
	var touched []time.Time
	for i := range 6 {
		mustTouch(t, p, "a1", fmt.Sprint("d", i), nil)
		touched = append(touched, mustGet(t, p, "a1", fmt.Sprint("d", i)).LastSeen)
	}
	for i := range 6 {
		p.Seen("a1", fmt.Sprint("d", i), at.Add(time.Hour))
	}
	p.Seen("a1", "d0", at.Add(2*time.Hour)) // already buffered: kept, not dropped
	if n := p.SeenDropped(); n != 3 {
		t.Errorf("SeenDropped = %d, want 3", n)
	}
	if err := p.flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	// The dropped updates leave d3-d5 as Touch left them.
	for i, want := range []time.Time{at.Add(2 * time.Hour), at.Add(time.Hour), at.Add(time.Hour), touched[3], touched[4], touched[5]} {
		if got := mustGet(t, p, "a1", fmt.Sprint("d", i)).LastSeen; !got.Equal(want) {
			t.Errorf("d%d LastSeen = %v, want %v", i, got, want)
		}
	}
	// The flush made room again.
	p.Seen("a1", "d5", at.Add(time.Hour))
	if n := p.SeenDropped(); n != 3 {
		t.Errorf("SeenDropped after a flush = %d, want still 3", n)
	}
}

// TestPostgresFlusher checks that the store's own goroutine writes Seen updates.
func TestPostgresFlusher(t *testing.T) {
	t.Parallel()
	p := mustPostgres(t, PostgresConfig{URL: testenv.Postgres(t), SeenFlush: 10 * time.Millisecond})
	mustTouch(t, p, "a1", "p1", nil)
	at := timestamp(time.Now().Add(time.Hour))
	p.Seen("a1", "p1", at)
	deadline := time.Now().Add(10 * time.Second)
	for !mustGet(t, p, "a1", "p1").LastSeen.Equal(at) {
		if time.Now().After(deadline) {
			t.Fatal("Seen update not written by the flusher after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPostgresClose(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	p, err := OpenPostgres(testContext(t), PostgresConfig{URL: url, SeenFlush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustTouch(t, p, "a1", "p1", nil)
	at := timestamp(time.Now().Add(time.Hour))
	p.Seen("a1", "p1", at)
	p.Close()
	p.Close()

	p.Seen("a1", "p1", at.Add(time.Hour))
	if n := p.SeenDropped(); n != 1 {
		t.Errorf("SeenDropped after a Seen after Close = %d, want 1", n)
	}
	for _, op := range storeCalls(testContext(t), p) {
		if err := op.call(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", op.name, err)
		}
	}

	reopened := mustPostgres(t, PostgresConfig{URL: url})
	if got := mustGet(t, reopened, "a1", "p1").LastSeen; !got.Equal(at) {
		t.Errorf("LastSeen = %v, want %v written by Close", got, at)
	}
}

func TestFail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"deadline", context.DeadlineExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fail("get a1/p1", tc.err)
			if errors.Is(err, ErrUnavailable) != tc.unavailable {
				t.Errorf("fail(%v) = %v; unavailable = %v, want %v", tc.err, err, !tc.unavailable, tc.unavailable)
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), "get a1/p1") {
				t.Errorf("fail(%v) = %v, want it to wrap the cause and name the operation", tc.err, err)
			}
		})
	}
}
