// Package api is Herald's REST API for backend senders: synchronous push
// (POST /v1/push, and POST /v1/push/batch for many messages in one request)
// and the message-type catalogue (GET /v1/types,
// GET /v1/types/{type}, POST /v1/types/{type}/validate), publishing to topics,
// the device list, and the devices' persistent topics (devicetopics.go:
// PUT and DELETE /v1/accounts/{account}/devices/{device}/topics/{topic}, GET
// .../topics, POST /v1/topics/{topic}/subscribers). Requests carry an API key
// as a bearer token; errors are application/problem+json bodies carrying the same
// codes as the error frame. openapi.json, embedded, describes every route, and a
// test keeps it in step with the router.
//
// API keys (keys.go, auth.go) are kept as SHA-256 hashes and compared in
// constant time; each has scopes (send, devices, types) checked per route group
// and its own token-bucket rate limit (ratelimit.go). Every body is bounded in
// size and in JSON nesting depth before anything decodes it (body.go), and a
// member that no field of its request type takes is refused, named, rather
// than ignored (strict.go): a misspelt push target must not reach a whole
// account.
//
// Every request is counted and timed by route pattern, and every message a sender
// asks to send by path, registered type and outcome, into the Prometheus
// registry of Config.Metrics (metrics.go lists the metrics).
//
// Package api imports protocol, devicelist and processor (their types and stores);
// it must not import edge, registry or cmd: it reaches devices through the
// Deliverer interface it declares, and cmd/herald wires an edge or a link to it.
package api
