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
