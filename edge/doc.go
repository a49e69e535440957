// Package edge is Herald's edge server: it holds device connections (WebSocket on
// GET /v1/connect, receive-only Server-Sent Events on GET /v1/events), registers
// each device in the registry, delivers messages to the devices it holds, and routes
// a device's messages to its sibling devices.
//
// Per connection the edge keeps one long-lived goroutine, the reader (the HTTP
// handler goroutine itself). Writes go through a bounded per-connection send queue
// drained by a writer goroutine that exists only while the queue is not empty.
// Keepalive pings and deadlines for all connections are driven by one timing wheel
// per server, not by per-connection timers: the wheel also ends each connection's
// lifetime (drawn uniformly from [MinLifetime, MaxLifetime] and sent in the
// welcome) with a reconnect frame, and closes a device that has not left
// ReconnectGrace later (4002). Drain spreads reconnect frames over a window before a
// deploy; Shutdown closes what is left. docs/design.md describes the goroutines, the
// lock order and what an idle connection costs.
//
// Connections are refused before the upgrade, with a 503 problem, while the edge
// drains or shuts down, at MaxConnections, and over ConnectRate (with Retry-After).
// The edge's Prometheus metrics are registered in Config.Metrics: see metrics.go for
// their names and labels.
package edge
