package herald

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

// Errors callers branch on. The final ones (ErrReplaced, ErrUnauthorized,
// ErrForbidden) end Run; the table in the package documentation says which
// disconnects are final and which reconnect.
var (
	// ErrNotConnected is returned by Send, SendAndWait, Ack and Hello while
	// there is no connection with a welcome, and to Send and SendAndWait
	// callers whose connection dropped before the receipt they wait for
	// arrived. The message may or may not have reached the server: retrying
	// it with the same id (WithID) lets receivers drop the duplicate.
	ErrNotConnected = errors.New("herald: not connected")

	// ErrClosed is returned by Send, Ack and Hello once Run has returned, and by
	// a second call of Run: a Client connects for one Run only.
	ErrClosed = errors.New("herald: client closed")

	// ErrReplaced ends Run when the server closed the connection with 4000:
	// another connection of the same device took over, and reconnecting would
	// only take it back.
	ErrReplaced = errors.New("herald: replaced by a newer connection of this device")

	// ErrRemoved ends Run when the server closed the connection with 4003: the
	// device was removed from its account's device list.
	ErrRemoved = errors.New("herald: device removed from its account")

	// ErrUnauthorized ends Run when the server answered the handshake with HTTP
	// 401 and there is no Config.TokenFunc that could provide another token.
	// A TokenFunc may also return it (wrapped) to end Run.
	ErrUnauthorized = errors.New("herald: unauthorized")

	// ErrTokenExpired ends Run when the server closed the connection with 4001
	// (the device token expired) and there is no Config.TokenFunc that could
	// provide a fresh token: reconnecting with the same token would be refused.
	ErrTokenExpired = errors.New("herald: device token expired and Config.TokenFunc is not set to fetch a fresh one")

	// ErrForbidden ends Run when the server answered the handshake with HTTP
	// 403 (for example an Origin that is not allowed). A TokenFunc may also
	// return it (wrapped) to end Run.
	ErrForbidden = errors.New("herald: forbidden")
)

// Close codes of PROTOCOL.md that the client treats specially.
const (
	closeReplaced     websocket.StatusCode = 4000
	closeTokenExpired websocket.StatusCode = 4001
	closeRemoved      websocket.StatusCode = 4003
)

// ServerError is an error frame that answered a frame this client sent, such
// as a msg that failed schema validation. It never means the connection is
// gone.
type ServerError struct {
	Frame *protocol.Error
}

// Error implements error as "herald: CODE: MESSAGE".
func (e *ServerError) Error() string {
	if e.Frame.Message == "" {
		return fmt.Sprintf("herald: %s", e.Frame.Code)
	}
	return fmt.Sprintf("herald: %s: %s", e.Frame.Code, e.Frame.Message)
}

// handshakeError is a dial that the server answered with an HTTP status
// other than 101.
type handshakeError struct {
	status     int
	retryAfter time.Duration // the answer's Retry-After, 0 without one
	err        error
}

// maxRetryAfter bounds the wait a server's Retry-After may impose.
const maxRetryAfter = time.Hour

// retryAfter reads a Retry-After header in seconds (the edge's 429 for a device
// in policy backoff, its 503 over the connect rate); 0 when absent or not a
// number of seconds.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// serverWait is the wait err's handshake answer asked for, 0 when none.
func serverWait(err error) time.Duration {
	var he *handshakeError
	if errors.As(err, &he) {
		return he.retryAfter
	}
	return 0
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("herald: handshake: HTTP %d: %v", e.status, e.err)
}

func (e *handshakeError) Unwrap() error { return e.err }

// reconnectRequest is how a connection ends after a reconnect frame: the
// client closed the socket itself and waits after plus jitter.
type reconnectRequest struct {
	after  time.Duration
	reason string
}

func (r *reconnectRequest) Error() string {
	return fmt.Sprintf("herald: server asked to reconnect after %v (%s)", r.after, r.reason)
}

// action is what Run does after a dial failed or a connection ended.
type action int

const (
	actBackoff   action = iota // wait the next backoff delay, then reconnect
	actNow                     // reconnect without waiting
	actScheduled               // reconnect after the server's after_ms plus jitter
	actFinal                   // Run returns the error
)

// classify maps how a dial or a connection ended to what happens next. It is
// the one place that implements the table in doc.go; hasTokenFunc says whether
// a fresh token may fix an HTTP 401 or a 4001 close.
func classify(err error, hasTokenFunc bool) (action, error) {
	var rr *reconnectRequest
	if errors.As(err, &rr) {
		return actScheduled, nil
	}
	if errors.Is(err, errPreferredBack) {
		return actNow, nil // the client left a fallback for the preferred endpoint
	}
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
		return actFinal, err // from TokenFunc
	}
	var he *handshakeError
	if errors.As(err, &he) {
		switch he.status {
		case http.StatusUnauthorized:
			if hasTokenFunc {
				return actBackoff, nil
			}
			return actFinal, fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case http.StatusForbidden:
			return actFinal, fmt.Errorf("%w: %w", ErrForbidden, err)
		}
		return actBackoff, nil
	}
	switch websocket.CloseStatus(err) {
	case closeReplaced:
		return actFinal, fmt.Errorf("%w: %w", ErrReplaced, err)
	case closeRemoved:
		return actFinal, fmt.Errorf("%w: %w", ErrRemoved, err)
	case closeTokenExpired:
		if hasTokenFunc {
			return actNow, nil
		}
		return actFinal, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	}
	// 1000, 1001, 1006, 1008, 1009, 1011, 4002, other codes, network errors,
	// a missing welcome, a failing TokenFunc.
	return actBackoff, nil
}
