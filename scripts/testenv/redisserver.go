package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisServer is a private redis-server process that a test can stop and start
// again on the same address, to see how the code under test rides out a Redis
// outage. It keeps no data across a restart, like a Redis that lost its memory,
// unless started with [RedisOptions].Durable.
type RedisServer struct {
	// Addr is the server's address, the same across restarts.
	Addr string
	// CAFile is the PEM file of the CA that signed the server's certificate,
	// for a server started with RedisOptions.TLS; empty otherwise.
	CAFile string

	tb      testing.TB
	bin     string
	dir     string
	opts    RedisOptions
	tlsConf *tls.Config // trusts CAFile; nil without TLS
	mu      sync.Mutex
	busPort string        // cluster bus port of a cluster member; empty otherwise
	cmd     *exec.Cmd     // guarded by mu: nil while stopped
	done    chan struct{} // guarded by mu: closed when cmd has exited
	started bool          // guarded by mu: set once the server first answered
}

// RedisOptions are the settings of a private redis-server beyond those of
// [StartRedis].
type RedisOptions struct {
	// Password, when not empty, is the server's requirepass.
	Password string
	// TLS makes the server listen over TLS only, with a certificate for
	// 127.0.0.1 and localhost signed by a CA made for the test
	// ([RedisServer.CAFile]); clients need not present a certificate.
	TLS bool
	// Cluster makes the server a Redis Cluster of one node that holds every
	// slot.
	Cluster bool
	// Durable makes the server keep its data across a restart, even after
	// SIGKILL: an append-only file fsynced before each write is answered
	// (appendonly yes, appendfsync always), so that whatever it answered is
	// there again when it starts.
	Durable bool

	// sentinel runs the server as a Sentinel (see StartSentinel).
	sentinel *sentinelOptions
	// member makes a Cluster server one node of a cluster of several (see
	// StartRedisCluster): it gets no slots of its own at start.
	member bool
}

// sentinelOptions is the master a Sentinel monitors.
type sentinelOptions struct {
	masterSet, masterAddr, masterPassword string
}

// StartRedis starts a private redis-server on a free loopback port; it is stopped
// in tb.Cleanup. Without redis-server on the PATH: tb.Fatal when CI=true, tb.Skip
// otherwise.
func StartRedis(tb testing.TB) *RedisServer {
	tb.Helper()
	return StartRedisWith(tb, RedisOptions{})
}

// StartRedisWith is StartRedis with a password, TLS or Redis Cluster.
func StartRedisWith(tb testing.TB, opts RedisOptions) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(tb, "redis-server", "redis-server is not installed (make test installs it)")
	}
	r := &RedisServer{Addr: freeAddr(tb), tb: tb, bin: bin, dir: tb.TempDir(), opts: opts}
	if opts.TLS {
		r.CAFile, r.tlsConf = writeServerCerts(tb, r.dir)
	}
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// StartSentinel starts a private Redis Sentinel that monitors master as the
// master set masterSet; it is stopped in tb.Cleanup. Its Addr is the
// Sentinel's. The Sentinel itself has no password and no TLS.
func StartSentinel(tb testing.TB, master *RedisServer, masterSet string) *RedisServer {
	tb.Helper()
	if master.opts.TLS {
		tb.Fatal("testenv: StartSentinel: a TLS master is not supported")
	}
	return StartRedisWith(tb, RedisOptions{sentinel: &sentinelOptions{
		masterSet: masterSet, masterAddr: master.Addr, masterPassword: master.opts.Password,
	}})
}

// URL returns the server's redis:// (or rediss://) URL with its password.
func (r *RedisServer) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr}
	if r.opts.TLS {
		u.Scheme = "rediss"
	}
	if r.opts.Password != "" {
		u.User = url.UserPassword("", r.opts.Password)
	}
	return u.String()
}

// Start starts the server if it is stopped and waits until it answers.
func (r *RedisServer) Start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command(r.bin, r.args()...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(callTimeout)
	for {
		_, err := r.do("PING")
		if err == nil {
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.cmd, r.done = nil, nil
			if r.opts.TLS && !bytes.Contains(log, []byte("Ready to accept connections")) {
				// A redis-server built without TLS refuses --tls-port.
				unavailable(r.tb, "redis-server", fmt.Sprintf("it exited at start with TLS settings (built without TLS?):\n%s", log))
			}
			r.tb.Fatalf("redis-server on %s exited at start:\n%s", r.Addr, log)
		default:
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("redis-server on %s does not answer: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	switch {
	case r.opts.member && r.started:
		r.waitClusterOK()
	case r.opts.Cluster && !r.opts.member:
		r.clusterUp(!r.started)
	}
	r.started = true
}

// args are the command-line arguments of the server.
func (r *RedisServer) args() []string {
	_, port, _ := net.SplitHostPort(r.Addr)
	if s := r.opts.sentinel; s != nil {
		host, mport, _ := net.SplitHostPort(s.masterAddr)
		conf := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n", port, r.dir, s.masterSet, host, mport)
		if s.masterPassword != "" {
			conf += fmt.Sprintf("sentinel auth-pass %s %s\n", s.masterSet, s.masterPassword)
		}
		file := filepath.Join(r.dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			r.tb.Fatal(err)
		}
		return []string{file, "--sentinel", "--logfile", filepath.Join(r.dir, "redis.log")}
	}
	args := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log")}
	if r.opts.Durable {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	if r.opts.Password != "" {
		args = append(args, "--requirepass", r.opts.Password)
	}
	if r.opts.TLS {
		args = append(args, "--port", "0", "--tls-port", port,
			"--tls-cert-file", filepath.Join(r.dir, "redis.crt"), "--tls-key-file", filepath.Join(r.dir, "redis.key"),
			"--tls-ca-cert-file", r.CAFile, "--tls-auth-clients", "no")
		if r.opts.Cluster {
			// CLUSTER SLOTS gives TLS clients the TLS port only with it.
			args = append(args, "--tls-cluster", "yes")
		}
	}
	if r.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(r.dir, "nodes.conf"))
	}
	if r.opts.member {
		// A dead master's replica is promoted a second or two after the kill.
		// The bus port is chosen free like the port: port+10000 may be taken
		// or past 65535. A replica syncs at once, without waiting for others.
		args = append(args, "--cluster-node-timeout", "1000", "--cluster-port", r.busPort, "--repl-diskless-sync-delay", "0")
	}
	return args
}

// clusterUp gives the one node of a cluster every slot, the first time (its
// nodes.conf keeps them across a restart), and waits until the cluster is ok.
func (r *RedisServer) clusterUp(first bool) {
	r.tb.Helper()
	if first {
		if _, err := r.do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
			r.tb.Fatalf("redis-server on %s: CLUSTER ADDSLOTSRANGE: %v", r.Addr, err)
		}
	}
	r.waitClusterOK()
}

// waitClusterOK waits until the node reports cluster_state:ok.
func (r *RedisServer) waitClusterOK() {
	r.tb.Helper()
	deadline := time.Now().Add(callTimeout)
	for {
		info, err := r.do("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("redis-server on %s: cluster not ok after %v: %v\n%s", r.Addr, callTimeout, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would) and waits until it has exited.
func (r *RedisServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd, r.done = nil, nil
}

// do sends one command to the server (see redisDo).
func (r *RedisServer) do(args ...string) (string, error) {
	return redisDo(r.Addr, r.tlsConf, r.opts.Password, args...)
}

// redisDo sends one command over a connection of its own, over TLS when
// tlsConf is not nil, after AUTH when password is not empty, and returns the
// reply: a status, an integer or a bulk string.
func redisDo(addr string, tlsConf *tls.Config, password string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return "", err
		}
		c = tc
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	rd := bufio.NewReader(c)
	if password != "" {
		if _, err := command(c, rd, "AUTH", password); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	return command(c, rd, args...)
}

// command writes args as a RESP array and reads one reply.
func command(w io.Writer, rd *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
