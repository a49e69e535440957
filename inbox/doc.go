// Package inbox stores the messages waiting for offline devices
// (store-and-forward): per device, the messages in the order they are to be
// delivered, each with its expiry, collapse key, priority and whether it needs
// an ack, within limits like FCM's.
//
// [Redis] is the inbox of a deployment, kept in the Redis or Redis Cluster it
// already runs for the registry (docs/design.md, "The inbox", says why Redis
// and not Postgres, with the numbers). [Memory] keeps the inbox in process
// memory for `herald dev` and for tests of the code that uses it. Both give
// the same answers and are run by the same contract tests; consumers (the
// edge draining an inbox on connect, the API and the processor writing to it
// when a device is offline) declare the small interfaces they need.
//
// # Order and resume
//
// Put gives each message a sequence number, unique and increasing within its
// device's inbox: larger than the last one given, and at least the Unix
// milliseconds of the put. Pending returns the messages in sequence order,
// after a cursor: a device resumes by sending the last sequence it received,
// and gets what is later. Priority is stored and returned but does not
// reorder the inbox: reordering would break both one sender's order and the
// cursor (a high-priority message put after the cursor's position but sorted
// before it would be skipped). A caller that wants urgent messages first can
// read a page and deliver its high-priority ones first.
//
// An emptied inbox is deleted but for its last sequence, which is kept a
// minute past the later of now and that sequence's time, so that the next
// sequence is still larger; after that, the millisecond floor keeps it so, as
// long as the clocks of the processes that put agree within a minute.
//
// # Collapse keys and limits
//
// A message with a collapse key replaces the inbox's message with the same
// key (reported in [PutResult].Replaced, status collapsed) and takes a new
// sequence at the end, the latest being what the device wants: a device that
// had already received the older one at its place would otherwise miss it.
// The limits ([Limits]) are checked in this order on each put:
//
//   - expired messages are removed first and reported (status expired);
//   - a put of an id the inbox holds changes nothing ([PutResult].Duplicate);
//   - a new collapse key beyond MaxCollapseKeys drops the oldest message that
//     has a collapse key; a message without one beyond MaxMessages drops the
//     oldest message without one (status dropped);
//   - while the payloads would exceed MaxBytes, the oldest messages are dropped;
//     a payload larger than MaxBytes on its own is refused ([ErrTooLarge]);
//   - the expiry is clamped to MaxTTL.
//
// Expiry is lazy: an expired message is never returned, and it is removed,
// and reported, by the next Put or Pending of its device. Remove deletes
// messages by id, after their delivery or, for those that need one, their ack.
//
// # Keys
//
// Every key starts with the configured prefix (default "herald:"), and the
// device is the Redis Cluster hash tag, so that the keys of one inbox share a
// slot and one Lua script changes them atomically; inboxes spread over the
// cluster by device. The account may not contain '{', '}' or '/'.
//
//	<prefix>inbox:{<account>/<device>}:q     sorted set id -> seq: order of delivery
//	<prefix>inbox:{<account>/<device>}:x     sorted set id -> expiry (Unix ms)
//	<prefix>inbox:{<account>/<device>}:n     sorted set id -> seq: messages without a collapse key
//	<prefix>inbox:{<account>/<device>}:k     sorted set collapse key -> seq
//	<prefix>inbox:{<account>/<device>}:c     hash collapse key -> id
//	<prefix>inbox:{<account>/<device>}:m     hash id -> record
//	<prefix>inbox:{<account>/<device>}:meta  hash: last (sequence), bytes (payloads held), until
//
// A record is "<seq>\n<size>\n<collapse key>\n<type>\n<from>\n<priority>\n<ack>\n
// <enqueued ms>\n<expiry ms>\n" followed by the payload. Meta's until is
// where the TTL of all seven keys runs to: at least a minute past the latest
// expiry in the inbox, so that an inbox nobody drains disappears on its own.
// A put that expires past it moves it an hour further and sets every key's
// TTL, so most puts set none. Put, Pending and Remove are one script each
// (EVALSHA, falling back to EVAL after Redis lost the scripts), Stats two
// plain reads.
//
// # Failures
//
// Every call to Redis is bounded by Timeout (default 500 ms) unless the
// caller's context has an earlier deadline. Any failure to use Redis is an
// error wrapping [ErrUnavailable] and its cause, naming the operation and the
// device: callers answer unavailable and never count the message stored, so
// nothing is lost silently. A script runs whole or not at all, so a failed
// put leaves the inbox as it was or fully changed; the caller retries with the
// same id, which a put that did happen answers as a duplicate. At Redis'
// maxmemory (with noeviction, the policy a deployment must run), a put that
// would grow the inbox is refused before it changes anything, while Pending
// and Remove, which free memory, still run. Bad input is
// [ErrInvalid] or [ErrTooLarge]. Memory fails with ErrUnavailable only when
// the context is done.
//
// Package inbox imports protocol (for the priority) and nothing else of
// Herald's; never edge, api, processor or cmd, which consume it.
package inbox
