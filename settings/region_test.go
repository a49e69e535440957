package settings

import (
	"strings"
	"testing"
	"time"
)

func TestRegionValidate(t *testing.T) {
	key := "region-key-0123456789"
	ok := func() Region {
		return Region{Name: "eu", Peers: List{"us=10.0.0.1:8081", "ap-1=gw.ap:8081"}, Keys: List{key}, Gateway: true, LocateTimeout: time.Second,
			CacheSize: 10, HandoverQueue: 10, Links: LinkBounds{Queue: 10, DialTimeout: time.Second, WriteTimeout: time.Second,
				MinBackoff: time.Millisecond, MaxBackoff: time.Second, PingInterval: time.Second}}
	}
	for _, c := range []struct {
		name    string
		mutate  func(*Region)
		edge    bool
		wantErr string
	}{
		{"valid", func(*Region) {}, true, ""},
		{"one region", func(r *Region) { *r = Region{LocateTimeout: time.Second} }, false, ""},
		{"peers without a region", func(r *Region) { r.Name = "" }, true, "--region is required"},
		{"bad region name", func(r *Region) { r.Name = "EU" }, true, "--region: "},
		{"region name too long", func(r *Region) { r.Name = strings.Repeat("a", 33) }, true, "--region: "},
		{"peer without address", func(r *Region) { r.Peers = List{"us="} }, true, "name=address"},
		{"peer without =", func(r *Region) { r.Peers = List{"us"} }, true, "name=address"},
		{"bad peer name", func(r *Region) { r.Peers = List{"U_S=h:1"} }, true, "not a region name"},
		{"itself a peer", func(r *Region) { r.Peers = List{"eu=h:1"} }, true, "own region"},
		{"peer twice", func(r *Region) { r.Peers = List{"us=h:1", "us=h:2"} }, true, "twice"},
		{"no key", func(r *Region) { r.Keys = nil }, true, "--region-key is required"},
		{"short key", func(r *Region) { r.Keys = List{"short"} }, true, "16 characters"},
		{"gateway without the edge role", func(*Region) {}, false, "--gateway needs the edge role"},
		{"no locate timeout", func(r *Region) { r.LocateTimeout = 0 }, true, "--region-locate-timeout"},
		{"negative miss ttl", func(r *Region) { r.MissTTL = -time.Second }, true, "--region-miss-ttl"},
		{"no cache", func(r *Region) { r.CacheSize = 0 }, true, "--region-cache-size must be at least 1, got 0"},
		{"no handover queue", func(r *Region) { r.HandoverQueue = 0 }, true, "--region-handover-queue must be at least 1"},
		{"no link queue", func(r *Region) { r.Links.Queue = -1 }, true, "--region-link-queue must be at least 1, got -1"},
		{"no dial timeout", func(r *Region) { r.Links.DialTimeout = 0 }, true, "--region-dial-timeout must be positive, got 0s"},
		{"no write timeout", func(r *Region) { r.Links.WriteTimeout = 0 }, true, "--region-write-timeout must be positive"},
		{"no ping interval", func(r *Region) { r.Links.PingInterval = -time.Second }, true, "--region-ping-interval must be positive, got -1s"},
		{"backoffs the wrong way round", func(r *Region) { r.Links.MinBackoff, r.Links.MaxBackoff = 2*time.Second, time.Second }, true,
			"--region-max-backoff (1s) must not be shorter than --region-min-backoff (2s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok()
			c.mutate(&r)
			err := r.Validate(c.edge)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one with %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatalf("error %v quotes the key", err)
			}
		})
	}
	r := ok()
	peers, err := r.PeerAddrs()
	if err != nil || len(peers) != 2 || peers["us"] != "10.0.0.1:8081" || peers["ap-1"] != "gw.ap:8081" {
		t.Fatalf("PeerAddrs = %v, %v", peers, err)
	}
}
