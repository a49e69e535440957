// Package protocol is Herald's wire contract in code: the layer-2 envelope (typed
// frames, their encoder and strict decoder, error codes) and the layer-3 app protocol
// (a registry of message types, each a JSON Schema with an x-herald policy, and
// payload validation).
//
// # Frames
//
// Every frame is one JSON object in one WebSocket text message; its field "t" names
// its kind. The server sends welcome (always first), msg, receipt, error, presence
// and reconnect; a device sends hello, msg and ack. Unknown fields are ignored so that
// the contract can grow by optional fields; an unknown "t" is a [DecodeError].
//
// A connection's flow: the device upgrades GET /v1/connect with subprotocol
// [Subprotocol] and a bearer token; the server answers with [Welcome]; from then on
// either side sends frames at any time. A device msg is answered with a [Receipt]
// (or an [Error] naming it in "re"); a server msg with ack:true expects an [Ack].
//
// The package imports nothing else of Herald, so that SDKs and tools can use it
// alone. docs/protocol.md is the authoritative prose description.
package protocol
