// Package processor is Herald's asynchronous path: senders enqueue messages on a
// Kafka topic of their priority, a horizontally scaled group of processors
// consumes the topics and delivers each message through the registry and the edge
// links, and every outcome is a record on a status topic that a materializer keeps
// readable per message.
//
// Topics (with the default prefix "herald."):
//
//	herald.messages.high     one topic per priority, keyed by account, so the
//	herald.messages.normal   messages to one device keep their order and a flood
//	herald.messages.low      of low-priority messages never delays a high one
//	herald.status            one Event per outcome, keyed by message id
//
// Each record value is JSON: a [Message] on the message topics, an [Event] on the
// status topic, so any Kafka client (kcat, say) can produce and read them.
//
// Delivery is at least once: a processor marks a batch's offsets for commit
// only after every delivery attempt of the batch has finished and its status
// events are acknowledged, and commits the marked offsets every
// Config.CommitInterval, before a rebalance takes its partitions and when it
// stops; a processor that dies mid-batch, or before its next commit, leaves
// those records to the group member that takes its partitions over. Devices
// drop duplicates by message id. A batch's status events are held while it
// runs and produced together when it ends, in as few produce requests as the
// status topic's partitions allow.
//
// A Processor and the materializer export Prometheus metrics into the registry
// of their configs (metrics.go lists them): outcomes by priority, type and
// status, the latency from acceptance to the write to a device, batches, status
// events lost, and the consumer lag per priority, read from Kafka at scrape time
// while Run runs. Their names differ, so both may share one registry.
//
// A message to one named device that is offline, of a type whose policy stores
// it, goes into the device's inbox through the Inbox interface it declares
// (store-and-forward); the device's outcome is then queued, and the edge that
// holds the device, if one does by then, is nudged through the Nudger
// interface it declares, to read the inbox again.
//
// A message to a topic (Message.Topic, keyed by the topic) is published
// through the Publisher interface it declares, once per record: its one
// outcome, without a device, is published with the counts of the edges and
// devices reached and the edges that failed, expired, or failed (topic.go).
//
// A [MessageStatus] is what the materializer knows of one message (GET
// /v1/messages/{id}); [MessageStatus.WriteText] is the form herald status
// prints.
//
// [StartEmbedded] runs the in-memory Kafka cluster of `herald dev` (kfake) in
// the process, on loopback.
//
// Package processor imports protocol and inbox only; it must not import edge,
// api, registry or cmd: it delivers through the Deliverer and Publisher
// interfaces it declares.
package processor
