package tlsreload

import (
	"crypto/tls"
	"net"
	"net/http"
)

// Listeners is the TLS of a node: the certificates of its listeners and the
// client that dials links to other nodes' internal listeners. Its methods
// accept a nil *Listeners, which serves plain HTTP.
type Listeners struct {
	// Public serves the public and admin listeners; nil: plain HTTP.
	Public *Reloader
	// Internal serves the internal listener (often Public itself); nil:
	// plain HTTP.
	Internal *Reloader
	// LinkClient dials links; nil: the default client (system roots).
	LinkClient *http.Client
}

// Wrap returns ln serving TLS when its listener, the internal one or another,
// has a certificate.
func (l *Listeners) Wrap(ln net.Listener, internal bool) net.Listener {
	if l == nil {
		return ln
	}
	r := l.Public
	if internal {
		r = l.Internal
	}
	if r == nil {
		return ln
	}
	return tls.NewListener(ln, r.ServerConfig())
}

// Client is the HTTP client that dials links, nil for the default one.
func (l *Listeners) Client() *http.Client {
	if l == nil {
		return nil
	}
	return l.LinkClient
}

// Reload re-reads every certificate now (SIGHUP); a bad pair keeps the old
// one.
func (l *Listeners) Reload() {
	if l == nil {
		return
	}
	if l.Public != nil {
		l.Public.Reload()
	}
	if l.Internal != nil && l.Internal != l.Public {
		l.Internal.Reload()
	}
}
