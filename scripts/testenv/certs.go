package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test: it issues certificates for
// the servers a test starts (Redis over TLS, herald's listeners) and is the one
// root the test's clients trust.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, for a --tls-ca or --redis-tls-ca file.
	PEM []byte
	// Pool holds the CA certificate only.
	Pool *x509.CertPool
}

// NewCA makes a CA valid from an hour ago for a day.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool}
}

// Issue returns a PEM certificate and PKCS #8 key for 127.0.0.1 and localhost
// with the given serial number, for server and client authentication (a Redis
// Cluster node over TLS dials its own bus), valid for a day from now.
func (ca *CA) Issue(tb testing.TB, serial int64) (certPEM, keyPEM []byte) {
	tb.Helper()
	return ca.IssueUntil(tb, serial, time.Now().Add(24*time.Hour))
}

// IssueUntil is Issue for a certificate valid for the 48 hours up to notAfter,
// which may be past, for tests of expired certificates.
func (ca *CA) IssueUntil(tb testing.TB, serial int64, notAfter time.Time) (certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "herald test"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// WriteAtomic replaces file with data by a rename, as deploy tools do, so that a
// reader never sees half of it.
func WriteAtomic(tb testing.TB, file string, data []byte) {
	tb.Helper()
	tmp := file + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		tb.Fatal(err)
	}
}

// writeServerCerts makes a CA and a server certificate for 127.0.0.1 and
// localhost signed by it, and writes ca.crt, redis.crt and redis.key into dir.
// It returns the CA file and a client configuration that trusts the CA only.
func writeServerCerts(tb testing.TB, dir string) (caFile string, client *tls.Config) {
	tb.Helper()
	ca := NewCA(tb)
	cert, key := ca.Issue(tb, 2)
	caFile = filepath.Join(dir, "ca.crt")
	for file, data := range map[string][]byte{caFile: ca.PEM, filepath.Join(dir, "redis.crt"): cert, filepath.Join(dir, "redis.key"): key} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return caFile, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}
