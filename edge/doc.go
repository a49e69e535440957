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
//
// # Where things are
//
// The edge is four concerns; two of them are packages of their own:
//
//   - Device sessions and delivery, here. A device's frames are read and
//     dispatched in connect.go (the WebSocket session: upgrade, reader
//     goroutines, the wsTransport) and frames.go; a device's msg is validated
//     and fanned out in devmsg.go; a push is routed in deliver.go (Router: this
//     edge, or another over a link) and written to a session in deliver.go and
//     session.go (the send queue, the writer, the direct write to the socket).
//     Around them: server.go (New, the session table, Shutdown), auth.go and
//     limits.go (admission), devices.go (the device-list cache) and changes.go
//     (Changes: a changed list reloads it and disconnects), topics.go,
//     topicdir.go and publish.go (topic subscriptions, the topic directory and
//     publishing), devicetopics.go (a device's persistent topics, applied at
//     connect and when they change), wheel.go (the
//     keepalive and deadline wheel, linked through the sessions themselves),
//     lifetime.go, drain.go, close.go (close codes and causes), bucket.go
//     (per-connection budgets), memrelease.go (handing memory back after a burst
//     of connections), metrics.go, sessionlog.go, lograte.go, config.go (Config
//     and the interfaces the edge consumes). Store-and-forward: inbox.go (a
//     session's stored messages, read and written after the welcome),
//     devstore.go (a device's msg stored for an offline sibling), nudge.go (an
//     inbox read again for a writer's nudge) and storedretry.go (read again
//     after a re-registration or a failed read).
//   - Server-Sent Events, here in sse.go: a second session transport
//     (GET /v1/events and POST /v1/acks) over the same sessions, queues and
//     delivery, so it stays beside them.
//   - The idle-cheap WebSocket transport, in package edge/wsconn: the hijacked
//     connection with its pooled buffers, gathered writes, pings and pongs, and
//     the epoll poller that parks idle connections. The session calls the
//     concrete *wsconn.Conn; the poller reaches the session through
//     wsconn.Owner, which session implements (StartReader).
//   - Links between edges: the wire (frames, their codec and the one decoder,
//     link.Conn) is package edge/link; what the frames do to sessions is here:
//     links.go (Links, the dialling side, which Router sends over),
//     linkserver.go (the accepting side, Server.LinkHandler) and linkjob.go (one
//     delivery in flight from a link). Those three call into the session table
//     and local delivery directly, without an interface on the path of every
//     message, so they stay in edge (docs/design.md, "Layout of the edge").
//
// Package edge imports protocol, registry (types), edge/token, edge/wsconn and
// edge/link; it must not import api, processor, devicelist, bench or cmd, and
// edge/wsconn and edge/link must never import edge.
package edge
