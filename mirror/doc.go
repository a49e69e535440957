// Package mirror copies the asynchronous path's topics from one region's Kafka
// cluster to another's, named as MirrorMaker 2 names them, so that an operator
// may run MM2 instead and Herald's processors and materializers read the same
// topics either way.
//
// A source topic T of region alias becomes alias.T in the target
// (herald.status of region eu is eu.herald.status elsewhere: MM2's
// DefaultReplicationPolicy with its "." separator). A record keeps its key,
// value, headers, timestamp and partition number; a target topic is created
// with its source's partition count, and grown when the source grows. Which
// topics: those a regexp matches (DefaultFilter: the message and status
// topics), found again as they appear (the source's metadata is read every
// DiscoveryInterval); a remote topic (IsRemote: one that already starts with
// a region name) is never copied, so regions that mirror each other do not
// cycle.
//
// Delivery is at least once. Run consumes in a consumer group on the source
// cluster, one batch at a time (at most MaxPollRecords records), produces the
// batch to the target and commits its source offsets only once the target
// acknowledged every record of it; a failed attempt is tried again with a
// backoff. A mirror killed at any point copies again what it had not
// committed: the target may hold a record twice, never miss one; Herald drops
// repeats by message id.
//
// What MM2 does and this package does not: offset-sync and checkpoint topics,
// the translation of consumer group offsets, the sync of topic configs and
// ACLs, heartbeats. docs/design.md ("Mirroring the asynchronous path") says how
// to replace it with MM2.
//
// Package mirror imports protocol and processor (topic names and creation);
// cmd/herald runs it as the mirror role.
package mirror
