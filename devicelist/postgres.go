package devicelist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for the zero fields of [PostgresConfig].
const (
	// DefaultMaxConns is the size of the connection pool.
	DefaultMaxConns = 10
	// DefaultTimeout bounds each query when the caller's context has no
	// earlier deadline.
	DefaultTimeout = 2 * time.Second
	// DefaultSeenFlush is how often batched last-seen updates are written: the
	// longest a device's last_seen lags behind.
	DefaultSeenFlush = 5 * time.Second
	// DefaultSeenBuffer is how many devices' last-seen updates wait for a flush.
	DefaultSeenBuffer = 65536
)

// migrateTimeout bounds OpenPostgres' migrations, which may wait for another
// process's, when the caller's context has no earlier deadline.
const migrateTimeout = time.Minute

// PostgresConfig configures a [Postgres] device list. Zero fields take their
// defaults.
type PostgresConfig struct {
	// URL is the connection string, a postgres:// URL or keyword/value pairs.
	// Required.
	URL string
	// MaxConns is the most connections in the pool. Default [DefaultMaxConns].
	MaxConns int32
	// Timeout bounds each query when the caller's context has no earlier
	// deadline. Default [DefaultTimeout].
	Timeout time.Duration
	// SeenFlush is how often batched last-seen updates are written. Default
	// [DefaultSeenFlush].
	SeenFlush time.Duration
	// SeenBuffer is how many devices' last-seen updates are kept until the
	// next flush; updates of further devices are dropped and counted by
	// [Postgres.SeenDropped]. Default [DefaultSeenBuffer].
	SeenBuffer int
	// Logger receives failed flushes. Default: discard.
	Logger *slog.Logger
}

// Postgres is the device list of a deployment, kept in Postgres and shared by
// every edge and API process. It is safe for concurrent use. See the package
// documentation for the schema and the last-seen batching.
type Postgres struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time // the clock; tests replace it before any call

	seen           *seenBatcher
	seenStatements atomic.Uint64 // last-seen statements sent, successful or not

	closeOnce sync.Once
	stop      chan struct{} // closed by Close to stop the flusher
	done      chan struct{} // closed by the flusher when it returns
}

// OpenPostgres connects (pgxpool), applies the embedded migrations (devicelist/migrations/*.sql,
// tracked in a schema_migrations table, under a pg_advisory_lock so several processes starting
// at once are safe and idempotent), and starts the last-seen flusher (a goroutine owned by the
// store; Close flushes and stops it).
//
// A bad config is a plain error; a server that cannot be reached gives an
// error wrapping [ErrUnavailable], within ctx's deadline or a minute.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if cfg.URL == "" {
		return nil, errors.New("devicelist: postgres config: URL is required")
	}
	for name, v := range map[string]int64{
		"MaxConns": int64(cfg.MaxConns), "Timeout": int64(cfg.Timeout),
		"SeenFlush": int64(cfg.SeenFlush), "SeenBuffer": int64(cfg.SeenBuffer),
	} {
		if v < 0 {
			return nil, fmt.Errorf("devicelist: postgres config: %s is negative (%d)", name, v)
		}
	}
	setDefault(&cfg.MaxConns, DefaultMaxConns)
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.SeenFlush, DefaultSeenFlush)
	setDefault(&cfg.SeenBuffer, DefaultSeenBuffer)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error may quote the URL, password included; say only what failed.
		return nil, errors.New("devicelist: postgres config: URL is not a valid connection string")
	}
	pc.MaxConns = cfg.MaxConns
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > cfg.Timeout {
		// Bounds the dials the pool makes on its own, outside any query's context.
		pc.ConnConfig.ConnectTimeout = cfg.Timeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fail("open", err)
	}
	mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	if _, err := migrate(mctx, pool); err != nil {
		pool.Close()
		return nil, fail(fmt.Sprintf("open %s:%d: migrate", pc.ConnConfig.Host, pc.ConnConfig.Port), err)
	}

	p := &Postgres{
		pool:    pool,
		timeout: cfg.Timeout,
		log:     cfg.Logger,
		now:     time.Now,
		seen:    newSeenBatcher(cfg.SeenBuffer),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.flushLoop(cfg.SeenFlush)
	return p, nil
}

// setDefault replaces a zero *v with def.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Close writes the pending last-seen updates (bounded by Timeout), stops the
// flusher and closes the pool. Calls after the first do nothing; calls of other
// methods after Close fail with ErrUnavailable, and Seen drops (and counts) its
// updates.
func (p *Postgres) Close() {
	p.closeOnce.Do(func() {
		p.seen.close()
		close(p.stop)
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		if err := p.flush(ctx); err != nil {
			p.log.Warn("devicelist: last-seen updates lost at close", "err", err)
		}
		p.pool.Close()
	})
}

// bound returns ctx limited to the configured Timeout.
func (p *Postgres) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}

// fail turns an error of pgx into the package's: unavailable (wrapping
// ErrUnavailable) unless Postgres itself rejected the statement for a reason
// that retrying will not cure. The operation is named either way.
func fail(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !transient(pgErr.Code) {
		return fmt.Errorf("devicelist: %s: %w", op, err)
	}
	return unavailable(op, err)
}

// transient reports whether a Postgres error code means the server could not
// serve the statement now: a lost connection (08), too many connections or no
// space (53), shutdown or a cancelled statement (57), a system error (58), or a
// deadlock or serialization failure (40).
func transient(code string) bool {
	if len(code) < 2 {
		return true
	}
	switch code[:2] {
	case "08", "53", "57", "58", "40":
		return true
	}
	return false
}

// deviceColumns are the columns scanDevice reads, after account and id.
const deviceColumns = `platform, name, app_version, capabilities, attributes, created, updated, last_seen`

// scanDevice reads head (columns before deviceColumns, such as id) and
// deviceColumns into d.
func scanDevice(row pgx.Row, d *Device, head ...any) error {
	var lastSeen *time.Time
	dest := append(head, &d.Platform, &d.Name, &d.AppVersion, &d.Capabilities, &d.Attributes,
		&d.Created, &d.Updated, &lastSeen)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	d.Capabilities = cloneCapabilities(d.Capabilities)
	d.Attributes = cloneAttributes(d.Attributes)
	d.Created, d.Updated = d.Created.UTC(), d.Updated.UTC()
	if lastSeen != nil {
		d.LastSeen = lastSeen.UTC()
	}
	return nil
}

// Put registers or updates a device (REST PUT): metadata replaced by d's (Account/ID from d; Created kept on update).
// Returns the stored device and whether it was created. LastSeen is kept;
// Created, Updated and LastSeen of d are ignored.
func (p *Postgres) Put(ctx context.Context, d Device) (Device, bool, error) {
	if err := checkDevice(&d); err != nil {
		return Device{}, false, err
	}
	d = normalize(d)
	now := timestamp(p.now())
	caps, attrs := d.Capabilities, d.Attributes
	if caps == nil {
		caps = []string{}
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	var lastSeen *time.Time
	var created bool
	err := p.pool.QueryRow(ctx, `
		INSERT INTO devices AS d (account, id, platform, name, app_version, capabilities, attributes, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (account, id) DO UPDATE SET
			platform = excluded.platform, name = excluded.name, app_version = excluded.app_version,
			capabilities = excluded.capabilities, attributes = excluded.attributes, updated = excluded.updated
		RETURNING created, updated, last_seen, xmax = 0`,
		d.Account, d.ID, d.Platform, d.Name, d.AppVersion, caps, attrs, now,
	).Scan(&d.Created, &d.Updated, &lastSeen, &created)
	if err != nil {
		return Device{}, false, fail("put "+d.Account+"/"+d.ID, err)
	}
	d.Created, d.Updated, d.LastSeen = d.Created.UTC(), d.Updated.UTC(), time.Time{}
	if lastSeen != nil {
		d.LastSeen = lastSeen.UTC()
	}
	return d, created, nil
}

// Touch makes sure the device exists (a device appears in the list when it
// first connects); with info != nil also updates platform, name, app_version,
// capabilities from a hello frame (fields empty in info are left as they are).
// Sets last_seen to now (never moving it back). Updated moves only when the
// metadata changes.
func (p *Postgres) Touch(ctx context.Context, account, device string, info *protocol.DeviceInfo) error {
	if err := checkIDs(account, device); err != nil {
		return err
	}
	if err := checkHello(info); err != nil {
		return err
	}
	// NULL leaves a field as it is.
	var platform, name, appVersion *string
	var caps []string
	if info != nil {
		platform, name, appVersion = nonEmpty(info.Platform), nonEmpty(info.Name), nonEmpty(info.AppVersion)
		if len(info.Capabilities) > 0 {
			caps = info.Capabilities
		}
	}
	now := timestamp(p.now())
	ctx, cancel := p.bound(ctx)
	defer cancel()
	_, err := p.pool.Exec(ctx, `
		INSERT INTO devices AS d (account, id, platform, name, app_version, capabilities, created, updated, last_seen)
		VALUES ($1, $2, COALESCE($3::text, ''), COALESCE($4::text, ''), COALESCE($5::text, ''),
			COALESCE($6::text[], '{}'), $7, $7, $7)
		ON CONFLICT (account, id) DO UPDATE SET
			platform = COALESCE($3::text, d.platform),
			name = COALESCE($4::text, d.name),
			app_version = COALESCE($5::text, d.app_version),
			capabilities = COALESCE($6::text[], d.capabilities),
			updated = CASE
				WHEN (COALESCE($3::text, d.platform), COALESCE($4::text, d.name), COALESCE($5::text, d.app_version),
					COALESCE($6::text[], d.capabilities))
					IS DISTINCT FROM (d.platform, d.name, d.app_version, d.capabilities)
				THEN $7 ELSE d.updated END,
			last_seen = GREATEST(d.last_seen, $7)`,
		account, device, platform, name, appVersion, caps, now)
	if err != nil {
		return fail("touch "+account+"/"+device, err)
	}
	return nil
}

// nonEmpty returns &s, or nil for "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Get returns one device, or ErrNotFound.
func (p *Postgres) Get(ctx context.Context, account, device string) (Device, error) {
	if err := checkIDs(account, device); err != nil {
		return Device{}, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	d := Device{Account: account, ID: device}
	err := scanDevice(p.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE account = $1 AND id = $2`, account, device), &d)
	if errors.Is(err, pgx.ErrNoRows) {
		return Device{}, ErrNotFound
	}
	if err != nil {
		return Device{}, fail("get "+account+"/"+device, err)
	}
	return d, nil
}

// List returns the account's devices sorted by id; an empty slice (not nil) when none.
func (p *Postgres) List(ctx context.Context, account string) ([]Device, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT id, `+deviceColumns+` FROM devices WHERE account = $1 ORDER BY id`, account)
	if err != nil {
		return nil, fail("list "+account, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Device, error) {
		d := Device{Account: account}
		err := scanDevice(row, &d, &d.ID)
		return d, err
	})
	if err != nil {
		return nil, fail("list "+account, err)
	}
	if list == nil {
		list = []Device{}
	}
	return list, nil
}

// IDs returns the ids of the account's devices, sorted: the cheap call used for
// sibling resolution. An empty slice (not nil) when none.
func (p *Postgres) IDs(ctx context.Context, account string) ([]string, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	return p.strings(ctx, "ids "+account, `SELECT id FROM devices WHERE account = $1 ORDER BY id`, account)
}

// Owners returns the accounts that have a device with this id, sorted (used to
// tell "forbidden: another account's device" from "unknown device"). An empty
// slice (not nil) when none.
func (p *Postgres) Owners(ctx context.Context, device string) ([]string, error) {
	if err := checkID("id", device); err != nil {
		return nil, err
	}
	return p.strings(ctx, "owners "+device, `SELECT account FROM devices WHERE id = $1 ORDER BY account`, device)
}

// strings runs a query for one text column and returns its values, an empty
// slice when there are none.
func (p *Postgres) strings(ctx context.Context, op, sql string, arg string) ([]string, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	rows, err := p.pool.Query(ctx, sql, arg)
	if err != nil {
		return nil, fail(op, err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail(op, err)
	}
	if vals == nil {
		vals = []string{}
	}
	return vals, nil
}

// Delete removes a device and reports whether it existed.
func (p *Postgres) Delete(ctx context.Context, account, device string) (bool, error) {
	if err := checkIDs(account, device); err != nil {
		return false, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	tag, err := p.pool.Exec(ctx, `DELETE FROM devices WHERE account = $1 AND id = $2`, account, device)
	if err != nil {
		return false, fail("delete "+account+"/"+device, err)
	}
	return tag.RowsAffected() > 0, nil
}
