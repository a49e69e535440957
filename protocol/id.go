package protocol

import "github.com/oklog/ulid/v2"

// NewID returns a new time-ordered message id (a ULID).
func NewID() string { return ulid.Make().String() }
