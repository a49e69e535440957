package tlsreload

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader serves a certificate from a pair of PEM files and loads it again
// when the files change: a handshake at most every interval looks at their
// identity, modification time and size, and reads them when any changed. A pair
// that does not load (a half-written file, a key of another certificate) keeps
// the old certificate and is logged once.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds: no look at the files before

	mu     sync.Mutex     // serialises checks; guards the fields below
	stamps [2]os.FileInfo // the files as last looked at
	loaded [32]byte       // digest of the contents loaded
	failed [32]byte       // digest of the contents that last failed to load
}

// New loads the pair, which must be good. The files are looked at again at most
// every interval; log (nil: discard) gets each load and each failed reload.
func New(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.nextCheck.Store(time.Now().Add(interval).UnixNano())
	return r, nil
}

// ServerConfig is the tls.Config of a listener serving r's certificate. HTTP/2
// is not offered: WebSocket upgrades need HTTP/1.1.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.GetCertificate,
	}
}

// GetCertificate is tls.Config.GetCertificate: the certificate, looked at again
// when the interval has passed since the last look.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if now.UnixNano() >= r.nextCheck.Load() {
		r.check(now, false)
	}
	return r.cert.Load(), nil
}

// Reload reads the pair again now, whether or not the files look changed (on
// SIGHUP); a pair that does not load keeps the old certificate.
func (r *Reloader) Reload() { r.check(time.Now(), true) }

// check loads the pair again if the files changed since the last look, or
// whatever they look like when force is set.
func (r *Reloader) check(now time.Time, force bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force && now.UnixNano() < r.nextCheck.Load() {
		return // another handshake looked meanwhile
	}
	r.nextCheck.Store(now.Add(r.interval).UnixNano())
	if !force && r.unchanged() {
		return
	}
	if err := r.load(); err != nil {
		r.log.Error("TLS certificate not reloaded; keeping the old one", "cert", r.certFile, "key", r.keyFile, "err", err)
	}
}

// unchanged reports whether both files look as they did at the last look, and
// remembers how they look now. Called with mu held.
func (r *Reloader) unchanged() bool {
	same := true
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return false // load reports it
		}
		old := r.stamps[i]
		if old == nil || !os.SameFile(old, st) || !old.ModTime().Equal(st.ModTime()) || old.Size() != st.Size() {
			same = false
		}
		r.stamps[i] = st
	}
	return same
}

// load reads the pair and serves it if it is new and good. Called with mu held
// (or before r is shared).
func (r *Reloader) load() error {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(append(append(bytes.Clone(certPEM), 0), keyPEM...))
	if sum == r.loaded && r.cert.Load() != nil {
		return nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if sum == r.failed {
			return nil // logged already; wait for the files to change
		}
		r.failed = sum
		return err
	}
	if cert.Leaf == nil || time.Now().After(cert.Leaf.NotAfter) {
		if cert.Leaf != nil {
			err = fmt.Errorf("certificate expired at %s", cert.Leaf.NotAfter.Format(time.RFC3339))
		} else {
			err = errors.New("no certificate")
		}
		if sum == r.failed {
			return nil
		}
		r.failed = sum
		return err
	}
	r.loaded = sum
	r.cert.Store(&cert)
	r.log.Info("TLS certificate loaded", "cert", r.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return nil
}
