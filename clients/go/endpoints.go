package herald

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// DefaultFallbackRetry is how long the client stays on a fallback endpoint
// before it checks whether the preferred one (Config.URL) is back, as Ably's
// fallbackRetryTimeout does.
const DefaultFallbackRetry = 10 * time.Minute

// probeTimeout bounds the check of whether the preferred endpoint is back.
const probeTimeout = 10 * time.Second

// endpoint is one edge (or region) the client may dial.
type endpoint struct {
	base    string // as configured: Config.URL or an entry of Config.FallbackURLs
	connect string // the ws(s) URL of its device endpoint
}

// parseEndpoints validates the configured URL and fallbacks and returns them
// in order of preference: the preferred endpoint first.
func parseEndpoints(preferred string, fallbacks []string) ([]endpoint, error) {
	if preferred == "" {
		return nil, errors.New("herald: Config.URL is required")
	}
	eps := make([]endpoint, 0, 1+len(fallbacks))
	seen := make(map[string]string, 1+len(fallbacks)) // connect URL -> the option that named it
	for i, raw := range append([]string{preferred}, fallbacks...) {
		field := "Config.URL"
		if i > 0 {
			field = fmt.Sprintf("Config.FallbackURLs[%d]", i-1)
		}
		u, err := connectURL(field, raw)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[u]; ok {
			return nil, fmt.Errorf("herald: %s %q is the same endpoint as %s", field, raw, prev)
		}
		seen[u] = field
		eps = append(eps, endpoint{base: raw, connect: u})
	}
	return eps, nil
}

// connectURL turns a configured base URL into the device endpoint's URL;
// field names the option in errors.
func connectURL(field, raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("herald: %s is empty", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("herald: %s: %w", field, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("herald: %s %q: scheme must be ws, wss, http or https", field, raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("herald: %s %q has no host", field, raw)
	}
	if !strings.HasSuffix(u.Path, connectPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + connectPath
		u.RawPath = ""
	}
	return u.String(), nil
}

// stage is how far a connection attempt got before it ended.
type stage int

const (
	stageToken     stage = iota // TokenFunc failed: no endpoint was dialed
	stageDial                   // the dial or the wait for the welcome failed
	stageConnected              // the connection received its welcome, then ended
)

// nextEndpoint is the endpoint policy: given the index cur of the endpoint
// of an attempt that ended at stage with err, among n endpoints (index 0
// the preferred), it returns the index of the endpoint to dial next.
//
//   - A server's reconnect frame (drain, lifetime), a TokenFunc failure and
//     a 4001 close (token expired) keep the endpoint: the edge asked for it,
//     was never dialed, or wants a fresh token.
//   - A dial the endpoint answered with an HTTP status below 500 (401, 429
//     with Retry-After, ...) keeps it: the endpoint works, and its answer is
//     about this device, which another region would not change.
//   - Any other failed dial (refused, DNS, TLS, timeout, 5xx, no welcome)
//     moves to the next endpoint, wrapping around after the last.
//   - A lost connection to the preferred endpoint tries it again first; a
//     lost connection to a fallback goes back to the preferred one.
//   - Leaving a fallback because the preferred endpoint is back goes to it.
func nextEndpoint(cur, n int, st stage, err error) int {
	var rr *reconnectRequest
	var he *handshakeError
	switch {
	case errors.Is(err, errPreferredBack):
		return 0
	case errors.As(err, &rr), st == stageToken:
		return cur
	case st == stageConnected && websocket.CloseStatus(err) == closeTokenExpired:
		return cur // not the endpoint's failure: the next token is
	case st == stageConnected:
		return 0
	case errors.As(err, &he) && he.status < 500:
		return cur
	}
	return (cur + 1) % n
}

// errPreferredBack ends a connection to a fallback endpoint once the
// preferred endpoint answers again after Config.FallbackRetry.
var errPreferredBack = errors.New("herald: the preferred endpoint answers again")

// acksURL returns the HTTP URL of the POST /v1/acks endpoint beside a
// connect URL.
func acksURL(connect string) string {
	u, err := url.Parse(connect) // checked by connectURL in New
	if err != nil {
		return connect
	}
	if u.Scheme == "wss" {
		u.Scheme = "https"
	} else {
		u.Scheme = "http"
	}
	u.Path = strings.TrimSuffix(u.Path, connectPath) + "/v1/acks"
	u.RawPath = ""
	u.RawQuery = ""
	return u.String()
}

// probe reports whether the edge at ep answers HTTP: a POST /v1/acks with no
// ids and no token, which an edge refuses (401) without side effects. Any
// answer below 500 means the edge is up; an error or a 5xx, that it is not.
// The same check decides in the JavaScript SDK.
func (c *Client) probe(ctx context.Context, ep endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, acksURL(ep.connect), strings.NewReader(`{"ids":[]}`))
	if err != nil {
		return fmt.Errorf("herald: probe %s: %w", ep.base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // one probe per FallbackRetry: no idle connection to keep
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("herald: probe %s: %w", ep.base, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("herald: probe %s: HTTP %d", ep.base, resp.StatusCode)
	}
	return nil
}
