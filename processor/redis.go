package processor

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// DefaultRedisTimeout bounds a Redis call whose context has no earlier deadline.
const DefaultRedisTimeout = time.Second

// RedisStatus is a StatusStore in Redis, shared by every API process. Each
// message is a hash <prefix>msg:<id> with a field "m" for the message, a field
// "d:<device>" per device, and for a message to a topic a field "t" for its
// outcome, expiring TTL after its last event or after the
// expiry of a message stored for one of its devices, whichever is later.
type RedisStatus struct {
	client  rueidis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
}

// NewRedisStatus returns a RedisStatus on client, its keys starting with prefix,
// each message kept for ttl (default [DefaultStatusTTL]).
func NewRedisStatus(client rueidis.Client, prefix string, ttl time.Duration) *RedisStatus {
	if ttl <= 0 {
		ttl = DefaultStatusTTL
	}
	return &RedisStatus{client: client, prefix: prefix, ttl: ttl, timeout: DefaultRedisTimeout}
}

// recordLua, recordScript's script, sets the message field once, or, for a
// message's queued event (ARGV[10] "1"), always: the first event seen may
// have been a device's, and the accepted time comes with queued only. It sets
// a device field only when the new outcome's rank is at least the stored
// one's, then extends the key's TTL to ARGV[4] unless it has longer to live
// (a stored message's status outlives the status TTL: Event.Expires).
// A device's history (DeviceStatus.History) is the field "h:<device>": one
// line per outcome, the first time it was seen, "<status> <at>[ <error>]",
// at most MaxHistory lines.
// KEYS[1] the hash; ARGV: field, value, rank, ttl ms, message field value,
// history field, history line ("" for none), the line's status, MaxHistory,
// "1" for a queued event.
const recordLua = `
if ARGV[10] == '1' then
  redis.call('HSET', KEYS[1], 'm', ARGV[5])
else
  redis.call('HSETNX', KEYS[1], 'm', ARGV[5])
end
if ARGV[1] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if (not cur) or tonumber(string.sub(cur, 1, 1)) <= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ARGV[2])
  end
end
if ARGV[7] ~= '' then
  local h = redis.call('HGET', KEYS[1], ARGV[6]) or ''
  local n = select(2, string.gsub(h, '\n', ''))
  if n < tonumber(ARGV[9]) and not string.find('\n' .. h, '\n' .. ARGV[8] .. ' ', 1, true) then
    redis.call('HSET', KEYS[1], ARGV[6], h .. ARGV[7] .. '\n')
  end
end
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`

var (
	recordScript = rueidis.NewLuaScript(recordLua)
	// recordSHA is recordLua's SHA-1, which RecordAll calls it by.
	recordSHA = func() string {
		sum := sha1.Sum([]byte(recordLua))
		return hex.EncodeToString(sum[:])
	}()
)

// storedMessage is the "m" field.
type storedMessage struct {
	Account  string `json:"account"`
	Topic    string `json:"topic,omitempty"`
	Priority string `json:"priority,omitempty"`
	Accepted int64  `json:"accepted,omitempty"`
}

func (r *RedisStatus) key(id string) string { return r.prefix + "msg:" + id }

func (r *RedisStatus) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// Record implements StatusStore.
func (r *RedisStatus) Record(ctx context.Context, e Event) error {
	return r.RecordAll(ctx, []Event{e})
}

// recordChunk bounds the script calls of one RecordAll pipeline.
const recordChunk = 512

// RecordAll implements StatusStore: the script calls of es go in pipelines
// of at most recordChunk, in order.
func (r *RedisStatus) RecordAll(ctx context.Context, es []Event) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	now := time.Now()
	var errs []error
	for len(es) > 0 {
		chunk := es[:min(len(es), recordChunk)]
		es = es[len(chunk):]
		xs := make([]rueidis.LuaExec, 0, len(chunk))
		ids := make([]string, 0, len(chunk))
		for i := range chunk {
			x, err := r.recordExec(&chunk[i], now)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			xs = append(xs, x)
			ids = append(ids, chunk[i].ID)
		}
		if len(xs) == 0 {
			continue
		}
		// EVALSHA in one pipeline; a node that does not have the script
		// yet (NOSCRIPT: restarted, flushed, new) gets the call again
		// through Exec, which sends the script itself.
		cmds := make(rueidis.Commands, len(xs))
		for i, x := range xs {
			cmds[i] = r.client.B().Evalsha().Sha1(recordSHA).Numkeys(int64(len(x.Keys))).Key(x.Keys...).Arg(x.Args...).Build()
		}
		for i, res := range r.client.DoMulti(ctx, cmds...) {
			err := res.Error()
			if re, ok := rueidis.IsRedisErr(err); ok && re.IsNoScript() {
				err = recordScript.Exec(ctx, r.client, xs[i].Keys, xs[i].Args).Error()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("processor: record status of %s: %w", ids[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// recordExec returns the recordScript call that applies e at now.
func (r *RedisStatus) recordExec(e *Event, now time.Time) (rueidis.LuaExec, error) {
	if err := checkOutcome(e); err != nil {
		return rueidis.LuaExec{}, err
	}
	meta := storedMessage{Account: e.Account, Topic: e.Topic, Priority: string(e.Priority)}
	queued := "0"
	if e.accepted() {
		meta.Accepted = e.At
		queued = "1"
	}
	mv, err := json.Marshal(meta)
	if err != nil {
		return rueidis.LuaExec{}, err
	}
	field, value, hfield, hline := "", "", "", ""
	switch {
	case e.topicOutcome():
		v, err := json.Marshal(newTopicOutcome(e))
		if err != nil {
			return rueidis.LuaExec{}, err
		}
		field, value = "t", string(v)
	case !e.accepted():
		v, err := json.Marshal(DeviceStatus{Device: e.Device, Status: e.Status, Error: e.Error, At: e.At})
		if err != nil {
			return rueidis.LuaExec{}, err
		}
		field, value = "d:"+e.Device, string(v)
		hfield, hline = "h:"+e.Device, historyLine(*e)
	}
	return rueidis.LuaExec{Keys: []string{r.key(e.ID)}, Args: []string{field, value, strconv.Itoa(e.Status.rank()),
		strconv.FormatInt(e.keep(now, r.ttl).Milliseconds(), 10), string(mv),
		hfield, hline, string(e.Status), strconv.Itoa(MaxHistory), queued}}, nil
}

// Get implements StatusStore.
func (r *RedisStatus) Get(ctx context.Context, id string) (*MessageStatus, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	fields, err := r.client.Do(ctx, r.client.B().Hgetall().Key(r.key(id)).Build()).AsStrMap()
	if err != nil {
		return nil, fmt.Errorf("processor: status of %s: %w", id, err)
	}
	if len(fields) == 0 {
		return nil, ErrNotFound
	}
	st := &MessageStatus{ID: id, Devices: []DeviceStatus{}}
	var topic *topicOutcome
	histories := map[string][]Step{}
	for f, v := range fields {
		switch {
		case f == "m":
			var m storedMessage
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return nil, fmt.Errorf("processor: status of %s: %w", id, err)
			}
			st.Account, st.Accepted, st.Topic = m.Account, m.Accepted, m.Topic
			st.Priority = priority(m.Priority)
		case f == "t" && len(v) > 1:
			topic = new(topicOutcome)
			if err := json.Unmarshal([]byte(v[1:]), topic); err != nil {
				return nil, fmt.Errorf("processor: status of %s: %w", id, err)
			}
		case strings.HasPrefix(f, "d:") && len(v) > 1:
			var d DeviceStatus
			if err := json.Unmarshal([]byte(v[1:]), &d); err != nil {
				return nil, fmt.Errorf("processor: status of %s: %w", id, err)
			}
			st.Devices = append(st.Devices, d)
		case strings.HasPrefix(f, "h:"):
			histories[f[2:]] = parseHistory(v)
		}
	}
	for i := range st.Devices {
		st.Devices[i].History = histories[st.Devices[i].Device]
	}
	st.summarize()
	st.applyTopic(topic)
	return st, nil
}

// Idempotency remembers the message id sent for an Idempotency-Key, so that a
// retried request returns the first one's id instead of sending again.
type Idempotency interface {
	// Claim stores value under key for ttl unless the key is taken; it returns
	// the value already stored, or "" when this call claimed the key.
	Claim(ctx context.Context, key, value string, ttl time.Duration) (string, error)
	// Confirm replaces the value of a claim that still holds old with value,
	// kept for ttl, and reports whether it did.
	Confirm(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error)
	// Release drops a claim whose send failed, so that a retry can send.
	Release(ctx context.Context, key, value string) error
}

// RedisIdempotency is Idempotency in Redis, shared by every API process.
type RedisIdempotency struct {
	client rueidis.Client
	prefix string
}

// NewRedisIdempotency returns a RedisIdempotency whose keys start with prefix.
func NewRedisIdempotency(client rueidis.Client, prefix string) *RedisIdempotency {
	return &RedisIdempotency{client: client, prefix: prefix}
}

func (r *RedisIdempotency) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultRedisTimeout)
}

// Claim implements Idempotency with SET NX, reading the stored value on conflict.
func (r *RedisIdempotency) Claim(ctx context.Context, key, value string, ttl time.Duration) (string, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	k := r.prefix + "idem:" + key
	for range 3 {
		err := r.client.Do(ctx, r.client.B().Set().Key(k).Value(value).Nx().Px(ttl).Build()).Error()
		if err == nil {
			return "", nil
		}
		if !rueidis.IsRedisNil(err) {
			return "", fmt.Errorf("processor: idempotency claim: %w", err)
		}
		prev, err := r.client.Do(ctx, r.client.B().Get().Key(k).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			continue // released or expired in between: claim again
		}
		if err != nil {
			return "", fmt.Errorf("processor: idempotency claim: %w", err)
		}
		return prev, nil
	}
	return "", errors.New("processor: idempotency claim: the key keeps changing")
}

var confirmScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// Confirm implements Idempotency with a compare-and-set.
func (r *RedisIdempotency) Confirm(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	n, err := confirmScript.Exec(ctx, r.client, []string{r.prefix + "idem:" + key},
		[]string{old, value, fmt.Sprint(max(ttl.Milliseconds(), 1))}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("processor: idempotency confirm: %w", err)
	}
	return n == 1, nil
}

var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release implements Idempotency: it deletes the key only if it still holds value.
func (r *RedisIdempotency) Release(ctx context.Context, key, value string) error {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := releaseScript.Exec(ctx, r.client, []string{r.prefix + "idem:" + key}, []string{value}).Error(); err != nil {
		return fmt.Errorf("processor: idempotency release: %w", err)
	}
	return nil
}

// historyLine is e's line in its device's history field: "<status> <at>",
// and the error when there is one, with no newline in it.
func historyLine(e Event) string {
	l := string(e.Status) + " " + strconv.FormatInt(e.At, 10)
	if e.Error != "" {
		l += " " + oneLine(e.Error)
	}
	return l
}

// parseHistory reads a history field, in order (sortSteps).
func parseHistory(v string) []Step {
	var h []Step
	for _, l := range strings.Split(v, "\n") {
		status, rest, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		at, errText, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			continue
		}
		h = append(h, Step{Status: Outcome(status), At: n, Error: errText})
	}
	sortSteps(h)
	return h
}
