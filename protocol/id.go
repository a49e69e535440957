package protocol

import "github.com/oklog/ulid/v2"

// NewID returns a new time-ordered message id (a ULID).
func NewID() string { return ulid.Make().String() }

// Limits of the ids a client chooses. docs/protocol.md ("Ids") states the same
// rules; every process checks them where an id enters, before it reaches another
// device, a log line, a store or a query.
const (
	// MaxIDLen is the longest account or device id, in bytes.
	MaxIDLen = 128
	// MaxMsgIDLen is the longest message id, in bytes.
	MaxMsgIDLen = 128
)

// ValidID reports whether s is a valid account or device id: 1 to MaxIDLen
// bytes of A-Z a-z 0-9 . _ : @ -.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidMsgID reports whether s is a valid message id: 1 to MaxMsgIDLen bytes of
// printable ASCII without spaces (0x21 to 0x7E). Ids travel into SSE "id:"
// lines, logs and receipts, so no control character, space or non-ASCII byte
// may appear in one.
func ValidMsgID(s string) bool {
	if len(s) == 0 || len(s) > MaxMsgIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// IDProblem says why s is not a valid account or device id, "" when it is one.
// The text never quotes s.
func IDProblem(s string) string {
	switch {
	case ValidID(s):
		return ""
	case s == "":
		return "empty"
	case len(s) > MaxIDLen:
		return "longer than 128 bytes"
	}
	return "has characters other than A-Z a-z 0-9 . _ : @ -"
}
