package devicelist

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AddTopic subscribes the device persistently to topic and reports whether
// the subscription is new. It fails with ErrNotFound when the account has no
// such device, and with ErrTopicLimit when the subscription is new and the
// device has max topics already. The device's row is locked while the topics
// are counted, so that concurrent adds never pass max: four round trips
// (begin, lock, count, insert and commit).
func (p *Postgres) AddTopic(ctx context.Context, account, device, topic string, max int) (bool, error) {
	if err := checkTopicArgs(account, device, topic); err != nil {
		return false, err
	}
	op := "add topic " + account + "/" + device
	now := timestamp(p.now())
	ctx, cancel := p.bound(ctx)
	defer cancel()
	created := false
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// The lock first, in a statement of its own: in READ COMMITTED the
		// count that follows takes a snapshot after it, so it sees every add
		// that held the lock before.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM devices WHERE account = $1 AND id = $2 FOR UPDATE`, account, device).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var n, has int
		if err := tx.QueryRow(ctx, `
			SELECT count(*), count(*) FILTER (WHERE topic = $3)
			FROM device_topics WHERE account = $1 AND device = $2`,
			account, device, topic).Scan(&n, &has); err != nil {
			return err
		}
		if has > 0 {
			return nil
		}
		if n >= max {
			return ErrTopicLimit
		}
		if _, err := tx.Exec(ctx, `INSERT INTO device_topics (account, device, topic, created) VALUES ($1, $2, $3, $4)`,
			account, device, topic, now); err != nil {
			return err
		}
		created = true
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTopicLimit):
		return false, err
	case err != nil:
		return false, fail(op, err)
	}
	return created, nil
}

// RemoveTopic ends the device's persistent subscription to topic and reports
// whether there was one.
func (p *Postgres) RemoveTopic(ctx context.Context, account, device, topic string) (bool, error) {
	if err := checkTopicArgs(account, device, topic); err != nil {
		return false, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	tag, err := p.pool.Exec(ctx, `DELETE FROM device_topics WHERE account = $1 AND device = $2 AND topic = $3`, account, device, topic)
	if err != nil {
		return false, fail("remove topic "+account+"/"+device, err)
	}
	return tag.RowsAffected() > 0, nil
}

// Topics returns the device's persistent topics, sorted bytewise; an empty
// slice (not nil) when it has none, and ErrNotFound when the account has no
// such device. One query.
func (p *Postgres) Topics(ctx context.Context, account, device string) ([]string, error) {
	if err := checkIDs(account, device); err != nil {
		return nil, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	var topics []string
	err := p.pool.QueryRow(ctx, `
		SELECT ARRAY(SELECT t.topic FROM device_topics t WHERE t.account = d.account AND t.device = d.id ORDER BY t.topic)
		FROM devices d WHERE d.account = $1 AND d.id = $2`, account, device).Scan(&topics)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("topics %s/%s", account, device), err)
	}
	if topics == nil {
		topics = []string{}
	}
	return topics, nil
}

// TopicDevices returns the devices of the account that have at least one
// persistent topic, sorted; an empty slice (not nil) when none. The edge keeps
// it with the account's cached device list, so that a device without
// persistent topics connects without a query for them.
func (p *Postgres) TopicDevices(ctx context.Context, account string) ([]string, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	return p.strings(ctx, "topic devices "+account, `SELECT DISTINCT device FROM device_topics WHERE account = $1 ORDER BY device`, account)
}
