package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

func mustConnect(tb testing.TB, connString string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	tb.Cleanup(cancel)
	return ctx
}

func TestPostgresRoundTrip(t *testing.T) {
	connString := Postgres(t)
	conn := mustConnect(t, connString)
	ctx := testContext(t)

	if _, err := conn.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO notes VALUES ($1, $2)`, 7, "héllo"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var body, db string
	if err := conn.QueryRow(ctx, `SELECT body, current_database() FROM notes WHERE id = $1`, 7).Scan(&body, &db); err != nil {
		t.Fatalf("select: %v", err)
	}
	if body != "héllo" {
		t.Errorf("body = %q, want %q", body, "héllo")
	}
	if !strings.HasPrefix(db, "t_testpostgresroundtrip_") {
		t.Errorf("current_database() = %q, want a database named after the test", db)
	}
}

func TestPostgresDatabasesArePrivate(t *testing.T) {
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two calls returned the same connection string %q", a)
	}
	connA, connB := mustConnect(t, a), mustConnect(t, b)
	ctx := testContext(t)
	if _, err := connA.Exec(ctx, `CREATE TABLE only_in_a (id int)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	var inB *string
	if err := connB.QueryRow(ctx, `SELECT to_regclass('only_in_a')::text`).Scan(&inB); err != nil {
		t.Fatalf("select: %v", err)
	}
	if inB != nil {
		t.Errorf("table created in the first database is visible in the second as %q", *inB)
	}
}

func TestPostgresDropsDatabase(t *testing.T) {
	var name string
	var leftOpen *pgx.Conn
	var sub *testing.T
	ok := t.Run("user", func(t *testing.T) {
		sub = t
		connString := Postgres(t)
		u, err := url.Parse(connString)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		// Not closed by the subtest: an open connection must not keep the
		// database from being dropped.
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if leftOpen, err = pgx.Connect(ctx, connString); err != nil {
			t.Fatalf("connect: %v", err)
		}
	})
	endWithSubtest(t, ok, sub)
	defer leftOpen.Close(context.Background())

	conn := mustConnect(t, os.Getenv(PostgresEnv))
	var exists bool
	if err := conn.QueryRow(testContext(t), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("select: %v", err)
	}
	if exists {
		t.Errorf("database %s still exists after the test ended", name)
	}
}

// endWithSubtest ends t when its subtest sub failed or was skipped, because the
// checks after it need what the subtest left behind.
func endWithSubtest(t *testing.T, ok bool, sub *testing.T) {
	t.Helper()
	if !ok {
		t.FailNow()
	}
	if sub.Skipped() {
		t.SkipNow()
	}
}

func TestRedisRoundTrip(t *testing.T) {
	client, prefix := RedisClient(t)
	ctx := testContext(t)
	key := prefix + "greeting"
	if err := client.Do(ctx, client.B().Set().Key(key).Value("hello").Build()).Error(); err != nil {
		t.Fatalf("set: %v", err)
	}
	for i, wantHit := range []bool{false, true} {
		res := client.DoCache(ctx, client.B().Get().Key(key).Cache(), time.Minute)
		got, err := res.ToString()
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if got != "hello" {
			t.Errorf("get %d = %q, want %q", i, got, "hello")
		}
		if res.IsCacheHit() != wantHit {
			t.Errorf("get %d: cache hit = %v, want %v", i, res.IsCacheHit(), wantHit)
		}
	}
}

func TestRedisDeletesPrefixedKeys(t *testing.T) {
	var prefix string
	var sub *testing.T
	ok := t.Run("user", func(t *testing.T) {
		sub = t
		var client rueidis.Client
		client, prefix = RedisClient(t)
		ctx := testContext(t)
		for i := range 50 {
			cmd := client.B().Set().Key(fmt.Sprintf("%sk%d", prefix, i)).Value("v").Build()
			if err := client.Do(ctx, cmd).Error(); err != nil {
				t.Fatalf("set: %v", err)
			}
		}
	})
	endWithSubtest(t, ok, sub)
	admin, err := newClient(os.Getenv(RedisEnv), true)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer admin.Close()
	keys, err := admin.Do(testContext(t), admin.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	if len(keys) != 0 {
		t.Errorf("%d keys with prefix %s left after the test ended: %v", len(keys), prefix, keys)
	}
}

func TestDistinctPrefixes(t *testing.T) {
	_, a := Redis(t)
	_, b := Redis(t)
	if a == b {
		t.Errorf("two calls returned the same prefix %q", a)
	}
}

func TestDatabaseName(t *testing.T) {
	for _, tc := range []struct{ name, testName, wantPrefix string }{
		{"simple", "TestFoo", "t_testfoo_"},
		{"subtest", "TestFoo/bar baz", "t_testfoo_bar_baz_"},
		{"long", strings.Repeat("TestLong", 20), "t_" + strings.Repeat("testlong", 5)[:maxNameLen-2] + "_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := databaseName(tc.testName)
			if !strings.HasPrefix(got, tc.wantPrefix) || len(got) != len(tc.wantPrefix)+8 {
				t.Errorf("databaseName(%q) = %q, want %q plus 8 hex digits", tc.testName, got, tc.wantPrefix)
			}
			if len(got) > 63 {
				t.Errorf("databaseName(%q) = %q is longer than 63 bytes", tc.testName, got)
			}
		})
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/t_x?sslmode=disable"},
		{"url without path", "postgresql://u:p@h", "postgresql://u:p@h/t_x"},
		{"keyword/value", "host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=t_x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.in, "t_x")
			if err != nil {
				t.Fatalf("withDatabase: %v", err)
			}
			if got != tc.want {
				t.Errorf("withDatabase(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// recordingTB records how a helper ended the test instead of ending the real one.
type recordingTB struct {
	testing.TB
	ended string // "fatal" or "skip"
	msg   string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.ended, r.msg = "fatal", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.ended, r.msg = "skip", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with r in a goroutine, as the testing package would, so that
// Goexit ends only that goroutine.
func (r *recordingTB) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestUnavailable(t *testing.T) {
	// Port 1 on loopback refuses connections.
	helpers := map[string]func(testing.TB){
		"postgres": func(tb testing.TB) { Postgres(tb) },
		"redis":    func(tb testing.TB) { Redis(tb) },
	}
	for _, tc := range []struct {
		name, ci, pg, redis, want string
	}{
		{"unset", "", "", "", "skip"},
		{"unreachable", "", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5", "127.0.0.1:1", "skip"},
		{"unset under CI", "true", "", "", "fatal"},
		{"unreachable under CI", "true", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5", "127.0.0.1:1", "fatal"},
		{"CI not true", "false", "", "", "skip"},
	} {
		for service, helper := range helpers {
			t.Run(tc.name+"/"+service, func(t *testing.T) {
				t.Setenv("CI", tc.ci)
				t.Setenv(PostgresEnv, tc.pg)
				t.Setenv(RedisEnv, tc.redis)
				rec := &recordingTB{TB: t}
				rec.run(helper)
				if rec.ended != tc.want {
					t.Fatalf("ended with %q (%s), want %q", rec.ended, rec.msg, tc.want)
				}
				if !strings.Contains(rec.msg, "make test") {
					t.Errorf("message %q does not say how to get services", rec.msg)
				}
			})
		}
	}
}

// TestStartRedisWith checks that each option of a private server takes
// effect, and lasts across a restart.
func TestStartRedisWith(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    RedisOptions
		scheme  string
		command []string
		want    string
	}{
		{"password", RedisOptions{Password: "pw"}, "redis", []string{"PING"}, "PONG"},
		{"TLS", RedisOptions{TLS: true}, "rediss", []string{"PING"}, "PONG"},
		{"cluster over TLS with a password", RedisOptions{Cluster: true, TLS: true, Password: "pw"}, "rediss", []string{"CLUSTER", "INFO"}, "cluster_state:ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := StartRedisWith(t, tt.opts)
			if u, _ := url.Parse(r.URL()); u.Scheme != tt.scheme || u.Host != r.Addr {
				t.Errorf("URL() = %s, want %s://…@%s", r.URL(), tt.scheme, r.Addr)
			}
			if (r.CAFile != "") != tt.opts.TLS {
				t.Errorf("CAFile = %q with TLS %v", r.CAFile, tt.opts.TLS)
			}
			for _, run := range []string{"first", "after a restart"} {
				if run != "first" {
					r.Stop()
					r.Start()
				}
				if got, err := r.do(tt.command...); err != nil || !strings.Contains(got, tt.want) {
					t.Errorf("%s: %v = %q, %v; want %q", run, tt.command, got, err, tt.want)
				}
			}
			if tt.opts.Password != "" {
				if _, err := redisDo(r.Addr, r.tlsConf, "", "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
					t.Errorf("PING without AUTH: %v, want NOAUTH", err)
				}
			}
			if tt.opts.TLS {
				if _, err := redisDo(r.Addr, nil, tt.opts.Password, "PING"); err == nil {
					t.Error("PING without TLS answered")
				}
			}
		})
	}
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprint("durable ", durable), func(t *testing.T) {
			r := StartRedisWith(t, RedisOptions{Durable: durable})
			if _, err := r.do("SET", "k", "v"); err != nil {
				t.Fatal(err)
			}
			r.Stop() // SIGKILL: no shutdown save
			r.Start()
			got, err := r.do("EXISTS", "k")
			if want := map[bool]string{false: "0", true: "1"}[durable]; err != nil || got != want {
				t.Errorf("EXISTS k after a kill and a start = %q, %v; want %s", got, err, want)
			}
		})
	}
	t.Run("sentinel", func(t *testing.T) {
		master := StartRedisWith(t, RedisOptions{Password: "pw"})
		s := StartSentinel(t, master, "main")
		if got, err := s.do("SENTINEL", "CKQUORUM", "main"); err != nil || !strings.HasPrefix(got, "OK") {
			t.Errorf("SENTINEL CKQUORUM main = %q, %v; want OK", got, err)
		}
	})
}
