package link

import (
	"strconv"

	"github.com/heraldpush/herald/protocol"
)

// The frames that arrive on a link, of every kind, are read by the one decoder
// below and by nothing else, so that no frame means one thing to one parser and
// another to a second. Its rule:
//
//   - A frame is one JSON object whose first field is "t", its kind: msg,
//     replace, presence, nudge and late towards the edge that holds the
//     device, receipt back; publish towards an edge with subscribers of a
//     topic, published back; count towards such an edge, counted back;
//     locate towards the gateway of another region, counted back; handover
//     and changed towards such a gateway.
//     Every encoder writes "t" first.
//   - Field names match exactly, as the encoders write them: "ACCount" is not
//     "account" (encoding/json would take it for one).
//   - A field the decoder knows appears at most once in its object, "t"
//     included; a second refuses the frame. A null is the field's absence,
//     except for a msg's payload, where it is the value null.
//   - Fields it does not know are skipped, their syntax checked, so that an
//     edge of a newer version may add one.
//   - A msg needs account, id and to.device, and its optional tp (the
//     sender's trace context) must be ValidTraceparent; a replace and a nudge account,
//     device and session; a presence account and device; a late every field
//     (valid ids, status acked); a publish an id and a valid topic, and
//     neither account nor to; a published an id; a count a valid id and a
//     valid topic; a locate a valid id, account and device; a handover a
//     valid account, device and region; a changed a valid account (and a
//     valid removed device id, if any); a counted an
//     id; a receipt id and exactly one result. A
//     frame without them is refused.
//
// Strings are decoded as encoding/json does (invalid UTF-8 and lone surrogates
// become U+FFFD); numbers that fill an integer field must be integers that fit.

// A set of the fields of an object read so far has a bit for each field: fieldT
// for a frame's "t", and from fieldFirst up the fields of each kind of object,
// numbered by its own constants.
const (
	fieldT = 1 << iota
	fieldFirst
)

// Kind starts reading data, a link frame: its '{' and its first field,
// which must be "t". It returns the kind that field names, one of
// protocol.KindMsg, protocol.KindReceipt, KindReplace, protocol.KindPresence
// KindNudge, KindTopics, KindLate, KindPublish, KindPublished, KindCount,
// KindCounted, KindLocate, KindHandover and KindChanged; the decoder of that kind
// reads the rest.
func (s *Scanner) Kind(data []byte) (string, error) {
	s.reset(data)
	more, err := s.field(true)
	if err != nil {
		return "", err
	}
	if !more || string(s.key) != "t" {
		return "", ErrFrame
	}
	sp, err := s.str()
	if err != nil {
		return "", err
	}
	kind := ""
	for _, k := range [...]string{string(protocol.KindMsg), string(protocol.KindReceipt), KindReplace, string(protocol.KindPresence), KindNudge, KindTopics, KindLate, KindPublish, KindPublished, KindCount, KindCounted, KindLocate, KindHandover, KindChanged} {
		if string(s.bytes(sp)) == k {
			kind = k
		}
	}
	s.buf = s.buf[:0]
	if kind == "" {
		return "", ErrFrame
	}
	return kind, nil
}

// fields reads the fields of an object up to its '}', from its '{' when first
// is set, else from after the field before (a frame's "t", in seen). known
// gives a key's bit, 0 for a field the decoder does not know, which is
// skipped; set reads the value of a known field that is not null, or is one of
// keepNull (a msg's payload, where null is a value). A known field in seen or
// read twice is an error.
func (s *Scanner) fields(first bool, seen, keepNull uint16, known func(key []byte) uint16, set func(f uint16) error) error {
	for ; ; first = false {
		more, err := s.field(first)
		if err != nil || !more {
			return err
		}
		f := known(s.key)
		if f == 0 {
			if _, err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if seen&f != 0 {
			return ErrFrame
		}
		seen |= f
		if f&keepNull == 0 && s.null() {
			continue
		}
		if err := set(f); err != nil {
			return err
		}
	}
}

// InMsg is a decoded msg frame of a link: the message for Device of Account,
// with the time the sending edge waits for the outcome.
type InMsg struct {
	Account string
	Device  string
	WaitMS  int64
	// TP is the W3C traceparent of the sender's span, "" when the frame has
	// none; ReadMsg refuses a frame whose tp is not ValidTraceparent.
	TP   string
	Msg  protocol.Msg
	from protocol.Sender // Msg.From points here when the frame has one
}

// The fields of a msg frame.
const (
	msgAccount = fieldFirst << iota
	msgWaitMS
	msgID
	msgType
	msgFrom
	msgTo
	msgTS
	msgTTL
	msgAck
	msgPayload
	msgTopic
	msgSeq
	msgTP
)

func msgField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return msgAccount
	case "wait_ms":
		return msgWaitMS
	case "id":
		return msgID
	case "type":
		return msgType
	case "from":
		return msgFrom
	case "to":
		return msgTo
	case "ts":
		return msgTS
	case "ttl":
		return msgTTL
	case "ack":
		return msgAck
	case "payload":
		return msgPayload
	case "topic":
		return msgTopic
	case "seq":
		return msgSeq
	case "tp":
		return msgTP
	}
	return 0
}

// DecodeMsg decodes data, a msg frame of a link, into in.
func (s *Scanner) DecodeMsg(data []byte, in *InMsg) error {
	kind, err := s.Kind(data)
	if err != nil {
		return err
	}
	if kind != string(protocol.KindMsg) {
		return ErrFrame
	}
	return s.ReadMsg(in)
}

// ReadMsg reads the rest of a msg frame after Kind, into in. It allocates
// what the message keeps: one string that holds all its strings, the payload,
// and nothing else. "to" yields only its "device": the link carries no other
// kind of target.
func (s *Scanner) ReadMsg(in *InMsg) error {
	if err := s.readMsg(in); err != nil {
		return err
	}
	if in.Account == "" || in.Device == "" || in.Msg.ID == "" {
		return ErrFrame
	}
	return nil
}

// ReadPublish reads the rest of a publish frame after Kind, into in: a msg
// frame's fields with a topic (protocol.ValidTopic) and an id, and no account
// or target; its optional tp follows a msg's rule.
func (s *Scanner) ReadPublish(in *InMsg) error {
	if err := s.readMsg(in); err != nil {
		return err
	}
	if in.Account != "" || in.Device != "" || in.Msg.ID == "" || !protocol.ValidTopic(in.Msg.Topic) {
		return ErrFrame
	}
	return nil
}

// readMsg reads the fields of a msg or publish frame into in.
func (s *Scanner) readMsg(in *InMsg) error {
	*in = InMsg{}
	var account, id, typ, fromDev, fromSvc, toDev, topic, tp span
	var haveFrom, haveTP bool
	var payload []byte
	err := s.fields(false, fieldT, msgPayload, msgField, func(f uint16) (err error) {
		switch f {
		case msgAccount:
			account, err = s.str()
		case msgWaitMS:
			in.WaitMS, err = s.int(64)
		case msgID:
			id, err = s.str()
		case msgType:
			typ, err = s.str()
		case msgFrom:
			haveFrom = true
			fromDev, fromSvc, err = s.sender()
		case msgTo:
			toDev, err = s.target()
		case msgTS:
			in.Msg.TS, err = s.int(64)
		case msgTTL:
			var n int64
			n, err = s.int(strconv.IntSize)
			in.Msg.TTL = int(n)
		case msgAck:
			in.Msg.Ack, err = s.bool()
		case msgPayload:
			payload, err = s.skip()
		case msgTopic:
			topic, err = s.str()
		case msgSeq:
			var n int64
			n, err = s.int(64)
			if n < 0 {
				err = ErrFrame
			}
			in.Msg.Seq = uint64(n)
		case msgTP:
			haveTP = true
			tp, err = s.str()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() {
		return ErrFrame
	}
	all := string(s.buf)
	str := func(sp span) string { return all[sp.start:sp.end] }
	in.Account, in.Device = str(account), str(toDev)
	in.Msg.ID, in.Msg.Type, in.Msg.Topic = str(id), str(typ), str(topic)
	if haveTP {
		in.TP = str(tp)
		if !ValidTraceparent(in.TP) {
			return ErrFrame
		}
	}
	if haveFrom {
		in.from = protocol.Sender{Device: str(fromDev), Service: str(fromSvc)}
		in.Msg.From = &in.from
	}
	if payload != nil {
		in.Msg.Payload = append([]byte(nil), payload...)
	}
	return nil
}

// ValidTraceparent reports whether tp is a W3C traceparent of version 00 as
// the link carries it: 55 characters, "00-", 32 lowercase hex digits of a
// trace id that is not all zeros, "-", 16 of a span id that is not all
// zeros, "-", and 2 of the flags. A msg frame's tp must be one; anything
// else refuses the frame, so that no peer can hand the tracer of another
// edge a header it would parse differently.
func ValidTraceparent(tp string) bool {
	if len(tp) != 55 || tp[:3] != "00-" || tp[35] != '-' || tp[52] != '-' {
		return false
	}
	traceZero, spanZero := true, true
	for i := 3; i < 55; i++ {
		if i == 35 || i == 52 {
			continue
		}
		c := tp[i]
		switch {
		case c == '0':
		case '1' <= c && c <= '9', 'a' <= c && c <= 'f':
			if i < 35 {
				traceZero = false
			} else if i < 52 {
				spanZero = false
			}
		default:
			return false
		}
	}
	return !traceZero && !spanZero
}

// The fields of the objects in a frame: a sender, a target, a result.
const (
	objDevice = fieldFirst << iota
	objService
	objStatus
	objError
)

func objField(key []byte) uint16 {
	switch string(key) {
	case "device":
		return objDevice
	case "service":
		return objService
	case "status":
		return objStatus
	case "error":
		return objError
	}
	return 0
}

// sender reads a "from" object.
func (s *Scanner) sender() (device, service span, err error) {
	err = s.fields(true, 0, 0, senderField, func(f uint16) (err error) {
		if f == objDevice {
			device, err = s.str()
		} else {
			service, err = s.str()
		}
		return err
	})
	return device, service, err
}

func senderField(key []byte) uint16 { return objField(key) & (objDevice | objService) }

// target reads a "to" object for its device; the link never carries the other
// kinds of target, whose fields are skipped.
func (s *Scanner) target() (device span, err error) {
	err = s.fields(true, 0, 0, targetField, func(uint16) (err error) {
		device, err = s.str()
		return err
	})
	return device, err
}

func targetField(key []byte) uint16 { return objField(key) & objDevice }

// The fields of a replace frame.
const (
	replaceAccount = fieldFirst << iota
	replaceDevice
	replaceSession
	replaceCode
)

func replaceField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return replaceAccount
	case "device":
		return replaceDevice
	case "session":
		return replaceSession
	case "code":
		return replaceCode
	}
	return 0
}

// ReadReplace reads the rest of a replace frame after Kind, into rp.
func (s *Scanner) ReadReplace(rp *Replace) error {
	*rp = Replace{T: KindReplace}
	err := s.fields(false, fieldT, 0, replaceField, func(f uint16) error {
		var err error
		var sp span
		switch f {
		case replaceAccount:
			sp, err = s.str()
			rp.Account = string(s.bytes(sp))
		case replaceDevice:
			sp, err = s.str()
			rp.Device = string(s.bytes(sp))
		case replaceSession:
			sp, err = s.str()
			rp.Session = string(s.bytes(sp))
		case replaceCode:
			var n int64
			n, err = s.int(strconv.IntSize)
			rp.Code = int(n)
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || rp.Account == "" || rp.Device == "" || rp.Session == "" {
		return ErrFrame
	}
	return nil
}

// The fields of a nudge frame.
const (
	nudgeAccount = fieldFirst << iota
	nudgeDevice
	nudgeSession
)

func nudgeField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return nudgeAccount
	case "device":
		return nudgeDevice
	case "session":
		return nudgeSession
	}
	return 0
}

// ReadTopics reads the rest of a topics frame after Kind, into t: the
// fields and rules of a nudge frame.
func (s *Scanner) ReadTopics(t *Topics) error {
	var n Nudge
	err := s.ReadNudge(&n)
	*t = Topics{T: KindTopics, Account: n.Account, Device: n.Device, Session: n.Session}
	return err
}

// ReadNudge reads the rest of a nudge frame after Kind, into n.
func (s *Scanner) ReadNudge(n *Nudge) error {
	*n = Nudge{T: KindNudge}
	err := s.fields(false, fieldT, 0, nudgeField, func(f uint16) error {
		sp, err := s.str()
		switch f {
		case nudgeAccount:
			n.Account = string(s.bytes(sp))
		case nudgeDevice:
			n.Device = string(s.bytes(sp))
		case nudgeSession:
			n.Session = string(s.bytes(sp))
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || n.Account == "" || n.Device == "" || n.Session == "" {
		return ErrFrame
	}
	return nil
}

// The fields of a late frame.
const (
	lateAccount = fieldFirst << iota
	lateDevice
	lateID
	lateFrom
	lateStatus
)

func lateField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return lateAccount
	case "device":
		return lateDevice
	case "id":
		return lateID
	case "from":
		return lateFrom
	case "status":
		return lateStatus
	}
	return 0
}

// ReadLate reads the rest of a late frame after Kind, into l. Every field is
// required; the ids must follow their rules (protocol.ValidID,
// protocol.ValidMsgID) and the status must be acked, the one late outcome.
func (s *Scanner) ReadLate(l *Late) error {
	*l = Late{T: KindLate}
	err := s.fields(false, fieldT, 0, lateField, func(f uint16) error {
		sp, err := s.str()
		v := string(s.bytes(sp))
		switch f {
		case lateAccount:
			l.Account = v
		case lateDevice:
			l.Device = v
		case lateID:
			l.ID = v
		case lateFrom:
			l.From = v
		case lateStatus:
			l.Status = protocol.Status(v)
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || !protocol.ValidID(l.Account) || !protocol.ValidID(l.Device) || !protocol.ValidID(l.From) ||
		!protocol.ValidMsgID(l.ID) || l.Status != protocol.StatusAcked {
		return ErrFrame
	}
	return nil
}

// The fields of a published frame.
const (
	publishedID = fieldFirst << iota
	publishedDevices
	publishedDropped
)

func publishedField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "id":
		return publishedID
	case "devices":
		return publishedDevices
	case "dropped":
		return publishedDropped
	}
	return 0
}

// Published answers a publish frame: what the receiving edge's fan-out of
// message ID did (edge.TopicCount).
type Published struct {
	ID      string `json:"id"`
	Devices int    `json:"devices"`
	Dropped int    `json:"dropped"`
}

// ReadPublished reads the rest of a published frame after Kind, into p.
func (s *Scanner) ReadPublished(p *Published) error {
	*p = Published{}
	err := s.fields(false, fieldT, 0, publishedField, func(f uint16) error {
		switch f {
		case publishedID:
			sp, err := s.str()
			p.ID = string(s.bytes(sp))
			return err
		case publishedDevices:
			n, err := s.int(strconv.IntSize)
			p.Devices = int(n)
			return err
		default:
			n, err := s.int(strconv.IntSize)
			p.Dropped = int(n)
			return err
		}
	})
	if err != nil {
		return err
	}
	if !s.end() || p.ID == "" || p.Devices < 0 || p.Dropped < 0 {
		return ErrFrame
	}
	return nil
}

// The fields of a count and a counted frame.
const (
	countID = fieldFirst << iota
	countTopic
	countSubscribers
)

func countField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "id":
		return countID
	case "topic":
		return countTopic
	}
	return 0
}

func countedField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "id":
		return countID
	case "subscribers":
		return countSubscribers
	}
	return 0
}

// ReadCount reads the rest of a count frame after Kind, into c: a valid
// message id and a valid topic name.
func (s *Scanner) ReadCount(c *Count) error {
	*c = Count{T: KindCount}
	err := s.fields(false, fieldT, 0, countField, func(f uint16) error {
		sp, err := s.str()
		if f == countID {
			c.ID = string(s.bytes(sp))
		} else {
			c.Topic = string(s.bytes(sp))
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || !protocol.ValidMsgID(c.ID) || !protocol.ValidTopic(c.Topic) {
		return ErrFrame
	}
	return nil
}

// The fields of a locate frame.
const (
	locateID = fieldFirst << iota
	locateAccount
	locateDevice
)

func locateField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "id":
		return locateID
	case "account":
		return locateAccount
	case "device":
		return locateDevice
	}
	return 0
}

// ReadLocate reads the rest of a locate frame after Kind, into l: a valid
// message id, account and device id (protocol.ValidMsgID, protocol.ValidID).
func (s *Scanner) ReadLocate(l *Locate) error {
	*l = Locate{T: KindLocate}
	err := s.fields(false, fieldT, 0, locateField, func(f uint16) error {
		sp, err := s.str()
		switch f {
		case locateID:
			l.ID = string(s.bytes(sp))
		case locateAccount:
			l.Account = string(s.bytes(sp))
		case locateDevice:
			l.Device = string(s.bytes(sp))
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || !protocol.ValidMsgID(l.ID) || !protocol.ValidID(l.Account) || !protocol.ValidID(l.Device) {
		return ErrFrame
	}
	return nil
}

// The fields of a handover frame.
const (
	handoverAccount = fieldFirst << iota
	handoverDevice
	handoverRegion
)

func handoverField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return handoverAccount
	case "device":
		return handoverDevice
	case "region":
		return handoverRegion
	}
	return 0
}

// ReadHandover reads the rest of a handover frame after Kind, into h: a valid
// account and device id and a valid region name (protocol.ValidRegion).
func (s *Scanner) ReadHandover(h *Handover) error {
	*h = Handover{T: KindHandover}
	err := s.fields(false, fieldT, 0, handoverField, func(f uint16) error {
		sp, err := s.str()
		switch f {
		case handoverAccount:
			h.Account = string(s.bytes(sp))
		case handoverDevice:
			h.Device = string(s.bytes(sp))
		case handoverRegion:
			h.Region = string(s.bytes(sp))
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || !protocol.ValidID(h.Account) || !protocol.ValidID(h.Device) || !protocol.ValidRegion(h.Region) {
		return ErrFrame
	}
	return nil
}

// The fields of a changed frame.
const (
	changedAccount = fieldFirst << iota
	changedRemoved
)

func changedField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return changedAccount
	case "removed":
		return changedRemoved
	}
	return 0
}

// ReadChanged reads the rest of a changed frame after Kind, into c: a valid
// account id and, if present, a valid removed device id.
func (s *Scanner) ReadChanged(c *Changed) error {
	*c = Changed{T: KindChanged}
	err := s.fields(false, fieldT, 0, changedField, func(f uint16) error {
		sp, err := s.str()
		if f == changedAccount {
			c.Account = string(s.bytes(sp))
		} else {
			c.Removed = string(s.bytes(sp))
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || !protocol.ValidID(c.Account) || c.Removed != "" && !protocol.ValidID(c.Removed) {
		return ErrFrame
	}
	return nil
}

// ReadCounted reads the rest of a counted frame after Kind, into c: an id and
// a count of at least 0.
func (s *Scanner) ReadCounted(c *Counted) error {
	*c = Counted{T: KindCounted}
	err := s.fields(false, fieldT, 0, countedField, func(f uint16) error {
		if f == countID {
			sp, err := s.str()
			c.ID = string(s.bytes(sp))
			return err
		}
		n, err := s.int(strconv.IntSize)
		c.Subscribers = int(n)
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || c.ID == "" || c.Subscribers < 0 {
		return ErrFrame
	}
	return nil
}

// The fields of a presence frame.
const (
	presenceAccount = fieldFirst << iota
	presenceDevice
	presenceOnline
	presencePlatform
	presenceTS
)

func presenceField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "account":
		return presenceAccount
	case "device":
		return presenceDevice
	case "online":
		return presenceOnline
	case "platform":
		return presencePlatform
	case "ts":
		return presenceTS
	}
	return 0
}

// ReadPresence reads the rest of a presence frame after Kind, into lp.
func (s *Scanner) ReadPresence(lp *Presence) error {
	*lp = Presence{T: protocol.KindPresence}
	err := s.fields(false, fieldT, 0, presenceField, func(f uint16) error {
		var err error
		var sp span
		switch f {
		case presenceAccount:
			sp, err = s.str()
			lp.Account = string(s.bytes(sp))
		case presenceDevice:
			sp, err = s.str()
			lp.Device = string(s.bytes(sp))
		case presenceOnline:
			lp.Online, err = s.bool()
		case presencePlatform:
			sp, err = s.str()
			lp.Platform = string(s.bytes(sp))
		case presenceTS:
			lp.TS, err = s.int(64)
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || lp.Account == "" || lp.Device == "" {
		return ErrFrame
	}
	return nil
}

// Result is a decoded receipt of a link: the outcome of message id for one
// device. ID and Device are valid until the scanner reads the next frame.
type Result struct {
	ID, Device []byte
	Result     protocol.Result // without Device
}

// The fields of a receipt frame.
const (
	receiptID = fieldFirst << iota
	receiptResults
)

func receiptField(key []byte) uint16 {
	switch string(key) {
	case "t":
		return fieldT
	case "id":
		return receiptID
	case "results":
		return receiptResults
	}
	return 0
}

// DecodeReceipt decodes data, a receipt frame of a link with exactly one
// result. Only an error message, which is rare, is allocated.
func (s *Scanner) DecodeReceipt(data []byte, out *Result) error {
	kind, err := s.Kind(data)
	if err != nil {
		return err
	}
	if kind != string(protocol.KindReceipt) {
		return ErrFrame
	}
	return s.ReadReceipt(out)
}

// ReadReceipt reads the rest of a receipt frame after Kind, into out.
func (s *Scanner) ReadReceipt(out *Result) error {
	*out = Result{}
	var id, device, status, errText span
	var n int
	err := s.fields(false, fieldT, 0, receiptField, func(f uint16) (err error) {
		if f == receiptID {
			id, err = s.str()
		} else {
			n, device, status, errText, err = s.results()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || id.end == id.start || n != 1 {
		return ErrFrame
	}
	out.ID, out.Device = s.bytes(id), s.bytes(device)
	out.Result.Status = statusOf(s.bytes(status))
	if errText.end > errText.start {
		out.Result.Error = string(s.bytes(errText))
	}
	return nil
}

// results reads a receipt's results and returns how many there were and the
// fields of the last.
func (s *Scanner) results() (n int, device, status, errText span, err error) {
	if !s.consume('[') {
		return 0, device, status, errText, ErrFrame
	}
	if s.consume(']') {
		return 0, device, status, errText, nil
	}
	for {
		n++
		device, status, errText = span{}, span{}, span{}
		err = s.fields(true, 0, 0, resultField, func(f uint16) (err error) {
			switch f {
			case objDevice:
				device, err = s.str()
			case objStatus:
				status, err = s.str()
			case objError:
				errText, err = s.str()
			}
			return err
		})
		if err != nil {
			return n, device, status, errText, err
		}
		if s.consume(']') {
			return n, device, status, errText, nil
		}
		if !s.consume(',') {
			return n, device, status, errText, ErrFrame
		}
	}
}

func resultField(key []byte) uint16 { return objField(key) &^ objService }

// statusOf returns the Status spelled b, without allocating for the known ones.
func statusOf(b []byte) protocol.Status {
	for _, st := range [...]protocol.Status{
		protocol.StatusDelivered, protocol.StatusAcked, protocol.StatusOffline,
		protocol.StatusQueued, protocol.StatusRejected, protocol.StatusTimeout,
	} {
		if string(b) == string(st) {
			return st
		}
	}
	return protocol.Status(b)
}
