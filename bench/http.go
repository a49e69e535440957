package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// rawPoster makes the bench's REST calls over one HTTP/1.1 keep-alive
// connection, writing the request and reading the answer on the caller's
// goroutine. net/http's client hands every request to a writer and a reader
// goroutine of its connection; on a 2-core machine that the bench shares with
// the server, those hand-offs are a large part of the bench's own CPU per
// message. Each sender goroutine owns one rawPoster; it is not safe for
// concurrent use. Only http:// URLs: https goes through net/http.
type rawPoster struct {
	addr, host string // dial address, Host header
	auth       string // "Bearer <key>"
	dialer     *net.Dialer
	timeout    time.Duration // bound on one call

	c   net.Conn
	br  *bufio.Reader
	req []byte // the request being written, reused
}

func newRawPoster(base, key string, timeout time.Duration) (*rawPoster, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("bench: %q is not an http:// URL", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawPoster{addr: addr, host: u.Host, auth: "Bearer " + key, dialer: dialer(""), timeout: timeout}, nil
}

// post sends body to path and returns the answer's status and body. A call
// that fails on a kept-alive connection is retried once on a new one, as
// net/http does for a connection the server closed while idle.
func (p *rawPoster) post(ctx context.Context, path string, body []byte, idemKey string) (int, []byte, error) {
	fresh := p.c == nil
	status, b, err := p.try(ctx, path, body, idemKey)
	if err != nil && !fresh && ctx.Err() == nil {
		status, b, err = p.try(ctx, path, body, idemKey)
	}
	return status, b, err
}

func (p *rawPoster) try(ctx context.Context, path string, body []byte, idemKey string) (int, []byte, error) {
	if p.c == nil {
		c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return 0, nil, err
		}
		p.c, p.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	deadline := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = p.c.SetDeadline(deadline)
	r := append(p.req[:0], "POST "...)
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, p.host...)
	r = append(r, "\r\nAuthorization: "...)
	r = append(r, p.auth...)
	if idemKey != "" {
		r = append(r, "\r\nIdempotency-Key: "...)
		r = append(r, idemKey...)
	}
	r = append(r, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	r = append(r, "\r\n\r\n"...)
	r = append(r, body...)
	p.req = r
	if _, err := p.c.Write(r); err != nil {
		p.close()
		return 0, nil, err
	}
	status, b, keep, err := readRawResponse(p.br)
	if err != nil || !keep {
		p.close()
	}
	return status, b, err
}

// close drops the connection; the next call dials a new one.
func (p *rawPoster) close() {
	if p.c != nil {
		_ = p.c.Close()
		p.c, p.br = nil, nil
	}
}

// readRawResponse reads one HTTP/1.1 response: its status, its body (by
// Content-Length or chunked) and whether the connection may be reused.
func readRawResponse(br *bufio.Reader) (status int, body []byte, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("bench: bad status line %.60q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("bench: bad status line %.60q", line)
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("bench: bad Content-Length %q", value)
			}
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		body, err = readChunked(br)
	case length >= 0:
		if length > 64<<20 {
			return 0, nil, false, errors.New("bench: answer too large")
		}
		body = make([]byte, length)
		_, err = io.ReadFull(br, body)
	default: // the body runs to the end of the connection
		body, err = io.ReadAll(io.LimitReader(br, 64<<20))
		keep = false
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, body, keep, nil
}

// readChunked reads a chunked body and its (empty) trailer.
func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || n < 0 || len(body)+int(n) > 64<<20 {
			return nil, fmt.Errorf("bench: bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailer
				t, err := readLine(br)
				if err != nil {
					return nil, err
				}
				if len(t) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, err
		}
		if l, err := readLine(br); err != nil || len(l) != 0 {
			return nil, errors.New("bench: bad chunk end")
		}
	}
}

// readLine reads one CRLF-terminated line, without the CRLF. The line is only
// valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
