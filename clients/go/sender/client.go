package sender

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Defaults of Config.
const (
	DefaultMaxRetries  = 3
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultMaxResponse = 8 << 20
)

// Config configures a Client.
type Config struct {
	// URL is the base URL of Herald's REST API (http:// or https://).
	// Required.
	URL string
	// APIKey is the API key's secret, sent as a bearer token. Required.
	APIKey string
	// HTTPClient makes the requests; nil uses one with its own transport, so
	// that connections are reused across calls.
	HTTPClient *http.Client
	// MaxRetries bounds the retries of one call (0: DefaultMaxRetries; a
	// negative value: none).
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait before a retry: doubling from
	// MinBackoff, at most MaxBackoff, with full jitter. Defaults
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxResponse bounds the body of an answer read; default
	// DefaultMaxResponse.
	MaxResponse int64
}

// Client calls Herald's REST API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("sender: Config.URL must be an http:// or https:// URL with a host")
	}
	if cfg.APIKey == "" {
		return nil, errors.New("sender: Config.APIKey is required")
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, errors.New("sender: Config.MaxBackoff must not be below MinBackoff")
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = DefaultMaxResponse
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	return &Client{cfg: cfg, base: base, hc: hc}, nil
}

// Close releases the idle connections of the Client's own transport.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Problem is an error the API answered (problem+json, RFC 9457): its code
// (protocol.CodeUnavailable and the others), HTTP status, detail, and the
// offending parts of the request when it names them.
type Problem struct {
	protocol.Problem
	// RetryAfter is the server's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
}

// Error says what the API answered.
func (p *Problem) Error() string {
	s := fmt.Sprintf("herald: %d %s (%s)", p.Status, p.Title, p.Code)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, d := range p.Details {
		s += fmt.Sprintf("; %s: %s", d.Pointer, d.Message)
	}
	return s
}

// retryPolicy says which failures of a call may be retried.
type retryPolicy int

const (
	// retryIfIdle: only what the server said it did not do (429, or 503
	// with Retry-After).
	retryIfIdle retryPolicy = iota
	// retryIdempotent: also failed connections, 5xx and 409, for calls that
	// the server carries out once whatever the repeats (GETs, and sends with
	// an Idempotency-Key).
	retryIdempotent
)

// call makes one API call with retries: method on path with body (nil for
// none) JSON-encoded, the answer decoded into out (nil: ignored) when its
// status is one of want.
func (c *Client) call(ctx context.Context, method, path string, header http.Header, body, out any, want []int, policy retryPolicy) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("sender: encoding the request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		retry, wait, err := c.once(ctx, method, path, header, payload, out, want, policy)
		if err == nil || !retry || attempt >= c.cfg.MaxRetries {
			return err
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (the last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff is the wait before retry n (from 0): full jitter over a doubling
// bound.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 0; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// once makes one attempt and says whether its failure may be retried, after
// how long (0: the Client's backoff).
func (c *Client) once(ctx context.Context, method, path string, header http.Header, payload []byte, out any, want []int, policy retryPolicy) (retry bool, wait time.Duration, err error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return false, 0, fmt.Errorf("sender: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, ctx.Err()
		}
		return policy == retryIdempotent, 0, fmt.Errorf("sender: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponse+1))
	if err != nil {
		return policy == retryIdempotent, 0, fmt.Errorf("sender: reading the answer to %s %s: %w", method, path, err)
	}
	if int64(len(data)) > c.cfg.MaxResponse {
		return false, 0, fmt.Errorf("sender: the answer to %s %s is over %d bytes", method, path, c.cfg.MaxResponse)
	}
	if slices.Contains(want, resp.StatusCode) {
		if out == nil || len(data) == 0 {
			return false, 0, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return false, 0, fmt.Errorf("sender: decoding the answer to %s %s: %w", method, path, err)
		}
		return false, 0, nil
	}
	p := problemOf(resp, data)
	wait = min(p.RetryAfter, 4*c.cfg.MaxBackoff)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, wait, p
	case resp.StatusCode == http.StatusServiceUnavailable && p.RetryAfter > 0:
		return true, wait, p
	case policy == retryIdempotent && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusConflict):
		return true, wait, p
	}
	return false, 0, p
}

// problemOf reads the problem+json body of a failed answer, or makes one of
// its status when the body is none (a proxy's page, say).
func problemOf(resp *http.Response, data []byte) *Problem {
	p := &Problem{}
	if err := json.Unmarshal(data, &p.Problem); err != nil || p.Code == "" {
		p.Problem = protocol.Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Code: codeOf(resp.StatusCode)}
	}
	p.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		p.RetryAfter = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		p.RetryAfter = max(time.Until(t), 0)
	}
	return p
}

// codeOf is the error code of an HTTP status, for answers without a
// problem body.
func codeOf(status int) protocol.Code {
	switch {
	case status == http.StatusUnauthorized:
		return protocol.CodeUnauthorized
	case status == http.StatusForbidden:
		return protocol.CodeForbidden
	case status == http.StatusNotFound:
		return protocol.CodeNotFound
	case status == http.StatusConflict:
		return protocol.CodeConflict
	case status == http.StatusTooManyRequests:
		return protocol.CodeRateLimited
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return protocol.CodeUnavailable
	case status >= 500:
		return protocol.CodeInternal
	}
	return protocol.CodeBadRequest
}

// newKey returns a fresh Idempotency-Key: 128 random bits in hex.
func newKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
