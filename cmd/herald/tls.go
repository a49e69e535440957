package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/settings"
	"github.com/heraldpush/herald/tlsreload"
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
	public, internal *tlsreload.Reloader // nil: that listener is plain HTTP
	linkClient       *http.Client        // nil: the default client (system roots)
}

// newNodeTLS loads the certificates t names.
func newNodeTLS(t *settings.TLS, log *slog.Logger) (*nodeTLS, error) {
	n := &nodeTLS{}
	var err error
	if t.CertFile != "" {
		if n.public, err = tlsreload.New(t.CertFile, t.KeyFile, t.ReloadInterval, log.With("listener", "public,admin")); err != nil {
			return nil, settings.Usagef("--tls-cert: %v", err)
		}
		n.internal = n.public
	}
	if t.InternalCertFile != "" {
		if n.internal, err = tlsreload.New(t.InternalCertFile, t.InternalKeyFile, t.ReloadInterval, log.With("listener", "internal")); err != nil {
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
	return tls.NewListener(ln, r.ServerConfig())
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
		n.public.Reload()
	}
	if n.internal != nil && n.internal != n.public {
		n.internal.Reload()
	}
}
