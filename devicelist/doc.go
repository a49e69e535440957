// Package devicelist keeps each account's devices and their metadata, as FCM's
// registrations or Pushy's device list do: what a device declared of itself
// (platform, name, app version, capabilities), attributes set through the REST
// API, and when it was created, updated and last seen.
//
// The edge calls [Postgres.Touch] when a device connects or sends hello, so a
// device appears in the list the first time it connects, and [Postgres.Seen] as
// it keeps talking. [Postgres.IDs] answers sibling resolution for device-to-device
// messages; [Postgres.Owners] tells "another account's device" from "unknown
// device". The REST API reads and writes the list with Get, List, Put and Delete.
//
// [Postgres] is the device list of a deployment, shared by every edge and API
// process. [Memory] keeps the list in process memory, for `herald dev` and for
// tests of the code that uses it. Both have the same methods and behaviour:
// consumers declare the small interfaces they need. Both validate ids and
// metadata with the same function ([ValidID] and the Max constants), so an
// invalid request is an [*InvalidError] whichever store serves it, and both keep
// times in UTC with microsecond precision.
//
// # Schema
//
// Two tables, created by the embedded migrations (migrations/*.sql):
//
//	devices(account, id, platform, name, app_version, capabilities text[],
//	        attributes jsonb, created, updated, last_seen, PRIMARY KEY (account, id))
//	device_topics(account, device, topic, created, PRIMARY KEY (account, device, topic),
//	        FOREIGN KEY (account, device) REFERENCES devices ON DELETE CASCADE)
//
// plus an index on id for Owners. device_topics holds the persistent topic
// subscriptions a backend made through the REST API ([Postgres.AddTopic],
// RemoveTopic, Topics, TopicDevices); they go with their device, and a device
// has at most the limit its caller passes to AddTopic. Ids use the "C" collation, so the primary key
// orders them bytewise, as Memory sorts them, and List and IDs read in index
// order. [OpenPostgres] applies the migrations that schema_migrations does not
// list yet (rows "devicelist/<file>"), in one transaction holding a
// transaction-level advisory lock: processes starting at once take turns, later
// ones find nothing to do, and a process that dies mid-way leaves neither a
// half-applied schema nor a held lock.
//
// # Timestamps
//
// Created is set when a device is first stored and never changes. Put moves
// Updated; Touch moves it only when the hello changed the metadata, so that
// reconnects do not. last_seen is set by Touch and Seen and never moves back.
// The times come from the calling process's clock.
//
// # Last seen
//
// A device is seen on every frame, so [Postgres.Seen] never queries: it keeps
// the latest time per device in a buffer of at most SeenBuffer devices and
// returns. A goroutine owned by the store writes the buffer every SeenFlush in
// one statement (an UPDATE joined with unnest of three arrays), in key order so
// that several processes lock rows in the same order. Updates for a device not
// in the list change nothing: Seen never creates a device. When the buffer is
// full, updates of further devices are dropped and counted ([Postgres.SeenDropped]):
// last_seen is advisory, and a later update brings it up to date. A failed
// write puts its updates back for the next flush. [Postgres.Close] stops the
// goroutine and writes what is pending.
//
// # Failures
//
// Every query runs under the caller's context limited to Timeout (default 2 s).
// A failure to reach Postgres (refused, lost or timed-out connection, a
// cancelled context, a closed store, a server shutting down or out of
// connections) is an error wrapping [ErrUnavailable] and its cause, naming the
// operation; callers answer "unavailable" and never "not found". A missing
// device is [ErrNotFound].
//
// [Listed] adapts either store to the consumers that want only the ids of an
// account's devices (the processor, which stores a message to a whole account
// for its devices that are not connected).
//
// Package devicelist imports protocol (the id and metadata rules) only; it must
// not import edge, api, registry, processor or cmd.
package devicelist
