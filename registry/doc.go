// Package registry knows where each device is connected: device -> {edge, session,
// since}, which edges are live, and which edges have subscribers of each topic.
// Only the newest connection of a device is registered; unregistering is a
// compare-and-delete on the session, so a stale connection never removes a
// newer registration.
//
// [Redis] is the registry of a deployment, shared by every edge and API process
// through Redis or Redis Cluster. [Memory] keeps the registry in process memory,
// for `herald dev` and for tests of the code that uses it. Consumers declare the
// small interfaces they need (the edge registers and unregisters, the API looks
// up); both implementations satisfy them with the same behaviour, but for one
// difference: Memory counts a device on an edge that never heartbeated as live,
// so that single-process use needs no heartbeats, where Redis counts it offline.
//
// # Connecting
//
// RedisConfig.Addrs are host:port addresses or redis:// and rediss:// URLs
// ([ParseRedisAddrs]): a user, a password, a database number and, with
// ?master_set=NAME, the Sentinels of a master set; rediss:// dials TLS and
// verifies each server's certificate for its own host name against
// RedisConfig.TLS (the system roots by default). rueidis finds out by itself
// whether the addresses are one Redis or seeds of a Redis Cluster. The password
// never appears in an error: a URL that does not parse is named by its
// position, not quoted.
//
// # Keys
//
// Every key starts with the configured prefix (default "herald:"). The account
// is a Redis Cluster hash tag, so all keys of one account share a slot and one
// Lua script may change several of them atomically:
//
//	<prefix>dev:{<account>}:<device>  the device record, with DeviceTTL
//	<prefix>acct:{<account>}          hash device -> session: the account's index
//	<prefix>edge:<edge>               the edge's internal address, with EdgeTTL
//	<prefix>edges                     sorted set edge -> last heartbeat (Unix ms): the index Edges reads, with 20 EdgeTTLs
//	<prefix>topic:<topic>             hash edge -> stamp: the edges with subscribers, with TopicTTL
//
// A topic name has no braces or colons (protocol.ValidTopic), so a topic's key
// is hashed whole in Redis Cluster and never collides with the other keys.
//
// A device record is "<since>\n<edge>\n<session>", since in Unix nanoseconds
// (empty for the zero time). It is written once per connection, with a TTL a
// little over the longest connection lifetime (default 40 minutes), and never
// refreshed: connections are recycled before it expires. Register replaces the
// record and sets the device's index field in one script, which also extends
// the index's TTL to DeviceTTL, so the index outlives every record in it.
// Unregister deletes the record and the field in one script only if the record's
// session still matches. Connected drops the index fields of records that
// expired without an unregister (the edge died).
//
// # Edge liveness
//
// Each edge calls Heartbeat well within EdgeTTL (default 15 s), which sets its
// edge key with that TTL. A device whose edge key is missing counts as offline
// in Lookup and Connected: the devices of a crashed edge disappear within
// EdgeTTL, while their records expire on their own. Heartbeat reports fresh
// when the key did not exist before (first beat, a beat after expiry, or Redis
// having lost its data), telling the edge to register its devices again. In a
// Redis Cluster it also reports fresh when the set of masters holding slots
// changed since the edge's previous beat: a failover loses the writes the dead
// master had not passed to its replica, wherever the edge key lives.
// RemoveEdge deletes the key on a clean shutdown.
//
// # Topics
//
// The topic directory says which edges have subscribers of a topic, so that a
// publish costs one link frame per such edge. An edge calls AddTopic when a
// topic's first local subscriber arrives and RemoveTopic when its last one
// leaves; TopicEdges returns the live edges of a topic, sorted. Topic names
// and edge ids are checked (protocol.ValidTopic; an edge id is non-empty and
// has no newline): an invalid one is [ErrInvalid], and the error never quotes
// it.
//
// Every add sets a new stamp on the edge's field and the key's TTL to TopicTTL
// (default 10 minutes), so a key lives on only while some edge adds its topic
// again. An edge keeps its memberships alive by calling AddTopics with all its
// topics every TopicTTL/4 (every 30th heartbeat with the defaults), and also
// when Heartbeat reports fresh or a topic call failed, as it registers its
// devices again: after Redis lost its data, or after its memberships were
// dropped while it was cut off. Calls for one topic must reach the registry in
// the order of the subscriptions they follow. A lost AddTopic is made good by
// the next AddTopics; a lost RemoveTopic is not: the edge stays listed without
// subscribers, a wasted frame per publish, until it removes the topic again
// (when such a frame arrives, say). AddTopics sends 256 topics per round trip,
// each as its own single-key script, so Redis Cluster takes them whatever
// their slots.
//
// TopicEdges lists only edges whose liveness key exists, so a crashed edge's
// topics stop costing link frames within EdgeTTL. It drops the memberships of
// dead edges on the way, as Connected drops expired devices: the liveness keys
// are read again past the cache, and a script deletes a field only if its
// stamp is still the one read, so an edge that has come back and added the
// topic again keeps it. (A script cannot check the liveness key itself: it is
// in another slot.) Memory keeps the same directory, with the one difference
// it has for devices: an edge that never heartbeated counts as live.
//
// # Caching
//
// Lookup, Connected, EdgeAddr and TopicEdges read through rueidis'
// server-assisted client-side cache (RESP3 client tracking): a repeated lookup
// is answered from process memory without a round trip, and Redis invalidates
// the cached value when the key changes, expires or is deleted. CacheTTL
// (default 1 minute) only bounds how long a value is kept without a change,
// and a value is never kept past its key's own expiry. Another process's write
// is seen once its invalidation arrives, normally within a round trip. A
// process reads its own writes at once: NewRedis uses one connection per Redis
// node, and each write is followed on that connection by a cheap read whose
// reply comes after the invalidation of the written keys. Every add of a topic
// changes its key (a new stamp, the TTL set again), so each edge's periodic
// AddTopics costs every cached copy of its topics one read from Redis.
//
// # Failures
//
// Every call is bounded by Timeout (default 500 ms) unless the caller's context
// has an earlier deadline: rueidis would otherwise wait as long as Redis is
// unreachable. A missing key is [ErrNotFound] (the device is offline); any other
// failure (connection refused, timeout, Redis Cluster down, a cancelled
// context) is an error wrapping [ErrUnavailable] and its cause, naming the
// operation. Callers report unavailable and never treat it as offline. The Lua
// scripts run with EVALSHA and fall back to EVAL after Redis loses them (a
// restart or a failover).
//
// Package registry imports nothing of Herald's but protocol, for the rule of a
// topic name; edge and api consume it through interfaces of their own.
package registry
