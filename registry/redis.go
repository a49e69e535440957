package registry

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// Defaults for the zero fields of [RedisConfig] (and [MemoryConfig]).
const (
	// DefaultPrefix starts every key Herald keeps in Redis.
	DefaultPrefix = "herald:"
	// DefaultDeviceTTL is a little over the longest connection lifetime (25-35
	// minutes), so that a record never needs refreshing and no record outlives
	// its connection by much when an edge dies without unregistering.
	DefaultDeviceTTL = 40 * time.Minute
	// DefaultEdgeTTL is how long an edge stays live after its last heartbeat:
	// the longest a crashed edge's devices look connected.
	DefaultEdgeTTL = 15 * time.Second
	// DefaultTimeout bounds each call when the caller's context has no earlier
	// deadline.
	DefaultTimeout = 500 * time.Millisecond
	// DefaultCacheTTL bounds how long a lookup is answered from process memory;
	// Redis invalidates the cached value earlier when it changes.
	DefaultCacheTTL = time.Minute
	// DefaultTopicTTL is the lifetime of a topic's key after its last
	// AddTopic or AddTopics, 40 times DefaultEdgeTTL: an edge that keeps
	// subscribers of a topic adds it again every TopicTTL/4 (see the package
	// documentation, "Topics").
	DefaultTopicTTL = 10 * time.Minute
)

// RedisConfig configures a [Redis] registry. Zero durations take their defaults.
type RedisConfig struct {
	// Addrs are the addresses of one Redis, of seed nodes of a Redis Cluster,
	// or of the Sentinels of a master set: host:port, or redis:// and rediss://
	// URLs with a user, password, database and master set, as
	// [ParseRedisAddrs] reads them. Required unless Client is given.
	Addrs []string
	// Password authenticates to Redis when the addresses carry none, so that
	// it can be kept apart from them; giving it in both places is an error.
	Password string
	// TLS configures the connections of rediss:// addresses (RootCAs for a
	// private CA); nil uses the system roots. The server name is each
	// address's host. It is an error with no rediss:// address.
	TLS *tls.Config
	// Client, when not nil, is used instead of a client built from Addrs. It is
	// not closed by [Redis.Close]. Lookups are cached only if the client has
	// client-side caching enabled (the rueidis default), and a process reads its
	// own writes at once only if the client has one connection per node
	// (PipelineMultiplex -1); otherwise a lookup right after a write may return
	// the old value until Redis' invalidation arrives.
	Client rueidis.Client
	// Prefix starts every key. It must not contain '{' or '}', which would take
	// the place of the account's hash tag in Redis Cluster. Default
	// [DefaultPrefix].
	Prefix string
	// DeviceTTL is the lifetime of a device record: a little over the maximum
	// connection lifetime. Default [DefaultDeviceTTL].
	DeviceTTL time.Duration
	// EdgeTTL is the lifetime of an edge's liveness key; edges heartbeat well
	// within it. Default [DefaultEdgeTTL].
	EdgeTTL time.Duration
	// Timeout bounds each method call when its context has no earlier deadline.
	// Default [DefaultTimeout].
	Timeout time.Duration
	// CacheTTL bounds how long a value read is kept in the client-side cache.
	// Redis invalidates it earlier on change, and the cache never keeps a value
	// past the key's own expiry. Default [DefaultCacheTTL].
	CacheTTL time.Duration
	// TopicTTL is the lifetime of a topic's key after its last AddTopic or
	// AddTopics; an edge adds each of its topics again every TopicTTL/4.
	// Default [DefaultTopicTTL].
	TopicTTL time.Duration
}

// Redis is a registry kept in Redis or Redis Cluster, shared by every edge and
// API process. Reads go through rueidis' server-assisted client-side cache, so a
// repeated lookup is answered from process memory until Redis reports a change.
// It is safe for concurrent use. See the package documentation for the keys.
//
// An entry read back has Since as the same instant in local time, without its
// monotonic clock reading: compare it with [time.Time.Equal].
type Redis struct {
	client    rueidis.Client
	ownClient bool // Close closes client
	prefix    string
	deviceTTL time.Duration
	edgeTTL   time.Duration
	timeout   time.Duration
	cacheTTL  time.Duration
	topicTTL  time.Duration

	// lookupHits counts lookups answered entirely from the client-side cache.
	lookupHits atomic.Uint64
	// lookups counts every Lookup.
	lookups atomic.Uint64
	// topicHits counts TopicEdges answered entirely from the client-side cache.
	topicHits atomic.Uint64
	// topicReads counts every TopicEdges.
	topicReads atomic.Uint64
	// lastStamp is the newest stamp of a topic membership written by this
	// process (see nextStamp).
	lastStamp atomic.Int64

	edgeKeysMu sync.RWMutex
	edgeKeys   map[string]string // guarded by edgeKeysMu: edge -> edgeKey(edge)

	mastersMu sync.Mutex
	masters   map[string]string // guarded by mastersMu: edge -> the cluster's masters at its last heartbeat (see mastersChanged)
}

// NewRedis validates cfg, fills its defaults and, unless cfg.Client is given,
// connects to cfg.Addrs with client-side caching on. A server that cannot be
// reached gives an error wrapping [ErrUnavailable].
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil && len(cfg.Addrs) == 0 {
		return nil, errors.New("registry: redis config: Addrs or Client is required")
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, fmt.Errorf("registry: redis config: Prefix %q contains '{' or '}'", cfg.Prefix)
	}
	for name, d := range map[string]time.Duration{
		"DeviceTTL": cfg.DeviceTTL, "EdgeTTL": cfg.EdgeTTL, "Timeout": cfg.Timeout, "CacheTTL": cfg.CacheTTL,
		"TopicTTL": cfg.TopicTTL,
	} {
		if d < 0 {
			return nil, fmt.Errorf("registry: redis config: %s is negative (%v)", name, d)
		}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	setDefault(&cfg.DeviceTTL, DefaultDeviceTTL)
	setDefault(&cfg.EdgeTTL, DefaultEdgeTTL)
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.CacheTTL, DefaultCacheTTL)
	setDefault(&cfg.TopicTTL, DefaultTopicTTL)
	for name, d := range map[string]time.Duration{"DeviceTTL": cfg.DeviceTTL, "EdgeTTL": cfg.EdgeTTL, "TopicTTL": cfg.TopicTTL} {
		if d < time.Millisecond {
			return nil, fmt.Errorf("registry: redis config: %s %v is below Redis' 1ms resolution", name, d)
		}
	}

	r := &Redis{
		client:    cfg.Client,
		prefix:    cfg.Prefix,
		deviceTTL: cfg.DeviceTTL,
		edgeTTL:   cfg.EdgeTTL,
		timeout:   cfg.Timeout,
		cacheTTL:  cfg.CacheTTL,
		topicTTL:  cfg.TopicTTL,
		edgeKeys:  make(map[string]string),
	}
	if r.client == nil {
		opt, addrs, err := clientOption(cfg)
		if err != nil {
			return nil, err
		}
		client, err := rueidis.NewClient(opt)
		if err != nil {
			return nil, fmt.Errorf("registry: connect to redis %s: %w: %w%s", addrs, ErrUnavailable, err, tlsHint(addrs.TLS, err))
		}
		r.client, r.ownClient = client, true
	}
	return r, nil
}

// tlsHint says what a connection failure likely means when a client and a
// server disagree on TLS, which neither side reports as such: a server without
// TLS never answers a TLS handshake, and a TLS server drops a plain client.
func tlsHint(useTLS bool, err error) string {
	switch {
	case useTLS && errors.Is(err, context.DeadlineExceeded):
		return " (a server without TLS never answers a rediss:// client)"
	case !useTLS && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
		return " (a TLS server closes the connection of a redis:// client: use rediss://)"
	}
	return ""
}

// clientOption is the rueidis option for cfg's addresses, password and TLS,
// and the addresses as parsed, for messages.
func clientOption(cfg RedisConfig) (rueidis.ClientOption, RedisAddrs, error) {
	addrs, err := ParseRedisAddrs(cfg.Addrs)
	if err != nil {
		return rueidis.ClientOption{}, RedisAddrs{}, err
	}
	if cfg.Password != "" {
		if addrs.Password != "" {
			return rueidis.ClientOption{}, RedisAddrs{}, errors.New("registry: redis config: a password is given both in the addresses and in Password: give it in one place")
		}
		addrs.Password = cfg.Password
	}
	if cfg.TLS != nil && !addrs.TLS {
		return rueidis.ClientOption{}, RedisAddrs{}, errors.New("registry: redis config: TLS is set but no address is a rediss:// URL")
	}
	opt := rueidis.ClientOption{
		InitAddress: addrs.Hosts,
		Username:    addrs.Username,
		Password:    addrs.Password,
		SelectDB:    addrs.DB,
		// One connection per node, which write relies on; auto-pipelining
		// keeps it busy.
		PipelineMultiplex: -1,
	}
	if addrs.TLS {
		tc := &tls.Config{}
		if cfg.TLS != nil {
			tc = cfg.TLS.Clone()
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		opt.TLSConfig = tc
	}
	if addrs.MasterSet != "" {
		// The Sentinels get the same credentials and TLS as the master: one
		// without a password accepts any.
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet: addrs.MasterSet,
			TLSConfig: opt.TLSConfig,
			Username:  addrs.Username,
			Password:  addrs.Password,
		}
	}
	return opt, addrs, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Client returns the Redis client, for other parts of a process that keep their
// own keys in the same Redis.
func (r *Redis) Client() rueidis.Client { return r.client }

// Close closes the client NewRedis built; a client passed in RedisConfig.Client
// is left open.
func (r *Redis) Close() {
	if r.ownClient {
		r.client.Close()
	}
}

// write runs cmd and then a barrier, a PTTL of key, on the same connection,
// and returns cmd's result. Redis sends a connection the invalidation of a key
// it changed itself after the reply to the change, so without the barrier a
// lookup right after the write could still be answered with the old value from
// the client-side cache. key must be in the slot that cmd writes.
func (r *Redis) write(ctx context.Context, cmd rueidis.Completed, key string) rueidis.RedisResult {
	return r.client.DoMulti(ctx, cmd, r.client.B().Pttl().Key(key).Build())[0]
}

// script is a Lua script run with EVALSHA, and with EVAL when Redis does not
// have it (after a restart or a failover).
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// exec runs s with keys and args as a write (see write), keys[0] serving as
// the barrier. All keys must share a slot.
func (r *Redis) exec(ctx context.Context, s *script, keys, args []string) rueidis.RedisResult {
	b := r.client.B()
	res := r.write(ctx, b.Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build(), keys[0])
	if e, ok := rueidis.IsRedisErr(res.Error()); ok && e.IsNoScript() {
		res = r.write(ctx, b.Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build(), keys[0])
	}
	return res
}

// noCancel is returned by bound when the caller's deadline already suffices,
// sparing the hot path a timer.
func noCancel() {}

// bound returns ctx limited to the configured Timeout unless its own deadline
// is earlier. Every call to Redis goes through it: without a deadline rueidis
// waits as long as Redis is unreachable.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= r.timeout {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, r.timeout)
}

// lazyBound is bound for reads that the client-side cache may answer. A read
// answered from the cache never looks at its context, so it returns ctx itself
// when its deadline suffices and otherwise a boundCtx, which arms the timeout
// only when the call waits. Call release on the result (nil-safe) when done.
func (r *Redis) lazyBound(ctx context.Context) (context.Context, *boundCtx) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= r.timeout {
		return ctx, nil
	}
	b := &boundCtx{Context: ctx, deadline: time.Now().Add(r.timeout)}
	return b, b
}

// boundCtx is the caller's context limited to a deadline, whose timer and
// channel are made on the first call of Done or Err: a cache hit costs one
// small allocation instead of a context.WithDeadline. It must not be used after
// release.
type boundCtx struct {
	context.Context // the caller's

	deadline time.Time
	once     sync.Once
	inner    context.Context    // set by once
	cancel   context.CancelFunc // set by once
}

// Deadline implements context.Context.
func (b *boundCtx) Deadline() (time.Time, bool) { return b.deadline, true }

// Done implements context.Context.
func (b *boundCtx) Done() <-chan struct{} { return b.arm().Done() }

// Err implements context.Context.
func (b *boundCtx) Err() error { return b.arm().Err() }

func (b *boundCtx) arm() context.Context {
	b.once.Do(func() { b.inner, b.cancel = context.WithDeadline(b.Context, b.deadline) })
	if b.inner == nil { // released before it was armed
		return b.Context
	}
	return b.inner
}

// release stops the timer, if one was armed.
func (b *boundCtx) release() {
	if b == nil {
		return
	}
	b.once.Do(func() {})
	if b.cancel != nil {
		b.cancel()
	}
}

// edgeKeyCache bounds the edge keys kept by Redis.edgeKeyOf; edges are few,
// and the cache is simply emptied when it fills up with the names of edges
// long gone.
const edgeKeyCache = 1024

// edgeKeyOf is edgeKey without an allocation for an edge seen before: a
// lookup reads the liveness key of the device's edge every time.
func (r *Redis) edgeKeyOf(edge string) string {
	r.edgeKeysMu.RLock()
	k, ok := r.edgeKeys[edge]
	r.edgeKeysMu.RUnlock()
	if ok {
		return k
	}
	k = r.edgeKey(edge)
	r.edgeKeysMu.Lock()
	if len(r.edgeKeys) >= edgeKeyCache {
		clear(r.edgeKeys)
	}
	r.edgeKeys[strings.Clone(edge)] = k
	r.edgeKeysMu.Unlock()
	return k
}

// unavailable wraps a failure to use Redis in ErrUnavailable, naming the
// operation; the cause stays reachable through errors.Is and errors.As (a
// caller's own context.Canceled, for one).
func unavailable(op string, err error) error {
	return fmt.Errorf("registry: %s: %w: %w", op, ErrUnavailable, err)
}

// deviceKey is the key of a device record. The account is the hash tag, so a
// device record and its account index share a Redis Cluster slot.
func (r *Redis) deviceKey(account, device string) string {
	return r.prefix + "dev:{" + account + "}:" + device
}

// accountKey is the key of an account's index: a hash of device -> session.
func (r *Redis) accountKey(account string) string {
	return r.prefix + "acct:{" + account + "}"
}

// edgeKey is the key of an edge's liveness: its internal address, with EdgeTTL.
func (r *Redis) edgeKey(edge string) string {
	return r.prefix + "edge:" + edge
}

// topicKey is the key of a topic's directory entry: a hash of edge -> stamp.
// A topic name has no '{', '}' or ':' (protocol.ValidTopic), so the key is
// hashed whole in Redis Cluster and cannot collide with the keys above.
func (r *Redis) topicKey(topic string) string {
	return r.prefix + "topic:" + topic
}

// encodeEntry encodes e as a device record: "<since>\n<edge>\n<session>", with
// since in Unix nanoseconds (empty for the zero time). The session comes last
// so that it may hold any byte; the unregister script reads it by the same
// layout. The edge must not contain a newline.
func encodeEntry(e Entry) string {
	since := ""
	if !e.Since.IsZero() {
		since = strconv.FormatInt(e.Since.UnixNano(), 10)
	}
	return since + "\n" + e.Edge + "\n" + e.Session
}

// decodeEntry decodes a device record written by encodeEntry. Since comes back
// as the same instant in local time, without a monotonic clock reading.
func decodeEntry(s string) (Entry, error) {
	since, rest, ok1 := strings.Cut(s, "\n")
	edge, session, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 {
		return Entry{}, errors.New("malformed device record")
	}
	e := Entry{Edge: edge, Session: session}
	if since != "" {
		ns, err := strconv.ParseInt(since, 10, 64)
		if err != nil {
			return Entry{}, errors.New("malformed device record: since")
		}
		e.Since = time.Unix(0, ns)
	}
	return e, nil
}

// LookupStats reports how many lookups there were and how many of them were
// answered entirely from the client-side cache, for metrics.
func (r *Redis) LookupStats() (lookups, cacheHits uint64) {
	return r.lookups.Load(), r.lookupHits.Load()
}
