package bench

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadRawResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		body   string
		keep   bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", true},
		{"chunked", "HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", 202, "hello", true},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", 503, "no", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "", false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nrest", 200, "rest", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, keep, err := readRawResponse(bufio.NewReader(strings.NewReader(tt.in)))
			if err != nil || status != tt.status || string(body) != tt.body || keep != tt.keep {
				t.Errorf("got %d %q keep %v, %v; want %d %q keep %v", status, body, keep, err, tt.status, tt.body, tt.keep)
			}
		})
	}
	for _, bad := range []string{"", "SPDY/3 200 OK\r\n\r\n", "HTTP/1.1 2xx OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"} {
		if _, _, _, err := readRawResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
