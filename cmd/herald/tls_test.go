package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/heraldpush/herald/settings"
)

// servedSerial dials addr over TLS and returns the serial number of the
// certificate it presents.
func servedSerial(t *testing.T, ca *testenv.CA, addr string) int64 {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool}, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// httpsClient trusts ca only.
func httpsClient(t *testing.T, ca *testenv.CA) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitBound}
}

// servedNode is `herald serve` running in the test's process.
type servedNode struct {
	*devServer
}

// mustServe runs `herald serve args...` in the test's process until the test
// ends; like mustDev, but for serve's settings.
func mustServe(t *testing.T, args ...string) *servedNode {
	t.Helper()
	var c settings.Server
	stderr := &syncBuffer{}
	fs := settings.NewFlags("serve", stderr)
	c.Flags(fs, false)
	if err := settings.Parse(fs, append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-level", "debug"}, args...)); err != nil {
		t.Fatalf("flags: %v\n%s", err, stderr)
	}
	if err := c.Validate(false); err != nil {
		t.Fatalf("validate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &devServer{stderr: stderr, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan *node, 1)
	go func() {
		d.done <- serve(ctx, &c, &syncBuffer{}, stderr, func(n *node) { ready <- n })
	}()
	select {
	case d.node = <-ready:
	case err := <-d.done:
		cancel()
		t.Fatalf("serve returned before listening: %v\n%s", err, stderr)
	case <-time.After(waitBound):
		cancel()
		t.Fatalf("serve is not listening after %v\n%s", waitBound, stderr)
	}
	d.addr = d.node.addr("public")
	d.base = "https://" + d.addr
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", stderr)
		}
	})
	return &servedNode{d}
}

const (
	tlsTestSecret = "tls-test-token-secret-of-32-bytes-at-least"
	tlsTestAPIKey = "backend:tls-test-api-key"
	tlsTestKey    = "tls-test-cluster-key-0123"
)

// tlsFiles writes a CA bundle and a certificate pair into a new directory.
func tlsFiles(t *testing.T, ca *testenv.CA, serial int64) (dir, cert, key, caFile string) {
	t.Helper()
	dir = t.TempDir()
	cert, key, caFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	c, k := ca.Issue(t, serial)
	testenv.WriteAtomic(t, cert, c)
	testenv.WriteAtomic(t, key, k)
	testenv.WriteAtomic(t, caFile, ca.PEM)
	return dir, cert, key, caFile
}

// wssDevice connects account/device over wss and returns it after its welcome.
func wssDevice(t *testing.T, client *http.Client, addr, account, device string) *websocket.Conn {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(tlsTestSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+addr+"/v1/connect", &websocket.DialOptions{
		HTTPClient: client, HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if _, ok := readFrame(t, c).(*protocol.Welcome); !ok {
		t.Fatal("first frame is not a welcome")
	}
	return c
}

func readFrame(t *testing.T, c *websocket.Conn) protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

// pushOverHTTPS pushes a message to account/device through base's REST API and
// returns the status and body.
func pushOverHTTPS(t *testing.T, client *http.Client, base, account, device string) (int, string) {
	t.Helper()
	body := `{"to":{"account":"` + account + `","device":"` + device + `"},"type":"notification.v1","payload":{"title":"t","body":"b"}}`
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/push", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.SplitN(tlsTestAPIKey, ":", 2)[1])
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTLSListeners: with --tls-cert and --tls-key every listener serves TLS; a
// device connects over wss, a backend pushes over https; replaced files are
// served to new connections without a restart, and a bad pair keeps the old one.
func TestTLSListeners(t *testing.T) {
	ca := testenv.NewCA(t)
	_, cert, key, _ := tlsFiles(t, ca, 1001)
	s := mustServe(t, "--roles=edge,api", "--token-secret", tlsTestSecret, "--api-keys", tlsTestAPIKey, "--cluster-key", tlsTestKey,
		"--tls-cert", cert, "--tls-key", key, "--tls-reload-interval", "10ms")
	client := httpsClient(t, ca)
	public, internal, admin := s.node.addr("public"), s.node.addr("internal"), s.node.addr("admin")

	t.Run("every listener serves the certificate", func(t *testing.T) {
		for _, a := range []string{public, internal, admin} {
			if got := servedSerial(t, ca, a); got != 1001 {
				t.Fatalf("%s serves serial %d, want 1001", a, got)
			}
		}
	})
	t.Run("plain HTTP is not served", func(t *testing.T) {
		for _, a := range []string{public, internal, admin} {
			resp, err := (&http.Client{Timeout: waitBound}).Get("http://" + a + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatalf("plain HTTP on %s answered 200", a)
				}
			}
		}
	})
	tv := wssDevice(t, client, public, "a1", "tv1")
	t.Run("a device over wss gets a push made over https", func(t *testing.T) {
		if code, body := pushOverHTTPS(t, client, s.base, "a1", "tv1"); code != http.StatusOK || !strings.Contains(body, `"delivered"`) {
			t.Fatalf("push: %d %s", code, body)
		}
		if m, ok := readFrame(t, tv).(*protocol.Msg); !ok || m.Type != "notification.v1" {
			t.Fatalf("tv got %#v", m)
		}
	})
	t.Run("admin and internal over https", func(t *testing.T) {
		resp, err := client.Get("https://" + admin + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin /healthz: %s", resp.Status)
		}
		resp, err = client.Get("https://" + internal + "/internal/v1/link")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("internal link without a key: %s, want 401", resp.Status)
		}
	})
	t.Run("a device token does not read a device list", func(t *testing.T) {
		iss, _ := token.NewHS256Issuer(token.HS256Key{Secret: []byte(tlsTestSecret)})
		tok, _ := iss.Issue("a1", "tv1", time.Hour)
		req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/accounts/a1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("device list with a device token: %s, want 401", resp.Status)
		}
	})
	t.Run("new files are served without a restart", func(t *testing.T) {
		c2, k2 := ca.Issue(t, 1002)
		testenv.WriteAtomic(t, key, k2)
		testenv.WriteAtomic(t, cert, c2)
		for _, a := range []string{public, internal, admin} {
			waitFor(t, "the new certificate on "+a, func() bool { return servedSerial(t, ca, a) == 1002 })
		}
		// The connection made before keeps working; new ones work too.
		if code, body := pushOverHTTPS(t, httpsClient(t, ca), s.base, "a1", "tv1"); code != http.StatusOK || !strings.Contains(body, `"delivered"`) {
			t.Fatalf("push after the reload: %d %s", code, body)
		}
		if _, ok := readFrame(t, tv).(*protocol.Msg); !ok {
			t.Fatal("tv got no msg after the reload")
		}
		wssDevice(t, httpsClient(t, ca), public, "a1", "phone1")
	})
	t.Run("a bad pair keeps the old certificate", func(t *testing.T) {
		c3, _ := ca.Issue(t, 1003)
		testenv.WriteAtomic(t, cert, c3) // the key is still 1002's
		waitFor(t, "the failed reload to be logged", func() bool {
			servedSerial(t, ca, public)
			return strings.Contains(s.stderr.String(), "TLS certificate not reloaded")
		})
		if got := servedSerial(t, ca, public); got != 1002 {
			t.Fatalf("serves serial %d after a bad pair, want 1002", got)
		}
		if n := strings.Count(s.stderr.String(), "TLS certificate not reloaded"); n != 1 {
			t.Fatalf("the bad pair was logged %d times, want once", n)
		}
	})
}

// TestTLSReloadOnSIGHUP: SIGHUP loads the files at once, however long
// --tls-reload-interval is.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	ca := testenv.NewCA(t)
	_, cert, key, _ := tlsFiles(t, ca, 2001)
	s := mustServe(t, "--roles=edge", "--token-secret", tlsTestSecret, "--tls-cert", cert, "--tls-key", key, "--tls-reload-interval", "1h")
	public := s.node.addr("public")
	if got := servedSerial(t, ca, public); got != 2001 {
		t.Fatalf("serial %d", got)
	}
	c2, k2 := ca.Issue(t, 2002)
	testenv.WriteAtomic(t, key, k2)
	testenv.WriteAtomic(t, cert, c2)
	// Until serve listens for SIGHUP, this keeps the signal from ending the test.
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGHUP)
	defer signal.Stop(mine)
	waitFor(t, "the certificate after SIGHUP", func() bool {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return servedSerial(t, ca, public) == 2002
	})
}

// TestTLSConfigErrors: incomplete or bad TLS settings are refused at start.
func TestTLSConfigErrors(t *testing.T) {
	ca := testenv.NewCA(t)
	dir, cert, key, _ := tlsFiles(t, ca, 3001)
	other, _ := ca.Issue(t, 3002)
	mismatched := filepath.Join(dir, "other.crt")
	testenv.WriteAtomic(t, mismatched, other)
	base := []string{"serve", "--roles=edge", "--token-secret", tlsTestSecret, "--addr", "127.0.0.1:0", "--admin-addr", "", "--internal-addr", "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a cert without a key", []string{"--tls-cert", cert}, "--tls-cert and --tls-key"},
		{"a key without a cert", []string{"--tls-key", key}, "--tls-cert and --tls-key"},
		{"an internal cert without a key", []string{"--internal-tls-cert", cert}, "--internal-tls-cert and --internal-tls-key"},
		{"a missing file", []string{"--tls-cert", filepath.Join(dir, "none"), "--tls-key", key}, "--tls-cert"},
		{"a key of another certificate", []string{"--tls-cert", mismatched, "--tls-key", key}, "--tls-cert"},
		{"a CA file without certificates", []string{"--tls-ca", key}, "--tls-ca"},
		{"a zero reload interval", []string{"--tls-cert", cert, "--tls-key", key, "--tls-reload-interval", "0s"}, "--tls-reload-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			r := runCmd(t, ctx, append(base, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestTLSLinksBetweenEdges: two edges whose internal listeners serve TLS link
// over wss, verified with --tls-ca; a process without the CA cannot link.
func TestTLSLinksBetweenEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis and Postgres")
	}
	pg := testenv.Postgres(t)
	rd, prefix := testenv.Redis(t)
	ca := testenv.NewCA(t)
	_, cert1, key1, caFile := tlsFiles(t, ca, 4001)
	_, cert2, key2, _ := tlsFiles(t, ca, 4002)
	common := []string{"--roles=edge,api", "--postgres-url", pg, "--redis-addr", rd, "--redis-prefix", prefix, "--cluster-key", tlsTestKey,
		"--token-secret", tlsTestSecret, "--api-keys", tlsTestAPIKey, "--tls-ca", caFile}
	e1 := mustServe(t, append([]string{"--edge-id", "tls-edge-1", "--tls-cert", cert1, "--tls-key", key1}, common...)...)
	e2 := mustServe(t, append([]string{"--edge-id", "tls-edge-2", "--internal-tls-cert", cert2, "--internal-tls-key", key2}, common...)...)
	client := httpsClient(t, ca)

	// e2 serves its public listener in plain HTTP, its internal one over TLS.
	addr, err := e1.node.registry.EdgeAddr(context.Background(), "tls-edge-2")
	if err != nil || !strings.HasPrefix(addr, "https://") {
		t.Fatalf("tls-edge-2 advertises %q (%v), want an https:// address", addr, err)
	}
	if got := servedSerial(t, ca, e2.node.addr("internal")); got != 4002 {
		t.Fatalf("internal listener of tls-edge-2 serves serial %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+e2.node.addr("public")+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + mustTLSToken(t, "a1", "tv1")}}, Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	readFrame(t, c) // welcome
	waitFor(t, "a1/tv1 registered", func() bool {
		loc, err := e1.node.registry.Lookup(context.Background(), "a1", "tv1")
		return err == nil && loc.Edge == "tls-edge-2"
	})
	if code, body := pushOverHTTPS(t, client, e1.base, "a1", "tv1"); code != http.StatusOK || !strings.Contains(body, `"delivered"`) {
		t.Fatalf("push through tls-edge-1 to a device on tls-edge-2: %d %s", code, body)
	}
	if m, ok := readFrame(t, c).(*protocol.Msg); !ok || m.Type != "notification.v1" {
		t.Fatalf("tv got %#v", m)
	}
	up := false
	for _, st := range e1.node.links.Stats() {
		up = up || st.Edge == "tls-edge-2" && st.Up
	}
	if !up {
		t.Fatalf("no link up from tls-edge-1 to tls-edge-2: %+v", e1.node.links.Stats())
	}

	t.Run("without the CA the link is refused", func(t *testing.T) {
		var noCA []string
		for i := 0; i < len(common); i++ {
			if common[i] == "--tls-ca" {
				i++
				continue
			}
			noCA = append(noCA, common[i])
		}
		e3 := mustServe(t, append(noCA, "--edge-id", "tls-edge-3", "--roles=api")...)
		e3.base = "http://" + e3.addr
		code, body := pushOverHTTPS(t, client, e3.base, "a1", "tv1")
		var res struct {
			Results []protocol.Result `json:"results"`
		}
		_ = json.Unmarshal([]byte(body), &res)
		if code == http.StatusOK && (len(res.Results) != 1 || res.Results[0].Status == protocol.StatusDelivered) {
			t.Fatalf("push through a process that does not trust the CA: %d %s", code, body)
		}
		var stErr error
		for _, st := range e3.node.links.Stats() {
			if st.Edge == "tls-edge-2" {
				stErr = st.Err
			}
		}
		var unknown x509.UnknownAuthorityError
		if stErr == nil || !errors.As(stErr, &unknown) && !strings.Contains(stErr.Error(), "certificate") {
			t.Fatalf("link from tls-edge-3 reports %v, want a certificate error", stErr)
		}
	})
}

func mustTLSToken(t *testing.T, account, device string) string {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(tlsTestSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
