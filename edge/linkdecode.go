package edge

import (
	"strconv"
	"unsafe"

	"github.com/heraldpush/herald/protocol"
)

// inMsg is a decoded msg frame of a link: the message for Device of Account,
// with the time the sending edge waits for the outcome.
type inMsg struct {
	Account string
	Device  string
	WaitMS  int64
	Msg     protocol.Msg
	from    protocol.Sender // Msg.From points here when the frame has one
}

// decodeLinkMsg decodes data, a msg frame of a link, into in. It allocates what
// the message keeps: one string that holds all its strings, the payload, and
// nothing else. Fields it does not know are skipped, and "to" yields only its
// "device", as with encoding/json into linkMsg. A frame that is not a msg for
// one device with an id gives an error.
func (s *linkScanner) decodeLinkMsg(data []byte, in *inMsg) error {
	s.reset(data)
	*in = inMsg{}
	var t, account, id, typ, fromDev, fromSvc, toDev span
	var haveFrom bool
	var payload []byte
	for first := true; ; first = false {
		more, err := s.field(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if string(s.key) != "payload" && s.null() { // a null payload stays "null"
			if string(s.key) == "from" {
				haveFrom = false
			}
			continue
		}
		switch string(s.key) {
		case "t":
			t, err = s.str()
		case "account":
			account, err = s.str()
		case "wait_ms":
			in.WaitMS, err = s.int(64)
		case "id":
			id, err = s.str()
		case "type":
			typ, err = s.str()
		case "from":
			haveFrom = true
			fromDev, fromSvc, err = s.sender()
		case "to":
			toDev, err = s.target()
		case "ts":
			in.Msg.TS, err = s.int(64)
		case "ttl":
			var n int64
			n, err = s.int(strconv.IntSize)
			in.Msg.TTL = int(n)
		case "ack":
			in.Msg.Ack, err = s.bool()
		case "payload":
			payload, err = s.skip()
		default:
			_, err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	if !s.end() || string(s.bytes(t)) != string(protocol.KindMsg) || toDev.end == toDev.start || id.end == id.start {
		return errLinkFrame
	}
	all := string(s.buf)
	str := func(sp span) string { return all[sp.start:sp.end] }
	in.Account, in.Device = str(account), str(toDev)
	in.Msg.ID, in.Msg.Type = str(id), str(typ)
	if haveFrom {
		in.from = protocol.Sender{Device: str(fromDev), Service: str(fromSvc)}
		in.Msg.From = &in.from
	}
	if payload != nil {
		in.Msg.Payload = append([]byte(nil), payload...)
	}
	return nil
}

// object reads an object, calling set for each field whose value is not null
// with the field's key in s.key; set reads the value. A null leaves a field as
// it was.
func (s *linkScanner) object(set func() error) error {
	for first := true; ; first = false {
		more, err := s.field(first)
		if err != nil || !more {
			return err
		}
		if s.null() {
			continue
		}
		if err := set(); err != nil {
			return err
		}
	}
}

// sender reads a "from" object.
func (s *linkScanner) sender() (device, service span, err error) {
	err = s.object(func() (err error) {
		switch string(s.key) {
		case "device":
			device, err = s.str()
		case "service":
			service, err = s.str()
		default:
			_, err = s.skip()
		}
		return err
	})
	return device, service, err
}

// target reads a "to" object for its device; the link never carries the other
// kinds of target.
func (s *linkScanner) target() (device span, err error) {
	err = s.object(func() (err error) {
		if string(s.key) == "device" {
			device, err = s.str()
		} else {
			_, err = s.skip()
		}
		return err
	})
	return device, err
}

// linkResult is a decoded receipt of a link: the outcome of message id for one
// device. ID and Device are valid until the scanner reads the next frame.
type linkResult struct {
	ID, Device []byte
	Result     protocol.Result // without Device
}

// decodeLinkReceipt decodes data, a receipt frame of a link with exactly one
// result. Only an error message, which is rare, is allocated.
func (s *linkScanner) decodeLinkReceipt(data []byte, out *linkResult) error {
	s.reset(data)
	*out = linkResult{}
	var id, device, status, errText span
	var n int
	err := s.object(func() (err error) {
		switch string(s.key) {
		case "id":
			id, err = s.str()
		case "results":
			n, device, status, errText, err = s.results()
		default:
			_, err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.end() || n != 1 {
		return errLinkFrame
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
func (s *linkScanner) results() (n int, device, status, errText span, err error) {
	if !s.consume('[') {
		return 0, device, status, errText, errLinkFrame
	}
	if s.consume(']') {
		return 0, device, status, errText, nil
	}
	for {
		n++
		device, status, errText = span{}, span{}, span{}
		err = s.object(func() (err error) {
			switch string(s.key) {
			case "device":
				device, err = s.str()
			case "status":
				status, err = s.str()
			case "error":
				errText, err = s.str()
			default:
				_, err = s.skip()
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
			return n, device, status, errText, errLinkFrame
		}
	}
}

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

// bytesString returns b as a string without copying, for a map lookup that
// keeps nothing; b must not change while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
