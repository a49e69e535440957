package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/settings"
)

// linkURL is the address other processes dial for links to this edge: addr with
// https:// when the internal listener serves TLS, so that they dial wss. An
// address that names its scheme is kept.
func linkURL(addr string, tlsOn bool) string {
	if !tlsOn || addr == "" || strings.Contains(addr, "://") {
		return addr
	}
	return "https://" + addr
}

// nodeTLS is a node's TLS: the certificates of its listeners and the client
// that dials links. Its methods accept a nil *nodeTLS, which serves plain HTTP.
type nodeTLS struct {
	public, internal *certReloader // nil: that listener is plain HTTP
	linkClient       *http.Client  // nil: the default client (system roots)
}

// newNodeTLS loads the certificates t names.
func newNodeTLS(t *settings.TLS, log *slog.Logger) (*nodeTLS, error) {
	n := &nodeTLS{}
	var err error
	if t.CertFile != "" {
		if n.public, err = newCertReloader(t.CertFile, t.KeyFile, t.ReloadInterval, log.With("listener", "public,admin")); err != nil {
			return nil, settings.Usagef("--tls-cert: %v", err)
		}
		n.internal = n.public
	}
	if t.InternalCertFile != "" {
		if n.internal, err = newCertReloader(t.InternalCertFile, t.InternalKeyFile, t.ReloadInterval, log.With("listener", "internal")); err != nil {
			return nil, settings.Usagef("--internal-tls-cert: %v", err)
		}
	}
	if t.CAFile != "" {
		pool, err := settings.LoadCAPool(t.CAFile)
		if err != nil {
			return nil, settings.Usagef("--tls-ca: %v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		n.linkClient = &http.Client{Transport: tr}
	}
	return n, nil
}

// wrap returns ln serving TLS when the listener called name has a certificate.
func (n *nodeTLS) wrap(name string, ln net.Listener) net.Listener {
	if n == nil {
		return ln
	}
	r := n.public
	if name == "internal" {
		r = n.internal
	}
	if r == nil {
		return ln
	}
	return tls.NewListener(ln, r.serverConfig())
}

// client is the HTTP client that dials links, nil for the default one.
func (n *nodeTLS) client() *http.Client {
	if n == nil {
		return nil
	}
	return n.linkClient
}

// reload re-reads every certificate now (SIGHUP); a bad pair keeps the old one.
func (n *nodeTLS) reload() {
	if n == nil {
		return
	}
	if n.public != nil {
		n.public.check(time.Now(), true)
	}
	if n.internal != nil && n.internal != n.public {
		n.internal.check(time.Now(), true)
	}
}

// certReloader serves a certificate from a pair of PEM files and loads it again
// when the files change: a handshake at most every interval looks at their
// identity, modification time and size, and reads them when any changed. A pair
// that does not load (a half-written file, a key of another certificate) keeps
// the old certificate and is logged once.
type certReloader struct {
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

// newCertReloader loads the pair, which must be good.
func newCertReloader(certFile, keyFile string, interval time.Duration, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, interval: interval, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.nextCheck.Store(time.Now().Add(interval).UnixNano())
	return r, nil
}

// serverConfig is the tls.Config of a listener serving r's certificate. HTTP/2
// is not offered: WebSocket upgrades need HTTP/1.1.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.getCertificate,
	}
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if now.UnixNano() >= r.nextCheck.Load() {
		r.check(now, false)
	}
	return r.cert.Load(), nil
}

// check loads the pair again if the files changed since the last look, or
// whatever they look like when force is set.
func (r *certReloader) check(now time.Time, force bool) {
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
func (r *certReloader) unchanged() bool {
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
func (r *certReloader) load() error {
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
