package devicelist

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema changes, applied in the order of their names.
// A file, once released, never changes: a change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the transaction-level advisory lock that
// serializes migrations of the device list across processes ("devl" "migr").
const migrationLock int64 = 0x6465766c_6d696772

// migrationPrefix starts this package's rows in schema_migrations, which other
// packages may share.
const migrationPrefix = "devicelist/"

// migration is one embedded schema change.
type migration struct {
	version string // migrationPrefix + file name without .sql
	sql     string
}

// migrations returns the embedded migrations in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{
			version: migrationPrefix + strings.TrimSuffix(path.Base(name), ".sql"),
			sql:     string(b),
		})
	}
	return ms, nil
}

// migrate applies the migrations that schema_migrations does not list yet, all
// in one transaction under an advisory lock: processes starting at once take
// turns, and each later one finds the work done. The lock is released when the
// transaction ends, also when the connection is lost. It returns the versions
// it applied, or pgx's error for the caller to classify.
func migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("devicelist: migrations: %w", err)
	}
	var applied []string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version text PRIMARY KEY,
			applied timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations WHERE starts_with(version, $1)`, migrationPrefix)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, m := range ms {
			if slices.Contains(done, m.version) {
				continue
			}
			// Without arguments, Exec uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s: %w", m.version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return fmt.Errorf("record %s: %w", m.version, err)
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}
