package topiclog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// DefaultTimeout bounds each Redis call whose context has no earlier deadline.
const DefaultTimeout = 500 * time.Millisecond

// RedisConfig configures a Redis topic log. Zero fields take their defaults.
type RedisConfig struct {
	// Client is the connection to Redis or Redis Cluster, shared with the
	// rest of the process. Required; not closed by the log.
	Client rueidis.Client
	// Prefix starts every key; it must not contain '{' or '}'. Default
	// "herald:".
	Prefix string
	// Timeout bounds each call. Default DefaultTimeout.
	Timeout time.Duration
	// Limits bound each topic's log.
	Limits
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Redis is a topic log in Redis: per topic a stream of entries, whose ids are
// "0-<seq>", and a counter, in one hash slot ({topic}). It is safe for
// concurrent use.
type Redis struct {
	client  rueidis.Client
	prefix  string
	timeout time.Duration
	lim     Limits
	now     func() time.Time
}

// NewRedis validates cfg and fills its defaults. It does not talk to Redis.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("topiclog: redis config: Client is required")
	case strings.ContainsAny(cfg.Prefix, "{}"):
		return nil, errors.New("topiclog: redis config: Prefix contains '{' or '}'")
	case cfg.Timeout < 0:
		return nil, errors.New("topiclog: redis config: Timeout is negative")
	}
	if err := cfg.Limits.fill(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "herald:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Redis{client: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout, lim: cfg.Limits, now: cfg.Now}, nil
}

func (r *Redis) keys(topic string) []string {
	return []string{r.prefix + "tlog:{" + topic + "}", r.prefix + "tlogseq:{" + topic + "}"}
}

func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= r.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// appendScript takes the next sequence number (at least ARGV[1], the floor),
// adds the entry with it as its id, trims the stream to ARGV[4] entries and
// sets both keys' TTL to ARGV[5] ms.
// KEYS: the stream, the counter. ARGV: floor, frame, expiry ms, max entries,
// key ttl ms.
var appendScript = rueidis.NewLuaScript(`
local s = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[1])
if s < floor then
  s = floor
  redis.call('SET', KEYS[2], string.format('%d', s))
end
local id = string.format('0-%d', s)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], id, 'f', ARGV[2], 'x', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return id
`)

// Append logs frame for topic until expires (zero: MaxTTL) and returns its
// sequence number.
func (r *Redis) Append(ctx context.Context, topic string, frame []byte, expires time.Time) (uint64, error) {
	if err := check(topic, frame, true); err != nil {
		return 0, err
	}
	now := r.now()
	exp := r.lim.expiry(now, expires)
	ctx, cancel := r.bound(ctx)
	defer cancel()
	args := []string{
		strconv.FormatUint(floor(now), 10), string(frame), strconv.FormatInt(exp.UnixMilli(), 10),
		strconv.Itoa(r.lim.MaxEntries), strconv.FormatInt((r.lim.MaxTTL + time.Minute).Milliseconds(), 10),
	}
	id, err := appendScript.Exec(ctx, r.client, r.keys(topic), args).ToString()
	if err != nil {
		return 0, fmt.Errorf("topiclog: append to a topic: %w: %w", ErrUnavailable, err)
	}
	return seqOf(id)
}

// seqOf reads the sequence number of a stream id "0-<seq>".
func seqOf(id string) (uint64, error) {
	rest, ok := strings.CutPrefix(id, "0-")
	if !ok {
		return 0, fmt.Errorf("topiclog: an entry id %q is not 0-<seq>", id)
	}
	return strconv.ParseUint(rest, 10, 64)
}

// After returns up to limit live entries of topic with a sequence number
// above after, in order.
func (r *Redis) After(ctx context.Context, topic string, after uint64, limit int) ([]Entry, error) {
	if err := check(topic, nil, false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	now := r.now()
	ctx, cancel := r.bound(ctx)
	defer cancel()
	key := r.keys(topic)[0]
	var out []Entry
	start := "(0-" + strconv.FormatUint(after, 10)
	for len(out) < limit {
		msgs, err := r.client.Do(ctx, r.client.B().Xrange().Key(key).Start(start).End("+").Count(int64(limit)).Build()).AsXRange()
		if err != nil {
			return nil, fmt.Errorf("topiclog: read a topic: %w: %w", ErrUnavailable, err)
		}
		for _, m := range msgs {
			seq, err := seqOf(m.ID)
			if err != nil {
				return nil, err
			}
			start = "(" + m.ID
			exp, err := strconv.ParseInt(m.FieldValues["x"], 10, 64)
			if err != nil || !now.Before(time.UnixMilli(exp)) {
				continue
			}
			out = append(out, Entry{Seq: seq, Frame: []byte(m.FieldValues["f"]), Expires: time.UnixMilli(exp)})
			if len(out) == limit {
				break
			}
		}
		if len(msgs) < limit {
			break
		}
	}
	return out, nil
}
