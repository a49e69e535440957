// Package faults is Herald's fault-injection suite: each scenario (a test) starts
// real herald processes on real Redis, Postgres and Kafka (kfake), injects one
// fault under load (a cut link, a killed edge or processor, a restarted Redis, a
// stopped Postgres, Kafka unavailable for a few seconds, slow consumers, a
// connection storm, hostile devices, edges drained while pushes are stored for
// devices between connections, a reconnect storm of devices with full inboxes, the
// inbox's Redis killed under store-and-forward load, Redis restarted or an edge
// killed during a publish storm to topic subscribers, a Redis Cluster master
// killed and its replica promoted, every process of one region of two killed, or
// hung, while the other region pushes to its devices, which move over) and proves
// that every accepted message was delivered or its sender told it was not.
// A short version of each runs in go test ./...; `make faults` runs the full ones
// and writes the figures that RELIABILITY.md quotes.
//
// Package faults runs the herald binary and imports scripts/testenv, protocol,
// edge/token (to mint device tokens) and the Go SDK, clients/go (the topic
// scenarios' devices); from the server packages it takes constants
// only (edge's default budgets, processor's topic names), never a server: it sees
// Herald from outside, as its users do.
package faults
