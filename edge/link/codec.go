package link

import (
	"errors"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/heraldpush/herald/protocol"
)

// The two frames sent for every delivery over a link, the msg out and the
// receipt back, are encoded and decoded here by hand: encoding/json costs a
// dozen allocations a frame in reflection, boxing and copies. The wire format is
// the JSON that encoding/json writes for Msg and protocol.Receipt (field for
// field; this encoder leaves <, > and & unescaped, as protocol's frames do), so
// edges of the same version interoperate whichever side encodes, and the frames
// stay readable. The rare frames (replace, presence) are encoded by
// encoding/json. Every frame, of every kind, is decoded by the one decoder of
// decode.go, whose rule (exact field names, "t" first, no field twice) says
// what a frame means.

// AppendMsg appends the msg frame that asks the receiving edge to deliver m
// to device of account, waiting at most waitMS for the outcome: Msg with
// To set to the one device. tp, when not empty, is the W3C traceparent of
// the sender's span (written as "tp" only while tracing is on; see
// ValidTraceparent).
func AppendMsg(dst []byte, account string, waitMS int64, device, tp string, m *protocol.Msg) ([]byte, error) {
	mm := *m
	mm.To = &protocol.Target{Device: device}
	out := append(dst, `{"t":"msg","account":`...)
	out = protocol.AppendString(out, account)
	out = append(out, `,"wait_ms":`...)
	out = strconv.AppendInt(out, waitMS, 10)
	if tp != "" {
		out = append(out, `,"tp":`...)
		out = protocol.AppendString(out, tp)
	}
	out, err := protocol.AppendMsgFields(out, &mm)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendPublish appends the publish frame of m, a message published to
// m.Topic, that the sender waits for at most waitMS. tp, when not empty, is
// the W3C traceparent of the sender's span, as AppendMsg's.
func AppendPublish(dst []byte, waitMS int64, tp string, m *protocol.Msg) ([]byte, error) {
	out := append(dst, `{"t":"publish","wait_ms":`...)
	out = strconv.AppendInt(out, waitMS, 10)
	if tp != "" {
		out = append(out, `,"tp":`...)
		out = protocol.AppendString(out, tp)
	}
	out, err := protocol.AppendMsgFields(out, m)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendPublished appends the published frame of p.
func AppendPublished(dst []byte, p *Published) []byte {
	dst = append(dst, `{"t":"published","id":`...)
	dst = protocol.AppendString(dst, p.ID)
	dst = append(dst, `,"devices":`...)
	dst = strconv.AppendInt(dst, int64(p.Devices), 10)
	dst = append(dst, `,"dropped":`...)
	dst = strconv.AppendInt(dst, int64(p.Dropped), 10)
	return append(dst, '}')
}

// AppendCount appends the count frame of c.
func AppendCount(dst []byte, c *Count) []byte {
	dst = append(dst, `{"t":"count","id":`...)
	dst = protocol.AppendString(dst, c.ID)
	dst = append(dst, `,"topic":`...)
	dst = protocol.AppendString(dst, c.Topic)
	return append(dst, '}')
}

// AppendLocate appends the locate frame of l.
func AppendLocate(dst []byte, l *Locate) []byte {
	dst = append(dst, `{"t":"locate","id":`...)
	dst = protocol.AppendString(dst, l.ID)
	dst = append(dst, `,"account":`...)
	dst = protocol.AppendString(dst, l.Account)
	dst = append(dst, `,"device":`...)
	dst = protocol.AppendString(dst, l.Device)
	return append(dst, '}')
}

// AppendHandover appends the handover frame of h.
func AppendHandover(dst []byte, h *Handover) []byte {
	dst = append(dst, `{"t":"handover","account":`...)
	dst = protocol.AppendString(dst, h.Account)
	dst = append(dst, `,"device":`...)
	dst = protocol.AppendString(dst, h.Device)
	dst = append(dst, `,"region":`...)
	dst = protocol.AppendString(dst, h.Region)
	return append(dst, '}')
}

// AppendChanged appends the changed frame of c.
func AppendChanged(dst []byte, c *Changed) []byte {
	dst = append(dst, `{"t":"changed","account":`...)
	dst = protocol.AppendString(dst, c.Account)
	if c.Removed != "" {
		dst = append(dst, `,"removed":`...)
		dst = protocol.AppendString(dst, c.Removed)
	}
	return append(dst, '}')
}

// AppendCounted appends the counted frame of c.
func AppendCounted(dst []byte, c *Counted) []byte {
	dst = append(dst, `{"t":"counted","id":`...)
	dst = protocol.AppendString(dst, c.ID)
	dst = append(dst, `,"subscribers":`...)
	dst = strconv.AppendInt(dst, int64(c.Subscribers), 10)
	return append(dst, '}')
}

// AppendReceipt appends the receipt frame with the one result r of message id.
func AppendReceipt(dst []byte, id string, r *protocol.Result) []byte {
	dst = append(dst, `{"t":"receipt","id":`...)
	dst = protocol.AppendString(dst, id)
	dst = append(dst, `,"results":[`...)
	dst = protocol.AppendResult(dst, r)
	return append(dst, "]}"...)
}

// maxPooledFrame is the largest frame buffer kept for reuse; the buffers of rare
// large messages are left to the garbage collector.
const maxPooledFrame = 64 << 10

// framePool holds the buffers of encoded link frames, each a *[]byte so that
// putting one back costs nothing. A frame goes back once the link's writer has
// copied it into its message.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// GetFrame returns an empty frame buffer from the pool, for AppendMsg or
// AppendReceipt and then Conn.SendPooled.
func GetFrame() *[]byte {
	b := framePool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// PutFrame gives b back to the pool, unless it grew too large to keep.
func PutFrame(b *[]byte) {
	if cap(*b) <= maxPooledFrame {
		framePool.Put(b)
	}
}

// ErrFrame is the error of a link frame that is not what it should be.
var ErrFrame = errors.New("edge link: malformed frame")

// maxLinkDepth bounds the nesting of values a link frame may hold (a payload's).
const maxLinkDepth = 10000

// Scanner reads the JSON of one link frame without reflection. Strings are
// unescaped into buf, which the caller reuses from frame to frame; a field's
// value is a span of buf, turned into strings only where they outlive the frame.
type Scanner struct {
	data []byte
	pos  int
	buf  []byte
	key  []byte // the key that field read last
}

// span is a string value as a range of the scanner's buf.
type span struct{ start, end int }

func (s *Scanner) reset(data []byte) {
	s.data, s.pos, s.buf = data, 0, s.buf[:0]
}

func (s *Scanner) bytes(sp span) []byte { return s.buf[sp.start:sp.end] }

// peek skips white space and returns the next byte, 0 at the end.
func (s *Scanner) peek() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *Scanner) consume(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.pos++
	return true
}

// end reports whether nothing but white space is left.
func (s *Scanner) end() bool { return s.peek() == 0 && s.pos == len(s.data) }

// field reads the '{' of an object, or the ',' or '}' after one of its fields,
// and then the next key into s.key. It returns false at the object's end.
func (s *Scanner) field(first bool) (bool, error) {
	if first {
		if !s.consume('{') {
			return false, ErrFrame
		}
		if s.consume('}') {
			return false, nil
		}
	} else if !s.consume(',') {
		if s.consume('}') {
			return false, nil
		}
		return false, ErrFrame
	}
	mark := len(s.buf)
	sp, err := s.str()
	if err != nil {
		return false, err
	}
	s.key = append(s.key[:0], s.bytes(sp)...)
	s.buf = s.buf[:mark]
	if !s.consume(':') {
		return false, ErrFrame
	}
	return true, nil
}

// null consumes a JSON null if one is next, which leaves a field as it was.
func (s *Scanner) null() bool {
	if s.peek() == 'n' && len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// str reads a string into buf, unescaped, with invalid UTF-8 and lone
// surrogates replaced by U+FFFD as encoding/json does.
func (s *Scanner) str() (span, error) {
	if !s.consume('"') {
		return span{}, ErrFrame
	}
	sp := span{start: len(s.buf)}
	for {
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			s.pos++
		}
		s.buf = append(s.buf, s.data[start:s.pos]...)
		if s.pos >= len(s.data) {
			return span{}, ErrFrame
		}
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			sp.end = len(s.buf)
			return sp, nil
		case c < 0x20:
			return span{}, ErrFrame
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			s.buf = utf8.AppendRune(s.buf, r) // RuneError for invalid UTF-8
			s.pos += size
		default: // '\\'
			if err := s.escape(); err != nil {
				return span{}, err
			}
		}
	}
}

// escape reads the escape sequence at s.pos into buf.
func (s *Scanner) escape() error {
	if s.pos+1 >= len(s.data) {
		return ErrFrame
	}
	c := s.data[s.pos+1]
	s.pos += 2
	switch c {
	case '"', '\\', '/':
		s.buf = append(s.buf, c)
	case 'b':
		s.buf = append(s.buf, '\b')
	case 'f':
		s.buf = append(s.buf, '\f')
	case 'n':
		s.buf = append(s.buf, '\n')
	case 'r':
		s.buf = append(s.buf, '\r')
	case 't':
		s.buf = append(s.buf, '\t')
	case 'u':
		r, ok := s.hex4()
		if !ok {
			return ErrFrame
		}
		if utf16.IsSurrogate(r) {
			r2 := utf8.RuneError
			if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
				save := s.pos
				s.pos += 2
				if lo, ok := s.hex4(); ok {
					if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
						r2 = d
					} else {
						s.pos = save // not a pair: the second escape stands alone
					}
				} else {
					return ErrFrame
				}
			}
			r = r2
		}
		s.buf = utf8.AppendRune(s.buf, r)
	default:
		return ErrFrame
	}
	return nil
}

func (s *Scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// number reads a JSON number and returns its text.
func (s *Scanner) number() ([]byte, error) {
	s.peek()
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.pos < len(s.data) && '1' <= s.data[s.pos] && s.data[s.pos] <= '9':
		s.digits()
	default:
		return nil, ErrFrame
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return nil, ErrFrame
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return nil, ErrFrame
		}
	}
	return s.data[start:s.pos], nil
}

func (s *Scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// int reads an integer that fits in bits, refusing fractions and exponents as
// encoding/json does for an integer field.
func (s *Scanner) int(bits int) (int64, error) {
	text, err := s.number()
	if err != nil {
		return 0, err
	}
	neg := text[0] == '-'
	if neg {
		text = text[1:]
	}
	limit := uint64(1) << (bits - 1)
	var n uint64
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, ErrFrame
		}
		n = n*10 + uint64(c-'0')
		if n > limit {
			return 0, ErrFrame
		}
	}
	if neg {
		return -int64(n), nil
	}
	if n == limit {
		return 0, ErrFrame
	}
	return int64(n), nil
}

// bool reads true or false.
func (s *Scanner) bool() (bool, error) {
	if s.peek(); len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "true" {
		s.pos += 4
		return true, nil
	}
	if len(s.data)-s.pos >= 5 && string(s.data[s.pos:s.pos+5]) == "false" {
		s.pos += 5
		return false, nil
	}
	return false, ErrFrame
}

// skip reads any value, checking its syntax, and returns its raw text.
func (s *Scanner) skip() ([]byte, error) {
	s.peek()
	start := s.pos
	mark := len(s.buf)
	defer func() { s.buf = s.buf[:mark] }()
	var small [32]byte
	open := small[:0] // the containers open, innermost last
	for {
		// A value, or the start of a container.
		switch c := s.peek(); c {
		case '{', '[':
			if len(open) >= maxLinkDepth {
				return nil, ErrFrame
			}
			s.pos++
			if s.consume(c + 2) { // '}' or ']': an empty container is a whole value
				break
			}
			open = append(open, c)
			if c == '{' {
				if err := s.skipKey(); err != nil {
					return nil, err
				}
			}
			continue
		case '"':
			if _, err := s.str(); err != nil {
				return nil, err
			}
		case 't', 'f':
			if _, err := s.bool(); err != nil {
				return nil, err
			}
		case 'n':
			if !s.null() {
				return nil, ErrFrame
			}
		default:
			if _, err := s.number(); err != nil {
				return nil, err
			}
		}
		// After a whole value: the next element, or the end of containers.
		for {
			if len(open) == 0 {
				return s.data[start:s.pos], nil
			}
			top := open[len(open)-1]
			if s.consume(',') {
				if top == '{' {
					if err := s.skipKey(); err != nil {
						return nil, err
					}
				}
				break
			}
			if !s.consume(top + 2) {
				return nil, ErrFrame
			}
			open = open[:len(open)-1]
		}
	}
}

// skipKey reads an object's key and its colon, discarding the key.
func (s *Scanner) skipKey() error {
	if _, err := s.str(); err != nil {
		return err
	}
	if !s.consume(':') {
		return ErrFrame
	}
	return nil
}
