package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultTLSReloadInterval is how often, at most, a TLS handshake looks at whether
// the certificate files changed (--tls-reload-interval).
const defaultTLSReloadInterval = 5 * time.Second

// tlsConfig is the TLS part of serverConfig: one certificate for the public and
// admin listeners, optionally another for the internal one, and the roots that
// verify other edges' internal listeners when this process dials links.
type tlsConfig struct {
	certFile, keyFile                 string // public, admin, and internal unless overridden
	internalCertFile, internalKeyFile string // internal listener only
	caFile                            string // roots for links; empty: the system pool
	reloadInterval                    time.Duration
}

// flags defines the TLS settings on fs (serve only).
func (t *tlsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.certFile, "tls-cert", "", "PEM certificate (chain) file: serves the public, admin and internal listeners over TLS (with --tls-key); reloaded when it changes or on SIGHUP")
	fs.StringVar(&t.keyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&t.internalCertFile, "internal-tls-cert", "", "PEM certificate file for the internal listener only (with --internal-tls-key); default --tls-cert")
	fs.StringVar(&t.internalKeyFile, "internal-tls-key", "", "PEM private key file of --internal-tls-cert")
	fs.StringVar(&t.caFile, "tls-ca", "", "PEM CA bundle that verifies other edges' internal listeners when links are dialled over TLS (default: the system roots); read at start")
	fs.DurationVar(&t.reloadInterval, "tls-reload-interval", defaultTLSReloadInterval, "how often, at most, a TLS handshake checks whether the certificate files changed")
}

// internalTLS reports whether the internal listener serves TLS.
func (t *tlsConfig) internalTLS() bool { return t.certFile != "" || t.internalCertFile != "" }

// validate checks that pairs come whole, that their files hold a matching
// certificate and key, and that the CA bundle parses.
func (t *tlsConfig) validate() error {
	if (t.certFile == "") != (t.keyFile == "") {
		return usagef("--tls-cert and --tls-key go together: give both or neither")
	}
	if (t.internalCertFile == "") != (t.internalKeyFile == "") {
		return usagef("--internal-tls-cert and --internal-tls-key go together: give both or neither")
	}
	if t.reloadInterval <= 0 {
		return usagef("--tls-reload-interval must be positive, got %v", t.reloadInterval)
	}
	for _, p := range [][3]string{{"--tls-cert", t.certFile, t.keyFile}, {"--internal-tls-cert", t.internalCertFile, t.internalKeyFile}} {
		if p[1] == "" {
			continue
		}
		if _, err := tls.LoadX509KeyPair(p[1], p[2]); err != nil {
			return usagef("%s: %v", p[0], err)
		}
	}
	if t.caFile != "" {
		if _, err := loadCAPool(t.caFile); err != nil {
			return usagef("--tls-ca: %v", err)
		}
	}
	return nil
}

// loadCAPool reads a PEM bundle of CA certificates.
func loadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

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
func newNodeTLS(t *tlsConfig, log *slog.Logger) (*nodeTLS, error) {
	n := &nodeTLS{}
	var err error
	if t.certFile != "" {
		if n.public, err = newCertReloader(t.certFile, t.keyFile, t.reloadInterval, log.With("listener", "public,admin")); err != nil {
			return nil, usagef("--tls-cert: %v", err)
		}
		n.internal = n.public
	}
	if t.internalCertFile != "" {
		if n.internal, err = newCertReloader(t.internalCertFile, t.internalKeyFile, t.reloadInterval, log.With("listener", "internal")); err != nil {
			return nil, usagef("--internal-tls-cert: %v", err)
		}
	}
	if t.caFile != "" {
		pool, err := loadCAPool(t.caFile)
		if err != nil {
			return nil, usagef("--tls-ca: %v", err)
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
