package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// maxNameLen keeps database names below Postgres's 63-byte identifier limit,
// leaving room for the prefix and the random suffix.
const maxNameLen = 40

// Postgres returns a connection string for a fresh database private to the
// calling test, so that tests can create schemas and run in parallel without
// seeing each other's rows. The database is created on the server named by
// [PostgresEnv] and dropped in tb.Cleanup, even while connections to it are
// still open. When the variable is unset or the server unreachable, the test
// is skipped, or fails when CI is "true".
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		unavailable(tb, PostgresEnv, "not set")
	}

	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(tb, PostgresEnv, err.Error())
	}
	defer conn.Close(ctx)

	name := databaseName(tb.Name())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		tb.Fatalf("testenv: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			tb.Errorf("testenv: drop database %s: %v", name, err)
		}
	})

	connString, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("testenv: %s: %v", PostgresEnv, err)
	}
	return connString
}

// databaseName derives a database name from a test name, readable in
// pg_stat_activity and unique through a random suffix.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= maxNameLen {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(randomSuffix())
	return b.String()
}

// withDatabase returns connString pointing at database name instead. It accepts
// both forms pgx does: a postgres:// URL and keyword/value pairs, where a later
// dbname overrides an earlier one.
func withDatabase(connString, name string) (string, error) {
	if !strings.HasPrefix(connString, "postgres://") && !strings.HasPrefix(connString, "postgresql://") {
		return connString + " dbname=" + name, nil
	}
	u, err := url.Parse(connString)
	if err != nil {
		return "", fmt.Errorf("parse connection string: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}
