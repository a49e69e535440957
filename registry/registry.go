package registry

import (
	"errors"
	"time"
)

// Entry is a device's registration: which edge holds its connection, under which
// session, since when.
type Entry struct {
	Edge    string    `json:"edge"`
	Session string    `json:"session"`
	Since   time.Time `json:"since"`
}

// ErrNotFound means the device has no live registration: it is offline.
var ErrNotFound = errors.New("registry: device not registered")

// ErrUnavailable means the registry could not be reached; callers report the
// protocol code "unavailable" and never treat it as offline.
var ErrUnavailable = errors.New("registry: unavailable")

// ErrInvalid means a topic name or an edge id cannot be kept in the topic
// directory; the error says why without quoting the name. Callers validate
// topic names with protocol.ValidTopic first, so it marks a bug, not a
// failure to retry.
var ErrInvalid = errors.New("registry: invalid topic or edge id")
