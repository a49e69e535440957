package settings

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
)

// serveServer returns the configuration `herald serve` parses from args.
func serveServer(t *testing.T, args ...string) *Server {
	t.Helper()
	var c Server
	fs := NewFlags("serve", io.Discard)
	c.Flags(fs, false)
	if err := Parse(fs, args); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestEdgeConfig checks that the edge's settings reach its Config.
func TestEdgeConfig(t *testing.T) {
	c := serveServer(t, "--edge-id", "e7", "--ping-interval", "7s", "--max-connections", "42", "--bad-frame-window", "9s",
		"--policy-backoff", "0", "--region", "eu", "--region-key", "region-key-0123456789", "--gateway")
	c.AdvertiseAddr = "https://10.0.0.7:8081"
	e := c.EdgeConfig()
	if e.ID != "e7" || e.PingInterval != 7*time.Second || e.MaxConnections != 42 || e.BadFrameWindow != 9*time.Second || e.InternalAddr != c.AdvertiseAddr {
		t.Errorf("edge config %+v", e)
	}
	if e.PolicyBackoff != c.EdgePolicyBackoff() || e.ReleaseMemoryQuiet != c.EdgeReleaseMemoryQuiet() {
		t.Errorf("policy backoff %v, release quiet %v: not the edge's forms of the settings", e.PolicyBackoff, e.ReleaseMemoryQuiet)
	}
	d := serveServer(t, "--max-rate-hits", "2", "--max-inflight", "3", "--max-msg-targets", "4", "--msg-ack-timeout", "5s",
		"--link-queue", "6", "--link-inflight", "7", "--device-cache", "8", "--registry-timeout", "9s", "--topic-ttl", "8m").EdgeConfig()
	if d.MaxRateHits != 2 || d.MaxInflight != 3 || d.MaxTargets != 4 || d.AckTimeout != 5*time.Second ||
		d.LinkQueue != 6 || d.LinkInflight != 7 || d.DeviceCache != 8 || d.RegistryTimeout != 9*time.Second || d.TopicRefresh != 2*time.Minute {
		t.Errorf("edge config's bounds %+v", d)
	}
	// The registry keeps a topic's edges for --topic-ttl; the edge adds its
	// topics again every quarter of it, by default too.
	r, err := serveServer(t, "--redis-addr", "127.0.0.1:6379", "--topic-ttl", "8m").RedisConfig()
	if err != nil || r.TopicTTL != 8*time.Minute {
		t.Errorf("redis config %+v, %v: want a topic TTL of 8m", r, err)
	}
	l := serveServer(t, "--cluster-key", "k1-0123456789abcdef,k0-0123456789abcdef", "--link-send-queue", "3", "--link-dial-timeout", "4s",
		"--link-write-timeout", "5s", "--link-min-backoff", "6ms", "--link-max-backoff", "7s", "--link-ping-interval", "8s", "--link-pong-timeout", "9s").LinksConfig()
	if l.ClusterKey != "k1-0123456789abcdef" || l.Queue != 3 || l.DialTimeout != 4*time.Second || l.WriteTimeout != 5*time.Second ||
		l.MinBackoff != 6*time.Millisecond || l.MaxBackoff != 7*time.Second || l.PingInterval != 8*time.Second || l.PongTimeout != 9*time.Second {
		t.Errorf("links config %+v", l)
	}
	if got := serveServer(t).EdgeConfig().TopicRefresh; got != edge.DefaultTopicRefresh {
		t.Errorf("default topic refresh %v, want %v", got, edge.DefaultTopicRefresh)
	}
	if !slices.Equal(e.RegionKeys, []string{"region-key-0123456789"}) {
		t.Errorf("a gateway accepts region keys %v", e.RegionKeys)
	}
	c.Region.Gateway = false
	if keys := c.EdgeConfig().RegionKeys; keys != nil {
		t.Errorf("an edge that is no gateway accepts region keys %v", keys)
	}
}

func TestRegionsConfig(t *testing.T) {
	r := Region{Name: "eu", Peers: List{"us=10.0.0.1:8081"}, Keys: List{"k1", "k0"}, FoundTTL: time.Second, MissTTL: 2 * time.Second, LocateTimeout: 3 * time.Second,
		CacheSize: 4, HandoverQueue: 5, Links: LinkBounds{Queue: 6, DialTimeout: 7 * time.Second, WriteTimeout: 8 * time.Second,
			MinBackoff: 9 * time.Millisecond, MaxBackoff: 10 * time.Second, PingInterval: 11 * time.Second}}
	g, err := r.RegionsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if g.Region != "eu" || g.Peers["us"] != "10.0.0.1:8081" || len(g.Peers) != 1 || g.Key != "k1" ||
		g.FoundTTL != time.Second || g.MissTTL != 2*time.Second || g.LocateTimeout != 3*time.Second ||
		g.CacheSize != 4 || g.HandoverQueue != 5 || g.Queue != 6 || g.DialTimeout != 7*time.Second || g.WriteTimeout != 8*time.Second ||
		g.MinBackoff != 9*time.Millisecond || g.MaxBackoff != 10*time.Second || g.PingInterval != 11*time.Second {
		t.Errorf("regions config %+v", g)
	}
	r.Peers = List{"us"}
	if _, err := r.RegionsConfig(); err == nil || !strings.Contains(err.Error(), "name=address") {
		t.Errorf("a peer without address: %v", err)
	}
}

func TestAPIConfig(t *testing.T) {
	c := serveServer(t, "--api-keys", "backend:"+strings.Repeat("s", 32), "--push-timeout", "3s", "--max-push-timeout", "4s",
		"--max-targets", "5", "--max-batch", "6", "--lookup-timeout", "7s", "--idempotency-ttl", "8h", "--key-concurrency", "1")
	a, err := c.APIConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Keys) != 1 || a.PushTimeout != 3*time.Second || a.MaxBodyBytes != c.MaxBodyBytes || a.MaxPushTimeout != 4*time.Second ||
		a.MaxTargets != 5 || a.MaxBatch != 6 || a.LookupTimeout != 7*time.Second || a.IdempotencyTTL != 8*time.Hour || a.KeyConcurrency != 1 {
		t.Errorf("api config %+v", a)
	}
	// The defaults are the API's own.
	d, err := serveServer(t, "--api-keys", "backend:"+strings.Repeat("s", 32)).APIConfig()
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxPushTimeout != api.DefaultMaxPushTimeout || d.MaxTargets != api.DefaultMaxTargets || d.MaxBatch != api.DefaultMaxBatch ||
		d.LookupTimeout != api.DefaultLookupTimeout || d.IdempotencyTTL != api.DefaultIdempotencyTTL || d.KeyConcurrency != api.DefaultKeyConcurrency {
		t.Errorf("api config's defaults %+v", d)
	}
	c.APIKeys = List{"no-secret"}
	if _, err := c.APIConfig(); err == nil {
		t.Error("a bad --api-keys entry: no error")
	}
}

func TestAdminConfig(t *testing.T) {
	c := serveServer(t, "--admin-key", strings.Repeat("a", 32), "--admin-timeout", "4s", "--roles", "edge,api", "--region", "us")
	a, err := c.AdminConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Keys) != 1 || a.Timeout != 4*time.Second || a.Region != "us" || !slices.Equal(a.Roles, []string{"edge", "api"}) {
		t.Errorf("admin config %+v", a)
	}
	c.AdminKeys = List{"short"}
	if _, err := c.AdminConfig(); err == nil || !strings.HasPrefix(err.Error(), "--admin-key: ") {
		t.Errorf("a short --admin-key: %v", err)
	}
}

func TestProcessorConfig(t *testing.T) {
	c := serveServer(t, "--kafka-brokers", "k:9092", "--kafka-group", "g", "--processor-workers", "high=3,normal=2,low=1",
		"--kafka-partitions", "12", "--status-mirrors", "us", "--consume-mirrored", "ap",
		"--processor-fetch-wait", "15ms", "--status-fetch-wait", "30ms", "--kafka-produce-linger", "2ms", "--kafka-produce-timeout", "3s",
		"--processor-max-poll-records", "7", "--processor-delivery-timeout", "8s", "--processor-max-attempts", "9", "--processor-retry-backoff", "10ms")
	p, err := c.ProcessorConfig()
	if err != nil {
		t.Fatal(err)
	}
	if p.Group != "g" || p.Workers["high"] != 3 || p.Workers["low"] != 1 || !slices.Equal(p.Mirrored, []string{"ap"}) || p.Topics != c.Kafka.Topics() ||
		p.SessionTimeout != c.Kafka.SessionTimeout || p.AckTimeout != c.Kafka.AckTimeout || p.FetchWait != 15*time.Millisecond ||
		p.MaxPollRecords != 7 || p.DeliveryTimeout != 8*time.Second || p.MaxAttempts != 9 || p.RetryBackoff != 10*time.Millisecond {
		t.Errorf("processor config %+v", p)
	}
	m := c.MaterializerConfig()
	if m.Group != "g.status" || !slices.Equal(m.StatusMirrors, []string{"us"}) || m.Topics != c.Kafka.Topics() || m.HeartbeatInterval != c.Kafka.HeartbeatInterval ||
		m.FetchWait != 30*time.Millisecond {
		t.Errorf("materializer config %+v", m)
	}
	if pr := c.ProducerConfig(); pr.Topics != c.Kafka.Topics() || pr.Timeout != 3*time.Second || pr.Linger != 2*time.Millisecond {
		t.Errorf("producer config %+v", pr)
	}
	if s := c.Kafka.TopicSpec(false); s.Partitions != 12 || s.Retention != 0 {
		t.Errorf("topic spec %+v", s)
	}
	if s := c.Kafka.TopicSpec(true); s.Partitions != 3 || s.Retention != c.Kafka.DevRetention || s.RetentionBytes != c.Kafka.DevRetentionBytes {
		t.Errorf("embedded topic spec %+v", s)
	}
	c.Kafka.Workers = "high=many"
	if _, err := c.ProcessorConfig(); err == nil {
		t.Error("bad --processor-workers: no error")
	}
}
