package protocol

import "encoding/json"

// Subprotocol is the WebSocket subprotocol of the device endpoint.
const Subprotocol = "herald.v1"

// LinkSubprotocol is the WebSocket subprotocol of edge-to-edge links.
const LinkSubprotocol = "herald.link.v1"

// LinkSubprotocolV2 is LinkSubprotocol with one addition: a publish frame
// may carry tp, its sender's trace context (docs/protocol.md, "Links").
// Edges offer and accept both, preferring it, so that an edge writes tp on a
// publish only to an edge that reads it.
const LinkSubprotocolV2 = "herald.link.v2"

// LinkSubprotocols are the link subprotocols an edge speaks, the preferred
// first.
var LinkSubprotocols = []string{LinkSubprotocolV2, LinkSubprotocol}

// Kind names a frame's kind: the value of its "t" field.
type Kind string

// The frame kinds of PROTOCOL.md.
const (
	KindWelcome   Kind = "welcome"
	KindMsg       Kind = "msg"
	KindReceipt   Kind = "receipt"
	KindError     Kind = "error"
	KindPresence  Kind = "presence"
	KindReconnect Kind = "reconnect"
	KindHello     Kind = "hello"
	KindAck       Kind = "ack"
	KindSub       Kind = "sub"
	KindUnsub     Kind = "unsub"
	KindSubs      Kind = "subs"
	KindRefresh   Kind = "refresh"
	KindRefreshed Kind = "refreshed"
)

// Frame is one layer-2 frame. The set of implementations is closed: the frame
// structs of this package.
type Frame interface {
	// Kind returns the frame's "t".
	Kind() Kind
}

// Welcome is always the first frame the server sends on a connection.
type Welcome struct {
	Session    string `json:"session"`
	Account    string `json:"account"`
	Device     string `json:"device"`
	Edge       string `json:"edge"`
	PingMS     int64  `json:"ping_ms"`
	LifetimeMS int64  `json:"lifetime_ms"`
	ServerTime int64  `json:"server_time"`
}

// Sender says who sent a message; the platform fills it, never the sender.
type Sender struct {
	Device  string `json:"device,omitempty"`
	Service string `json:"service,omitempty"`
}

// Target says where a device's message goes: one device, several, or every other
// device of the sender's account. Exactly one of the fields is set.
type Target struct {
	Device   string   `json:"device,omitempty"`
	Devices  []string `json:"devices,omitempty"`
	Siblings bool     `json:"siblings,omitempty"`
}

// Msg carries an app message: from a backend or a device to a device (with From),
// or from a device to its siblings (with To).
type Msg struct {
	ID   string  `json:"id,omitempty"`
	Type string  `json:"type"`
	From *Sender `json:"from,omitempty"`
	To   *Target `json:"to,omitempty"`
	// Topic is the topic a message published to a topic came through (see
	// Sub); only the edge sets it.
	Topic string `json:"topic,omitempty"`
	TS    int64  `json:"ts,omitempty"`
	TTL   int    `json:"ttl,omitempty"`
	Ack   bool   `json:"ack,omitempty"`
	// Seq is the inbox sequence of a message delivered from a device's inbox
	// (store-and-forward), the device's resume cursor; for a message with a
	// Topic, its sequence in the topic's log, the device's cursor for that
	// topic (Sub.After). 0 for a live message that has neither. Only the edge
	// sets it; a device's own is dropped.
	Seq     uint64          `json:"seq,omitempty"`
	Payload json.RawMessage `json:"payload"`

	// payloadValid records that Payload is known to be one valid JSON value
	// (see PayloadValid), so that encoding does not check it again.
	payloadValid bool
}

// PayloadValid records that m.Payload is one valid JSON value, as a caller
// knows who decoded it with a JSON parser (encoding/json or a scanner that
// checks the same grammar): encoding m then does not check it again, which is
// a scan of the whole payload per frame. A caller that changes Payload
// afterwards must know the new one valid too. Whitespace in a valid payload is
// still taken out when m is encoded.
func (m *Msg) PayloadValid() { m.payloadValid = true }

// Status is a per-device delivery outcome.
type Status string

// Delivery statuses of receipts and push results.
const (
	// StatusDelivered means the message was written to the target's socket.
	StatusDelivered Status = "delivered"
	// StatusAcked means the target device acknowledged the message.
	StatusAcked Status = "acked"
	// StatusOffline means the target is not connected.
	StatusOffline Status = "offline"
	// StatusQueued means the target is offline and the message waits for it.
	StatusQueued Status = "queued"
	// StatusRejected means the message was refused for this target; Error says why.
	StatusRejected Status = "rejected"
	// StatusTimeout means no final outcome was known before the deadline.
	StatusTimeout Status = "timeout"
)

// Result is one target's outcome in a receipt or a push response.
type Result struct {
	Device string `json:"device"`
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Receipt answers a msg that a device sent, with one result per target.
type Receipt struct {
	ID      string   `json:"id"`
	Results []Result `json:"results"`
}

// Code is a machine-readable error code, shared by error frames and REST problems.
type Code string

// Error codes. The first seven are PROTOCOL.md's error-frame codes; the rest occur
// only in REST problems.
const (
	CodeBadFrame      Code = "bad_frame"
	CodeUnknownType   Code = "unknown_type"
	CodeSchemaInvalid Code = "schema_invalid"
	CodeForbidden     Code = "forbidden"
	CodeTooLarge      Code = "too_large"
	CodeRateLimited   Code = "rate_limited"
	CodeUnavailable   Code = "unavailable"
	CodeBadRequest    Code = "bad_request"
	CodeUnauthorized  Code = "unauthorized"
	CodeNotFound      Code = "not_found"
	CodeConflict      Code = "conflict"
	CodeInternal      Code = "internal"
)

// Detail points at one offending part of a payload or frame.
type Detail struct {
	// Pointer is a JSON pointer (RFC 6901) into the payload, "" for the root.
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// Error reports a problem with a frame the device sent. It never closes the
// connection by itself.
type Error struct {
	Re      string   `json:"re,omitempty"`
	Code    Code     `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Presence tells a device that a sibling device came online or went offline.
type Presence struct {
	Device   string `json:"device"`
	Online   bool   `json:"online"`
	Platform string `json:"platform,omitempty"`
	TS       int64  `json:"ts"`
}

// Reasons for a reconnect frame.
const (
	ReasonLifetime  = "lifetime"
	ReasonDrain     = "drain"
	ReasonRebalance = "rebalance"
)

// Reconnect asks the device to close the socket itself and reconnect after AfterMS
// plus jitter.
type Reconnect struct {
	AfterMS int64  `json:"after_ms"`
	Reason  string `json:"reason"`
}

// DeviceInfo is a device's metadata, as sent in hello and kept in the device list.
type DeviceInfo struct {
	Platform     string   `json:"platform,omitempty"`
	Name         string   `json:"name,omitempty"`
	AppVersion   string   `json:"app_version,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// Hello carries device metadata and the device's wish for presence frames.
type Hello struct {
	Device   *DeviceInfo `json:"device,omitempty"`
	Presence *bool       `json:"presence,omitempty"`
}

// Ack acknowledges a msg that asked for it.
type Ack struct {
	ID string `json:"id"`
}

// Sub subscribes the device to Topics for the connection's life; Unsub ends
// subscriptions. The edge answers each with a Subs frame of the same ID, one
// result per topic, in order. After holds, for topics of Topics, the seq of
// the last message of that topic the device has: the edge first writes what
// the topic's log holds after it (catch-up); a topic without one starts with
// what is published from now on.
type Sub struct {
	ID     string            `json:"id,omitempty"`
	Topics []string          `json:"topics"`
	After  map[string]uint64 `json:"after,omitempty"`
}

// Unsub ends the device's subscriptions to Topics; see Sub.
type Unsub struct {
	ID     string   `json:"id,omitempty"`
	Topics []string `json:"topics"`
}

// TopicStatus is the outcome of one topic of a sub or unsub.
type TopicStatus string

// The outcomes of a topic in a Subs frame.
const (
	// TopicSubscribed: the device receives the topic's messages (also when it
	// was subscribed already).
	TopicSubscribed TopicStatus = "subscribed"
	// TopicUnsubscribed: the device no longer receives them (also when it was
	// not subscribed).
	TopicUnsubscribed TopicStatus = "unsubscribed"
	// TopicForbidden: the device's token does not grant the topic.
	TopicForbidden TopicStatus = "forbidden"
	// TopicInvalid: the name breaks the rule of a topic name.
	TopicInvalid TopicStatus = "invalid"
	// TopicLimit: the device holds as many subscriptions as it may.
	TopicLimit TopicStatus = "limit"
)

// TopicResult is one topic's outcome in a Subs frame. Topic is empty for an
// invalid name, which is not echoed.
type TopicResult struct {
	Topic  string      `json:"topic"`
	Status TopicStatus `json:"status"`
}

// Subs answers a Sub or an Unsub.
type Subs struct {
	ID      string        `json:"id,omitempty"`
	Results []TopicResult `json:"results"`
}

// Refresh carries a new device token for the connection it is sent on, before
// the one it connected with expires (device to server). The token must be for
// the same account and device, with the same topic grants; the connection then
// lives until the new token's expiry, and is answered with Refreshed, or an
// error frame whose "re" is ID, after which the old expiry stands.
type Refresh struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Refreshed answers a Refresh: the connection's new token expiry.
type Refreshed struct {
	ID string `json:"id"`
	// Exp is the new token's exp, in Unix seconds; 0 for a token without
	// one.
	Exp int64 `json:"exp"`
}

// Kind implements Frame.
func (*Refresh) Kind() Kind { return KindRefresh }

// Kind implements Frame.
func (*Refreshed) Kind() Kind { return KindRefreshed }

// Kind implements Frame.
func (*Welcome) Kind() Kind { return KindWelcome }

// Kind implements Frame.
func (*Msg) Kind() Kind { return KindMsg }

// Kind implements Frame.
func (*Receipt) Kind() Kind { return KindReceipt }

// Kind implements Frame.
func (*Error) Kind() Kind { return KindError }

// Kind implements Frame.
func (*Presence) Kind() Kind { return KindPresence }

// Kind implements Frame.
func (*Reconnect) Kind() Kind { return KindReconnect }

// Kind implements Frame.
func (*Hello) Kind() Kind { return KindHello }

// Kind implements Frame.
func (*Ack) Kind() Kind { return KindAck }

// Kind implements Frame.
func (*Sub) Kind() Kind { return KindSub }

// Kind implements Frame.
func (*Unsub) Kind() Kind { return KindUnsub }

// Kind implements Frame.
func (*Subs) Kind() Kind { return KindSubs }
