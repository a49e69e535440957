// Package topiclog keeps, per topic, the messages published to it for a while,
// so that a device that was offline or between two connections can catch up on
// what it missed (docs/protocol.md, "Topics"): one bounded log per topic, not a
// copy per subscriber. Each entry has a sequence number, unique and increasing
// within its topic, which devices keep as their cursor, and an expiry past
// which it is never returned.
//
// Two implementations share one contract (topiclog_test.go): Memory, for
// `herald dev`, and Redis, for a deployment, where each topic is a stream
// <prefix>tlog:{topic} and a counter <prefix>tlogseq:{topic}, in one hash
// slot, written by one script.
package topiclog
