// Package admin is Herald's admin API and the operator's console that uses it.
//
// Both are served on a node's admin listener (--admin-addr, 127.0.0.1:9090 by
// default), never on the public one, and only when the node has an admin key
// (--admin-key). Every action the console takes is an endpoint of the API
// first, so that it can be scripted:
//
//	GET  /admin/v1/fleet                        this node and every live edge, with their figures
//	GET  /admin/v1/node                         this node's figures only
//	GET  /admin/v1/devices/{account}/{device}   where a device is connected, its session, list entry, inbox
//	POST /admin/v1/devices/{account}/{device}/disconnect
//	GET  /admin/v1/messages/{id}                an asynchronous message's status per device
//	POST /admin/v1/push                         a test push, the body and answer of POST /v1/push
//	POST /admin/v1/edges/{edge}/drain           drain an edge, as SIGTERM or POST /drain would
//	GET  /console/                              the console (static files; every call it makes needs the key)
//
// Every /admin/v1 call needs Authorization: Bearer <admin key>; errors are
// application/problem+json as in the REST API. The keys are compared through
// their SHA-256 digests in constant time.
//
// # The fleet
//
// Edges come from the registry's index of live edges (registry Edges). The
// figures of each are the edge's own metrics, read by the edge itself from its
// Prometheus registry (connections, connects and disconnects since start, link
// states and queue depths, processor lag per priority) and fetched by the
// node that answers over the edges' internal listener with the cluster key
// (GET /internal/v1/admin/node, InternalHandler): the internal listener is
// the one every edge already advertises in the registry and the cluster key
// the credential edges already share, so no admin listener needs to be
// reachable from another node. A device's session facts on another edge
// (GET /internal/v1/admin/session) and the drain of another edge (POST
// /internal/v1/admin/drain) take the same way. No Prometheus server is needed;
// rates are the console's differences of successive counters.
//
// # The console
//
// Plain HTML, CSS and JavaScript embedded in the binary (console/), no build
// step and no dependency. The page asks for the admin key, keeps it in the
// tab's sessionStorage (never in a cookie) and sends it with every call; the
// static files themselves are served without a key and hold no data.
//
// # The admin listener
//
// ListenerHandler serves the whole admin listener: the API and the console
// above, /metrics from the node's Prometheus registry, /healthz, /readyz (503
// from the start of a drain), POST /drain and pprof; InternalListenerHandler
// serves the internal listener, the internal endpoints beside the edge links.
// RegisterNodeMetrics adds the node's own collectors to that registry: the Go
// runtime and the process, registry lookups, and the links' series that the
// fleet view reads back.
//
// Package admin imports protocol, edge, registry, devicelist, inbox and
// processor (their types; it reaches them through the interfaces it declares);
// it must not import api, settings or cmd.
package admin
