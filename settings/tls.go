package settings

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/tlsreload"
)

// defaultTLSReloadInterval is how often, at most, a TLS handshake looks at whether
// the certificate files changed (--tls-reload-interval).
const defaultTLSReloadInterval = 5 * time.Second

// TLS is the TLS part of Server: one certificate for the public and
// admin listeners, optionally another for the internal one, and the roots that
// verify other edges' internal listeners when this process dials links.
type TLS struct {
	CertFile, KeyFile                 string // public, admin, and internal unless overridden
	InternalCertFile, InternalKeyFile string // internal listener only
	CAFile                            string // roots for links; empty: the system pool
	ReloadInterval                    time.Duration
}

// Flags defines the TLS settings on fs (serve only).
func (t *TLS) Flags(fs *flag.FlagSet) {
	fs.StringVar(&t.CertFile, "tls-cert", "", "PEM certificate (chain) file: serves the public, admin and internal listeners over TLS (with --tls-key); reloaded when it changes or on SIGHUP")
	fs.StringVar(&t.KeyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&t.InternalCertFile, "internal-tls-cert", "", "PEM certificate file for the internal listener only (with --internal-tls-key); default --tls-cert")
	fs.StringVar(&t.InternalKeyFile, "internal-tls-key", "", "PEM private key file of --internal-tls-cert")
	fs.StringVar(&t.CAFile, "tls-ca", "", "PEM CA bundle that verifies other edges' internal listeners when links are dialled over TLS (default: the system roots); read at start")
	fs.DurationVar(&t.ReloadInterval, "tls-reload-interval", defaultTLSReloadInterval, "how often, at most, a TLS handshake checks whether the certificate files changed")
}

// InternalTLS reports whether the internal listener serves TLS.
func (t *TLS) InternalTLS() bool { return t.CertFile != "" || t.InternalCertFile != "" }

// LinkAddr returns the address other processes dial for links to this edge,
// whose internal listener is bound to bound: --advertise-addr, or by default
// bound's, with 127.0.0.1 for an unspecified host; with https:// when the
// internal listener serves TLS (LinkURL).
func (c *Server) LinkAddr(bound *net.TCPAddr) string {
	addr := c.AdvertiseAddr
	if addr == "" {
		addr = bound.String()
		if bound.IP == nil || bound.IP.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(bound.Port))
		}
	}
	return c.TLS.LinkURL(addr)
}

// LinkURL is the address other processes dial for links to this edge: addr
// with https:// when the internal listener serves TLS, so that they dial wss.
// An address that names its scheme is kept.
func (t *TLS) LinkURL(addr string) string {
	if !t.InternalTLS() || addr == "" || strings.Contains(addr, "://") {
		return addr
	}
	return "https://" + addr
}

// Listeners loads the certificates t names, and the CA bundle that the client
// dialling links trusts: nil reloaders and client where t names none.
func (t *TLS) Listeners(log *slog.Logger) (*tlsreload.Listeners, error) {
	l := &tlsreload.Listeners{}
	var err error
	if t.CertFile != "" {
		if l.Public, err = tlsreload.New(t.CertFile, t.KeyFile, t.ReloadInterval, log.With("listener", "public,admin")); err != nil {
			return nil, Usagef("--tls-cert: %v", err)
		}
		l.Internal = l.Public
	}
	if t.InternalCertFile != "" {
		if l.Internal, err = tlsreload.New(t.InternalCertFile, t.InternalKeyFile, t.ReloadInterval, log.With("listener", "internal")); err != nil {
			return nil, Usagef("--internal-tls-cert: %v", err)
		}
	}
	if t.CAFile != "" {
		pool, err := LoadCAPool(t.CAFile)
		if err != nil {
			return nil, Usagef("--tls-ca: %v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		l.LinkClient = &http.Client{Transport: tr}
	}
	return l, nil
}

// Validate checks that pairs come whole, that their files hold a matching
// certificate and key, and that the CA bundle parses.
func (t *TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return Usagef("--tls-cert and --tls-key go together: give both or neither")
	}
	if (t.InternalCertFile == "") != (t.InternalKeyFile == "") {
		return Usagef("--internal-tls-cert and --internal-tls-key go together: give both or neither")
	}
	if t.ReloadInterval <= 0 {
		return Usagef("--tls-reload-interval must be positive, got %v", t.ReloadInterval)
	}
	for _, p := range [][3]string{{"--tls-cert", t.CertFile, t.KeyFile}, {"--internal-tls-cert", t.InternalCertFile, t.InternalKeyFile}} {
		if p[1] == "" {
			continue
		}
		if _, err := tls.LoadX509KeyPair(p[1], p[2]); err != nil {
			return Usagef("%s: %v", p[0], err)
		}
	}
	if t.CAFile != "" {
		if _, err := LoadCAPool(t.CAFile); err != nil {
			return Usagef("--tls-ca: %v", err)
		}
	}
	return nil
}

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(file string) (*x509.CertPool, error) {
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
