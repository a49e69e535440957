package tlsreload

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// mustPair returns a PEM certificate with the given serial number, valid until
// notAfter, and its key, issued by a test CA.
func mustPair(tb testing.TB, serial int64, notAfter time.Time) (certPEM, keyPEM []byte) {
	tb.Helper()
	return testenv.NewCA(tb).IssueUntil(tb, serial, notAfter)
}

// logBuffer is a log destination that tests read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// served returns the serial number of the certificate r serves now.
func served(tb testing.TB, r *Reloader) int64 {
	tb.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c == nil || c.Leaf == nil {
		tb.Fatalf("GetCertificate: %v, %v", c, err)
	}
	return c.Leaf.SerialNumber.Int64()
}

// TestReload replaces the files of a reloader serving certificate 1 and checks
// which certificate it serves after a handshake past the interval, and after
// Reload.
func TestReload(t *testing.T) {
	valid := time.Now().Add(24 * time.Hour)
	tests := []struct {
		name      string
		replace   func(t *testing.T, certFile, keyFile string)
		want      int64 // served after the interval
		failedLog int   // "not reloaded" lines after several handshakes and Reload
	}{
		{
			name:    "unchanged files",
			replace: func(*testing.T, string, string) {},
			want:    1,
		},
		{
			name: "a renewed pair",
			replace: func(t *testing.T, certFile, keyFile string) {
				c, k := mustPair(t, 2, valid)
				testenv.WriteAtomic(t, keyFile, k)
				testenv.WriteAtomic(t, certFile, c)
			},
			want: 2,
		},
		{
			name: "a key of another certificate",
			replace: func(t *testing.T, certFile, _ string) {
				c, _ := mustPair(t, 2, valid)
				testenv.WriteAtomic(t, certFile, c)
			},
			want:      1,
			failedLog: 1,
		},
		{
			name: "a half-written certificate",
			replace: func(t *testing.T, certFile, _ string) {
				c, _ := mustPair(t, 2, valid)
				testenv.WriteAtomic(t, certFile, c[:len(c)/2])
			},
			want:      1,
			failedLog: 1,
		},
		{
			name: "an expired certificate",
			replace: func(t *testing.T, certFile, keyFile string) {
				c, k := mustPair(t, 2, time.Now().Add(-time.Hour))
				testenv.WriteAtomic(t, keyFile, k)
				testenv.WriteAtomic(t, certFile, c)
			},
			want:      1,
			failedLog: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			c, k := mustPair(t, 1, valid)
			testenv.WriteAtomic(t, certFile, c)
			testenv.WriteAtomic(t, keyFile, k)
			var logs logBuffer
			const interval = 20 * time.Millisecond
			r, err := New(certFile, keyFile, interval, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if got := served(t, r); got != 1 {
				t.Fatalf("serves %d at first, want 1", got)
			}
			tt.replace(t, certFile, keyFile)
			for range 3 {
				time.Sleep(2 * interval)
				if got := served(t, r); got != tt.want {
					t.Fatalf("serves %d after the interval, want %d", got, tt.want)
				}
			}
			r.Reload()
			if got := served(t, r); got != tt.want {
				t.Errorf("serves %d after Reload, want %d", got, tt.want)
			}
			if n := logs.count("TLS certificate not reloaded"); n != tt.failedLog {
				t.Errorf("%d failed reloads logged, want %d:\n%s", n, tt.failedLog, logs.b.String())
			}
		})
	}
}

// TestReloadWaitsForTheInterval checks that a handshake within the interval does
// not look at the files, and that Reload does.
func TestReloadWaitsForTheInterval(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	valid := time.Now().Add(24 * time.Hour)
	c, k := mustPair(t, 1, valid)
	testenv.WriteAtomic(t, certFile, c)
	testenv.WriteAtomic(t, keyFile, k)
	r, err := New(certFile, keyFile, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, k = mustPair(t, 2, valid)
	testenv.WriteAtomic(t, keyFile, k)
	testenv.WriteAtomic(t, certFile, c)
	if got := served(t, r); got != 1 {
		t.Errorf("serves %d within the interval, want 1", got)
	}
	r.Reload()
	if got := served(t, r); got != 2 {
		t.Errorf("serves %d after Reload, want 2", got)
	}
	if cfg := r.ServerConfig(); cfg.MinVersion != tls.VersionTLS12 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
		t.Errorf("ServerConfig: min version %x, protocols %v; want TLS 1.2 and http/1.1 only", cfg.MinVersion, cfg.NextProtos)
	}
}

// TestNewRefuses checks that a reloader starts only with a good pair.
func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	good, goodKey := mustPair(t, 1, time.Now().Add(time.Hour))
	_, otherKey := mustPair(t, 2, time.Now().Add(time.Hour))
	expired, expiredKey := mustPair(t, 3, time.Now().Add(-time.Hour))
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		testenv.WriteAtomic(t, p, data)
		return p
	}
	for _, tt := range []struct {
		name, cert, key, err string
	}{
		{"missing certificate", filepath.Join(dir, "none.crt"), write("k1", goodKey), "none.crt"},
		{"missing key", write("c1", good), filepath.Join(dir, "none.key"), "none.key"},
		{"a key of another certificate", write("c2", good), write("k2", otherKey), "private key does not match"},
		{"expired", write("c3", expired), write("k3", expiredKey), "expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cert, tt.key, time.Second, nil); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New: %v, want an error with %q", err, tt.err)
			}
		})
	}
}
