package inbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/redis/rueidis"
)

// Defaults of [RedisConfig].
const (
	// DefaultPrefix starts every key, as in the registry.
	DefaultPrefix = "herald:"
	// DefaultTimeout bounds each call when the caller's context has no earlier
	// deadline.
	DefaultTimeout = 500 * time.Millisecond
)

// RedisConfig configures a [Redis] inbox. Zero fields take their defaults.
type RedisConfig struct {
	// Client is the connection to Redis or Redis Cluster, shared with the
	// rest of the process (the registry's, for one). Required; not closed by
	// the inbox.
	Client rueidis.Client
	// Prefix starts every key. It must not contain '{' or '}', which would take
	// the place of the device's hash tag. Default [DefaultPrefix].
	Prefix string
	// Timeout bounds each call when its context has no earlier deadline.
	// Default [DefaultTimeout].
	Timeout time.Duration
	// Limits bound each device's inbox.
	Limits
	// Now is the clock; default time.Now. Expiry is judged by it, not by
	// Redis' clock.
	Now func() time.Time
}

// Redis is an inbox kept in Redis or Redis Cluster, shared by every process of
// a deployment. Each operation is one Lua script on the device's keys, which
// share a hash slot, so concurrent writers to one device are serialised by
// Redis. It is safe for concurrent use.
type Redis struct {
	client  rueidis.Client
	prefix  string
	timeout time.Duration
	lim     Limits
	now     func() time.Time
	hold    string // seqHold in ms, as a script argument
	slack   string // keySlack in ms, as a script argument
}

// keySlack is how far past the latest expiry plus seqHold a put moves the
// TTL of an inbox's keys when it moves it, so that the puts of the next hour
// need not move it again.
const keySlack = time.Hour

// NewRedis validates cfg and fills its defaults. It does not talk to Redis.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("inbox: redis config: Client is required")
	case strings.ContainsAny(cfg.Prefix, "{}"):
		return nil, fmt.Errorf("inbox: redis config: Prefix %q contains '{' or '}'", cfg.Prefix)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("inbox: redis config: Timeout is negative (%v)", cfg.Timeout)
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Redis{
		client: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout, lim: cfg.Limits, now: cfg.Now,
		hold:  strconv.FormatInt(seqHold.Milliseconds(), 10),
		slack: strconv.FormatInt(keySlack.Milliseconds(), 10),
	}, nil
}

// keys returns the seven keys of a device's inbox, in the scripts' order.
func (r *Redis) keys(account, device string) []string {
	base := r.prefix + "inbox:{" + account + "/" + device + "}:"
	return []string{base + "q", base + "x", base + "n", base + "k", base + "c", base + "m", base + "meta"}
}

// bound returns ctx limited to the configured Timeout unless its own deadline
// is earlier: without a deadline rueidis waits as long as Redis is
// unreachable.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= r.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// exec runs s with EVALSHA, falling back to EVAL when Redis lost the script.
func (r *Redis) exec(ctx context.Context, s *script, keys, args []string) rueidis.RedisResult {
	b := r.client.B()
	res := r.client.Do(ctx, b.Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	if e, ok := rueidis.IsRedisErr(res.Error()); ok && e.IsNoScript() {
		res = r.client.Do(ctx, b.Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	}
	return res
}

// unavailable wraps a failure to use the store in ErrUnavailable, naming the
// operation; the cause stays reachable through errors.Is and errors.As.
func unavailable(op string, err error) error {
	return fmt.Errorf("inbox: %s: %w: %w", op, ErrUnavailable, err)
}

// Put stores m for its device, applying the collapse key and the limits, in
// one script.
func (r *Redis) Put(ctx context.Context, m Message) (PutResult, error) {
	now := r.now()
	exp, err := prepare(&m, r.lim, now)
	if err != nil {
		return PutResult{}, err
	}
	m.Expires = exp
	op := "put " + m.Account + "/" + m.Device + " " + m.ID
	ctx, cancel := r.bound(ctx)
	defer cancel()
	args := []string{
		strconv.FormatInt(now.UnixMilli(), 10), m.ID, strconv.FormatInt(exp.UnixMilli(), 10), m.CollapseKey,
		strconv.Itoa(len(m.Payload)), encodeRest(m),
		strconv.Itoa(r.lim.MaxMessages), strconv.Itoa(r.lim.MaxCollapseKeys), strconv.FormatInt(r.lim.MaxBytes, 10), r.hold, r.slack,
	}
	vals, err := r.exec(ctx, putScript, r.keys(m.Account, m.Device), args).ToArray()
	if err != nil {
		return PutResult{}, unavailable(op, err)
	}
	if len(vals) != 6 {
		return PutResult{}, unavailable(op, fmt.Errorf("script answered %d values", len(vals)))
	}
	var res PutResult
	seq, err1 := vals[0].ToString()
	dup, err2 := vals[1].AsInt64()
	replaced, err3 := vals[2].ToString()
	dropped, err4 := vals[3].AsStrSlice()
	expired, err5 := vals[4].AsStrSlice()
	expMs, err6 := vals[5].AsInt64()
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return PutResult{}, unavailable(op, err)
	}
	if res.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return PutResult{}, unavailable(op, err)
	}
	res.Duplicate, res.Replaced, res.Expires = dup == 1, replaced, time.UnixMilli(expMs)
	if len(dropped) > 0 {
		res.Dropped = dropped
	}
	if len(expired) > 0 {
		res.Expired = expired
	}
	return res, nil
}

// Pending returns up to limit live messages of the device with a sequence
// above after, in Seq order (all of them when limit <= 0), and removes the
// expired ones it finds.
func (r *Redis) Pending(ctx context.Context, account, device string, after uint64, limit int) (Page, error) {
	if err := checkDevice("pending", account, device); err != nil {
		return Page{}, err
	}
	op := "pending " + account + "/" + device
	ctx, cancel := r.bound(ctx)
	defer cancel()
	args := []string{
		strconv.FormatInt(r.now().UnixMilli(), 10), strconv.FormatUint(after, 10), strconv.Itoa(max(limit, 0)), r.hold,
	}
	vals, err := r.exec(ctx, pendingScript, r.keys(account, device), args).ToArray()
	if err != nil {
		return Page{}, unavailable(op, err)
	}
	if len(vals) != 3 {
		return Page{}, unavailable(op, fmt.Errorf("script answered %d values", len(vals)))
	}
	expired, err1 := vals[0].AsStrSlice()
	ids, err2 := vals[1].AsStrSlice()
	recs, err3 := vals[2].AsStrSlice()
	if err := errors.Join(err1, err2, err3); err != nil {
		return Page{}, unavailable(op, err)
	}
	var p Page
	if len(expired) > 0 {
		p.Expired = expired
	}
	if len(ids) != len(recs) {
		return Page{}, unavailable(op, fmt.Errorf("%d ids and %d records", len(ids), len(recs)))
	}
	if len(ids) > 0 {
		p.Messages = make([]Message, len(ids))
	}
	for i, rec := range recs {
		m, err := decodeRecord(rec)
		if err != nil {
			return Page{}, unavailable(op, fmt.Errorf("record of %s: %w", ids[i], err))
		}
		m.ID, m.Account, m.Device = ids[i], account, device
		p.Messages[i] = m
	}
	return p, nil
}

// Remove deletes the given messages of the device (delivered, or acked) and
// returns how many it held.
func (r *Redis) Remove(ctx context.Context, account, device string, ids ...string) (int, error) {
	if err := checkDevice("remove", account, device); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	args := append([]string{strconv.FormatInt(r.now().UnixMilli(), 10), r.hold}, ids...)
	n, err := r.exec(ctx, removeScript, r.keys(account, device), args).AsInt64()
	if err != nil {
		return 0, unavailable("remove "+account+"/"+device, err)
	}
	return int(n), nil
}

// Stats returns the size of the device's inbox: two reads, no script.
func (r *Redis) Stats(ctx context.Context, account, device string) (Stats, error) {
	if err := checkDevice("stats", account, device); err != nil {
		return Stats{}, err
	}
	op := "stats " + account + "/" + device
	ctx, cancel := r.bound(ctx)
	defer cancel()
	keys := r.keys(account, device)
	b := r.client.B()
	res := r.client.DoMulti(ctx,
		b.Zcount().Key(keys[1]).Min("("+strconv.FormatInt(r.now().UnixMilli(), 10)).Max("+inf").Build(),
		b.Hget().Key(keys[6]).Field("bytes").Build())
	n, err := res[0].AsInt64()
	if err != nil {
		return Stats{}, unavailable(op, err)
	}
	bytes, err := res[1].AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return Stats{}, unavailable(op, err)
	}
	return Stats{Messages: int(n), Bytes: bytes}, nil
}

// encodeRest encodes the fields of m that only Go reads, after the record's
// header: type, from, priority, ack, enqueued (Unix ms), expiry (Unix ms),
// each on a line, then the payload, which may hold any byte.
func encodeRest(m Message) string {
	var sb strings.Builder
	sb.Grow(len(m.Type) + len(m.From) + len(m.Priority) + 40 + len(m.Payload))
	sb.WriteString(m.Type)
	sb.WriteByte('\n')
	sb.WriteString(m.From)
	sb.WriteByte('\n')
	sb.WriteString(string(m.Priority))
	sb.WriteByte('\n')
	if m.Ack {
		sb.WriteByte('1')
	} else {
		sb.WriteByte('0')
	}
	sb.WriteByte('\n')
	if !m.Enqueued.IsZero() {
		sb.WriteString(strconv.FormatInt(m.Enqueued.UnixMilli(), 10))
	}
	sb.WriteByte('\n')
	sb.WriteString(strconv.FormatInt(m.Expires.UnixMilli(), 10))
	sb.WriteByte('\n')
	sb.Write(m.Payload)
	return sb.String()
}

// recordLines is how many newline-ended fields come before a record's
// payload: the three of the header, then the six of encodeRest.
const recordLines = 9

// decodeRecord decodes a record written by the put script. Times come back
// in local time to the millisecond.
func decodeRecord(rec string) (Message, error) {
	var f [recordLines]string
	for i := range f {
		var ok bool
		if f[i], rec, ok = strings.Cut(rec, "\n"); !ok {
			return Message{}, errors.New("malformed record")
		}
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	expMs, err2 := strconv.ParseInt(f[8], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Message{}, fmt.Errorf("malformed record: %w", err)
	}
	m := Message{
		Seq: seq, CollapseKey: f[2], Type: f[3], From: f[4], Priority: protocol.Priority(f[5]),
		Ack: f[6] == "1", Expires: time.UnixMilli(expMs), Payload: []byte(rec),
	}
	if f[7] != "" {
		ms, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			return Message{}, fmt.Errorf("malformed record: enqueued: %w", err)
		}
		m.Enqueued = time.UnixMilli(ms)
	}
	return m, nil
}
