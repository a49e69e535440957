// Package ceiling is the reference server of the load tool (package bench): the
// least a github.com/coder/websocket server can do for each of the bench's
// workloads, so that Herald's figures can be read as ratios to what this machine
// allows at all.
//
// It speaks just enough of the wire contract for the bench: a device connects to
// GET /v1/connect with a token whose claims are read unverified, gets a welcome,
// and is held by one goroutine blocked in Read, without pings; POST /v1/push,
// /v1/push/batch, /v1/messages and /v1/messages/batch write the pushed frame to the device and
// answer at once (no queue, no registry); a device msg is written to its target
// in this process and answered with a receipt.
//
// [Serve] runs it as `herald bench --ceiling-server`, a child process of the
// bench: it prints {"addr":"host:port"} once it listens ([ListenAddr] reads that
// line) and serves until its stdin closes. Tests serve [Server.Handler] in their
// own process.
//
// The goroutines: one handler per device connection, tracked by the server's
// WaitGroup; [Server.Close] ends the connections and waits for them.
//
// ceiling imports protocol and coder/websocket only: nothing of Herald's servers
// (edge, api, registry), whose work is what the ratio measures.
package ceiling
