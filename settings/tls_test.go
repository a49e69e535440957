package settings

import (
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestTLSLinkURL(t *testing.T) {
	on, off := &TLS{CertFile: "c", KeyFile: "k"}, &TLS{}
	for _, c := range []struct {
		name string
		t    *TLS
		addr string
		want string
	}{
		{"plain", off, "10.0.0.1:8081", "10.0.0.1:8081"},
		{"tls", on, "10.0.0.1:8081", "https://10.0.0.1:8081"},
		{"internal tls only", &TLS{InternalCertFile: "c", InternalKeyFile: "k"}, "h:1", "https://h:1"},
		{"scheme kept", on, "http://h:1", "http://h:1"},
		{"empty", on, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.t.LinkURL(c.addr); got != c.want {
				t.Fatalf("LinkURL(%q) = %q, want %q", c.addr, got, c.want)
			}
		})
	}
}

func TestTLSListeners(t *testing.T) {
	l, err := (&TLS{}).Listeners(slog.New(slog.DiscardHandler))
	if err != nil || l.Public != nil || l.Internal != nil || l.LinkClient != nil {
		t.Fatalf("no TLS settings: %+v, %v", l, err)
	}
	for flag, tt := range map[string]*TLS{
		"--tls-cert":          {CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"},
		"--internal-tls-cert": {InternalCertFile: "/nonexistent.crt", InternalKeyFile: "/nonexistent.key"},
		"--tls-ca":            {CAFile: "/nonexistent.pem"},
	} {
		_, err := tt.Listeners(slog.New(slog.DiscardHandler))
		if _, ok := err.(UsageError); !ok || !strings.HasPrefix(err.Error(), flag+": ") {
			t.Errorf("%s missing: %v, want a usage error naming it", flag, err)
		}
	}
}

func TestLinkAddr(t *testing.T) {
	tcp := func(s string) *net.TCPAddr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, c := range []struct {
		name      string
		advertise string
		tls       bool
		bound     *net.TCPAddr
		want      string
	}{
		{"bound address", "", false, tcp("10.0.0.7:8081"), "10.0.0.7:8081"},
		{"unspecified host", "", false, tcp("0.0.0.0:8081"), "127.0.0.1:8081"},
		{"no host", "", false, &net.TCPAddr{Port: 8081}, "127.0.0.1:8081"},
		{"unspecified host, tls", "", true, tcp("[::]:8081"), "https://127.0.0.1:8081"},
		{"advertised", "edge-3.internal:8081", false, tcp("0.0.0.0:8081"), "edge-3.internal:8081"},
		{"advertised, tls", "edge-3.internal:8081", true, tcp("0.0.0.0:8081"), "https://edge-3.internal:8081"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Server{AdvertiseAddr: c.advertise}
			if c.tls {
				s.TLS = TLS{CertFile: "c", KeyFile: "k"}
			}
			if got := s.LinkAddr(c.bound); got != c.want {
				t.Fatalf("LinkAddr = %q, want %q", got, c.want)
			}
		})
	}
}
