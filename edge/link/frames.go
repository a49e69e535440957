package link

import "github.com/heraldpush/herald/protocol"

// Msg is a msg frame on an edge link: the message for one device (To.Device)
// of Account, with the time the target edge may wait for the outcome. It is
// answered by receipts with one result, correlated by (id, device).
type Msg struct {
	T       protocol.Kind `json:"t"`
	Account string        `json:"account"`
	WaitMS  int64         `json:"wait_ms"`
	protocol.Msg
}

// Replace tells an edge that a newer connection of the device registered
// elsewhere, so the edge closes the named session (4000) if it still holds it.
type Replace struct {
	T       string `json:"t"`
	Account string `json:"account"`
	Device  string `json:"device"`
	Session string `json:"session"`
	// Code is the close code; 0 means 4000 (replaced).
	Code int `json:"code,omitempty"`
}

// KindReplace is the "t" of Replace.
const KindReplace = "replace"

// Presence carries a presence frame for the devices of Account held by the
// receiving edge.
type Presence struct {
	T       protocol.Kind `json:"t"`
	Account string        `json:"account"`
	protocol.Presence
}

// Nudge tells the edge that holds Session of Device of Account that the
// device's inbox (store-and-forward) took a message after the edge may have
// read it: the edge reads the inbox again, after the last stored message it
// queued on that session. A nudge for a session the edge does not hold changes
// nothing.
type Nudge struct {
	T       string `json:"t"`
	Account string `json:"account"`
	Device  string `json:"device"`
	Session string `json:"session"`
}

// KindNudge is the "t" of Nudge.
const KindNudge = "nudge"

// Topics tells the edge that holds Session of Device of Account that the
// device's persistent topics changed in the device list: the edge reads them
// again and subscribes or unsubscribes that session to match. A topics frame
// for a session the edge does not hold changes nothing.
type Topics struct {
	T       string `json:"t"`
	Account string `json:"account"`
	Device  string `json:"device"`
	Session string `json:"session"`
}

// KindTopics is the "t" of Topics.
const KindTopics = "topics"

// Late carries a receipt that comes after its sender stopped waiting: the
// outcome Status of message ID for the device From, to Device of Account, the
// message's sender, if the receiving edge holds it. The one use today: a
// device's msg with ack, stored for an offline sibling (its sender's receipt
// said queued), that the sibling acked on a later connection (acked).
type Late struct {
	T       string          `json:"t"`
	Account string          `json:"account"`
	Device  string          `json:"device"`
	ID      string          `json:"id"`
	From    string          `json:"from"`
	Status  protocol.Status `json:"status"`
}

// KindLate is the "t" of Late.
const KindLate = "late"

// KindPublish is the "t" of a publish frame: a message published to a topic
// (protocol.Msg with Topic), for the receiving edge's subscribers of it, with
// the time the sender waits for the answer (wait_ms). It is answered by one
// published frame with the same id.
const KindPublish = "publish"

// KindPublished is the "t" of Published.
const KindPublished = "published"

// Count asks the receiving edge how many of its sessions subscribe to Topic;
// it is answered by one counted frame with the same ID, a fresh message id
// per request (protocol.ValidMsgID).
type Count struct {
	T     string `json:"t"`
	ID    string `json:"id"`
	Topic string `json:"topic"`
}

// KindCount is the "t" of Count.
const KindCount = "count"

// Counted answers a count frame: the receiving edge's subscribers of the
// topic (edge.Server.TopicSubscribers).
type Counted struct {
	T           string `json:"t"`
	ID          string `json:"id"`
	Subscribers int    `json:"subscribers"`
}

// KindCounted is the "t" of Counted.
const KindCounted = "counted"

// Locate asks the gateway of another region whether its region's registry
// holds Device of Account; it is answered by one counted frame with the same
// ID, a fresh message id per request: Subscribers 1 when it does, 0 when it
// does not.
type Locate struct {
	T       string `json:"t"`
	ID      string `json:"id"`
	Account string `json:"account"`
	Device  string `json:"device"`
}

// KindLocate is the "t" of Locate.
const KindLocate = "locate"

// Handover tells the gateway of another region that Device of Account is now
// connected in Region, so that the gateway delivers there what its own
// region's inbox holds for the device. It needs no answer.
type Handover struct {
	T       string `json:"t"`
	Account string `json:"account"`
	Device  string `json:"device"`
	Region  string `json:"region"`
}

// KindHandover is the "t" of Handover.
const KindHandover = "handover"

// Changed tells the gateway of another region that the device list of
// Account changed, so that the region's caches of it reload; Removed, when
// set, is a device taken off the list, whose connection in that region, if
// it has one, is closed (4003). It needs no answer.
type Changed struct {
	T       string `json:"t"`
	Account string `json:"account"`
	Removed string `json:"removed,omitempty"`
}

// KindChanged is the "t" of Changed.
const KindChanged = "changed"
