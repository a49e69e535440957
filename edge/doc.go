// Package edge is Herald's edge server: it holds device connections (WebSocket on
// GET /v1/connect, receive-only Server-Sent Events on GET /v1/events), registers
// each device in the registry, delivers messages to the devices it holds, and routes
// a device's messages to its sibling devices.
//
// Per connection the edge keeps one long-lived goroutine, the reader (the HTTP
// handler goroutine itself). Writes go through a bounded per-connection send queue
// drained by a writer goroutine that exists only while the queue is not empty.
// Keepalive pings for all connections are driven by one timing wheel per server, not
// by per-connection timers. docs/design.md describes the goroutines, the lock order
// and what an idle connection costs.
package edge
