package tlsreload

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// mustReloader returns a reloader serving a certificate with serial.
func mustReloader(t *testing.T, serial int64) *Reloader {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k := mustPair(t, serial, time.Now().Add(time.Hour))
	testenv.WriteAtomic(t, certFile, c)
	testenv.WriteAtomic(t, keyFile, k)
	r, err := New(certFile, keyFile, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustListen returns a listener on a free port of 127.0.0.1.
func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func TestListenersWrap(t *testing.T) {
	public, internal := mustReloader(t, 1), mustReloader(t, 2)
	for _, c := range []struct {
		name     string
		l        *Listeners
		internal bool
		tls      bool
	}{
		{"nil: plain", nil, false, false},
		{"nil: plain internal", nil, true, false},
		{"no certificate", &Listeners{}, false, false},
		{"public", &Listeners{Public: public}, false, true},
		{"public only: plain internal", &Listeners{Public: public}, true, false},
		{"internal", &Listeners{Public: public, Internal: internal}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln := mustListen(t)
			if got := c.l.Wrap(ln, c.internal) != ln; got != c.tls {
				t.Fatalf("serves TLS %v, want %v", got, c.tls)
			}
		})
	}
	if (*Listeners)(nil).Client() != nil {
		t.Error("a nil Listeners has a link client")
	}
	(*Listeners)(nil).Reload() // does nothing, without a panic
}

// TestListenersWrapServes checks that the internal listener serves its own
// certificate and the others the public one.
func TestListenersWrapServes(t *testing.T) {
	l := &Listeners{Public: mustReloader(t, 1), Internal: mustReloader(t, 2)}
	for internal, want := range map[bool]int64{false: 1, true: 2} {
		ln := l.Wrap(mustListen(t), internal)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != want {
			t.Errorf("internal %v: serves %d, want %d", internal, got, want)
		}
		_ = c.Close()
	}
}
