package plainjson

import (
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting that Raw reads; a deeper value is refused.
// encoding/json's own bound is 10,000.
const MaxDepth = 64

// Reader reads one JSON text from its start, value by value, as its caller
// expects them. Every method skips the whitespace before what it reads. Once
// a method has reported false the Reader is not to be used again: the caller
// gives the text to encoding/json instead.
type Reader struct {
	b []byte
	i int
}

// New returns a Reader of b. The byte slices it returns are parts of b.
func New(b []byte) Reader { return Reader{b: b} }

// space skips JSON whitespace.
func (r *Reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\r', '\n':
			r.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the byte there, 0 at the end.
func (r *Reader) next() byte {
	r.space()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// End reports whether nothing but whitespace is left.
func (r *Reader) End() bool {
	r.space()
	return r.i == len(r.b)
}

// Object reads an object, calling member with each member's name in order;
// member reads the member's value with the Reader's methods and returns false
// to refuse the object. Object reports false when the next value is not an
// object, a name is not a plain string, or member refused.
//
// Object and Array each have the loop of a list of their own: one shared
// list, with the reading of a member's name in a closure, made a record's
// decoding 5 to 8 % slower (BenchmarkDecodeRecords).
func (r *Reader) Object(member func(name []byte) bool) bool {
	if r.next() != '{' {
		return false
	}
	r.i++
	if r.next() == '}' {
		r.i++
		return true
	}
	for {
		name, ok := r.String()
		if !ok || r.next() != ':' {
			return false
		}
		r.i++
		if !member(name) {
			return false
		}
		switch r.next() {
		case ',':
			r.i++
		case '}':
			r.i++
			return true
		default:
			return false
		}
	}
}

// Array reads an array, calling elem for each element in order; elem reads
// the element with the Reader's methods and returns false to refuse the
// array. Array reports false when the next value is not an array or elem
// refused.
func (r *Reader) Array(elem func() bool) bool {
	if r.next() != '[' {
		return false
	}
	r.i++
	if r.next() == ']' {
		r.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch r.next() {
		case ',':
			r.i++
		case ']':
			r.i++
			return true
		default:
			return false
		}
	}
}

// String reads a plain string and returns its bytes without the quotes: it
// reports false for anything else, a string with an escape, a control
// character or invalid UTF-8 included.
func (r *Reader) String() ([]byte, bool) {
	if r.next() != '"' {
		return nil, false
	}
	ascii := true
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			s := r.b[r.i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			r.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// Int reads an integer, -?(0|[1-9][0-9]*), that fits in bits bits; it
// reports false for any other value, a number with a fraction or an exponent
// included.
func (r *Reader) Int(bits int) (int64, bool) {
	c := r.next()
	if c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	start, j := r.i, r.i
	if c == '-' {
		j++
	}
	first := j
	j = digits(r.b, j)
	if j == first || r.b[first] == '0' && j-first > 1 {
		return 0, false
	}
	if j < len(r.b) && (r.b[j] == '.' || r.b[j] == 'e' || r.b[j] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r.b[start:j]), 10, bits)
	if err != nil {
		return 0, false
	}
	r.i = j
	return n, true
}

// Bool reads true or false.
func (r *Reader) Bool() (v, ok bool) {
	switch {
	case r.literal("true"):
		return true, true
	case r.literal("false"):
		return false, true
	}
	return false, false
}

// Null reads null if it is the next value and reports whether it was.
func (r *Reader) Null() bool { return r.literal("null") }

// literal reads lit if it comes next.
func (r *Reader) literal(lit string) bool {
	r.space()
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		return false
	}
	r.i += len(lit)
	return true
}

// Raw reads any JSON value, checked as encoding/json checks it, and returns
// its text as it stands: an object or an array of at most MaxDepth levels,
// a string (its escapes checked, its quotes included), a number, true, false
// or null. Its strings must be valid UTF-8.
func (r *Reader) Raw() ([]byte, bool) {
	r.space()
	start := r.i
	if !r.value(0) {
		return nil, false
	}
	return r.b[start:r.i], true
}

// Text calls read, which reads one value with the Reader's methods, and
// returns that value's text as it stands, without the whitespace around it:
// the part of the text a caller decodes and must also keep whole (what an
// idempotency key is bound to, say). It reports false when read does.
func (r *Reader) Text(read func() bool) ([]byte, bool) {
	r.space()
	start := r.i
	if !read() {
		return nil, false
	}
	return r.b[start:r.i], true
}

// value reads one value at nesting depth.
func (r *Reader) value(depth int) bool {
	switch c := r.next(); {
	case c == '{':
		if depth == MaxDepth {
			return false
		}
		return r.Object(func([]byte) bool { return r.value(depth + 1) })
	case c == '[':
		if depth == MaxDepth {
			return false
		}
		return r.Array(func() bool { return r.value(depth + 1) })
	case c == '"':
		return r.escapedString()
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	default:
		return r.literal("true") || r.literal("false") || r.literal("null")
	}
}

// escapedString reads a string whose escapes are valid JSON; r.b[r.i] is
// its quote.
func (r *Reader) escapedString() bool {
	ascii := true
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(r.b[start:j]) {
				return false
			}
			r.i = j + 1
			return true
		case c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			j++
			if j >= len(r.b) {
				return false
			}
			switch r.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(r.b) {
					return false
				}
				for _, h := range r.b[j+1 : j+5] {
					if !isHex(h) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (r *Reader) number() bool {
	j := r.i
	if r.b[j] == '-' {
		j++
	}
	switch {
	case j < len(r.b) && r.b[j] == '0':
		j++
	case j < len(r.b) && r.b[j] >= '1' && r.b[j] <= '9':
		j = digits(r.b, j)
	default:
		return false
	}
	if j < len(r.b) && r.b[j] == '.' {
		k := digits(r.b, j+1)
		if k == j+1 {
			return false
		}
		j = k
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		k := digits(r.b, j)
		if k == j {
			return false
		}
		j = k
	}
	r.i = j
	return true
}

// digits returns the index past the digits of b from i.
func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// Seen is the set of an object's members read so far, by index (0 to 63),
// for a reader that refuses a member given twice, where encoding/json keeps
// the last.
type Seen uint64

// First marks member i as read and reports whether it had not been.
func (s *Seen) First(i uint) bool {
	if *s&(1<<i) != 0 {
		return false
	}
	*s |= 1 << i
	return true
}
