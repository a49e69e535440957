package settings

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// devServer returns the configuration `herald dev` parses from args.
func devServer(t *testing.T, args ...string) *Server {
	t.Helper()
	var c Server
	fs := NewFlags("dev", io.Discard)
	c.Flags(fs, true)
	if err := Parse(fs, args); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestDevRegionConfigs(t *testing.T) {
	c := devServer(t, "--regions", "3", "--addr", "127.0.0.1:8080", "--admin-addr", "127.0.0.1:9090",
		"--kafka-port", "9092", "--redis-prefix", "h:")
	c.Region.LocateTimeout = 3 * time.Second
	configs, err := c.DevRegionConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) != 3 {
		t.Fatalf("%d configs, want 3", len(configs))
	}
	internals := map[string]string{}
	for i, rc := range configs {
		name := DevRegionNames[i]
		internals[name] = rc.InternalAddr
		if want := "127.0.0.1:" + []string{"8080", "8081", "8082"}[i]; rc.Addr != want {
			t.Errorf("region %s: addr %s, want %s", name, rc.Addr, want)
		}
		if want := "127.0.0.1:" + []string{"9090", "9091", "9092"}[i]; rc.AdminAddr != want {
			t.Errorf("region %s: admin addr %s, want %s", name, rc.AdminAddr, want)
		}
		if rc.Kafka.DevPort != 9092+i {
			t.Errorf("region %s: kafka port %d, want %d", name, rc.Kafka.DevPort, 9092+i)
		}
		if rc.EdgeID != c.EdgeID+"-"+name || rc.RedisPrefix != "h:"+name+":" {
			t.Errorf("region %s: edge id %q, redis prefix %q", name, rc.EdgeID, rc.RedisPrefix)
		}
		r := rc.Region
		if r.Name != name || !r.Gateway || !slices.Equal(r.Keys, List{DevRegionKey}) || r.LocateTimeout != 3*time.Second {
			t.Errorf("region %s: %+v", name, r)
		}
		if len(r.Peers) != 2 {
			t.Errorf("region %s: peers %v, want the other two", name, r.Peers)
		}
	}
	if c.Addr != "127.0.0.1:8080" || c.Region.Name != "" {
		t.Errorf("the dev config changed: addr %s, region %q", c.Addr, c.Region.Name)
	}
	for i, rc := range configs {
		for _, p := range rc.Region.Peers {
			name, addr, _ := strings.Cut(p, "=")
			if name == DevRegionNames[i] || internals[name] != addr {
				t.Errorf("region %s: peer %s, internal addresses %v", DevRegionNames[i], p, internals)
			}
		}
	}
}

func TestDevRegionConfigsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"kafka brokers", []string{"--regions", "2", "--kafka-brokers", "k:9092"}, "leave --kafka-brokers empty"},
		{"addr port too high", []string{"--regions", "2", "--addr", "127.0.0.1:65535"}, "--addr: "},
		{"admin port too high", []string{"--regions", "3", "--admin-addr", "127.0.0.1:65534"}, "--admin-addr: "},
		{"addr without port", []string{"--regions", "2", "--addr", "localhost"}, "--addr: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := devServer(t, tc.args...).DevRegionConfigs()
			if _, ok := err.(UsageError); !ok || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (%T), want a usage error with %q", err, err, tc.want)
			}
		})
	}
}

func TestDevRegionConfigsAnyPort(t *testing.T) {
	configs, err := devServer(t, "--regions", "2", "--addr", "127.0.0.1:0", "--admin-addr", "").DevRegionConfigs()
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range configs {
		if rc.Addr != "127.0.0.1:0" || rc.AdminAddr != "" || rc.Kafka.DevPort != 0 {
			t.Errorf("region %s: addr %q, admin %q, kafka port %d; want port 0, none, 0", rc.Region.Name, rc.Addr, rc.AdminAddr, rc.Kafka.DevPort)
		}
	}
}
