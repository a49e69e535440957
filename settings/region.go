package settings

import (
	"flag"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/protocol"
)

// Region is the multi-region part of a server's configuration
// (docs/design.md, "Regions"): which region the process belongs to, the
// gateways of the other regions it reaches devices through, and whether it is
// a gateway itself.
type Region struct {
	Name    string
	Peers   List // name=address of each other region's gateway
	Keys    List // the first is presented to other regions, any is accepted
	Gateway bool
	// FoundTTL, MissTTL and LocateTimeout: see edge.RegionsConfig.
	FoundTTL      time.Duration
	MissTTL       time.Duration
	LocateTimeout time.Duration
	// CacheSize, HandoverQueue and the region links' bounds: see
	// edge.RegionsConfig. Zero is edge's default (herald dev --regions
	// defines none of their flags).
	CacheSize     int
	HandoverQueue int
	Links         LinkBounds
}

// MaxDevRegions bounds `herald dev --regions`.
const MaxDevRegions = 5

// DevRegionNames are the names `herald dev --regions N` gives its regions, in
// order.
var DevRegionNames = [MaxDevRegions]string{"eu", "us", "ap", "sa", "af"}

// DevRegionKey is the region key of `herald dev --regions`. It is public, so
// serve refuses it.
const DevRegionKey = "herald-dev-region-key-not-for-production"

// Flags defines the region settings on fs.
func (r *Region) Flags(fs *flag.FlagSet) {
	fs.StringVar(&r.Name, "region", "", "this process's region, in a deployment of several (a-z, 0-9, '-', at most 32); empty: one region")
	fs.Var(&r.Peers, "region-peers", "the other regions' gateways, comma-separated, as name=address (an internal address, as --advertise-addr gives one)")
	fs.Var(&r.Keys, "region-key", "region keys, comma-separated, at least 16 characters: the first is presented to the other regions' gateways, any of them is accepted by a --gateway")
	fs.BoolVar(&r.Gateway, "gateway", false, "take region links from the other regions on the internal listener (with the edge role and --region-key)")
	fs.DurationVar(&r.FoundTTL, "region-found-ttl", edge.DefaultRegionFoundTTL, "how long a device found in another region is taken to be there without asking again")
	fs.DurationVar(&r.MissTTL, "region-miss-ttl", edge.DefaultRegionMissTTL, "how long a device found in no region is taken to be offline: bounds how late a device that moved is found")
	fs.DurationVar(&r.LocateTimeout, "region-locate-timeout", edge.DefaultRegionLocateTimeout, "how long the other regions' gateways have to say whether they hold a device; also how long a region link waits for its ping's pong")
	fs.IntVar(&r.CacheSize, "region-cache-size", edge.DefaultRegionCacheSize, "answers of the other regions (found, missed) kept; a full cache is emptied")
	fs.IntVar(&r.HandoverQueue, "region-handover-queue", edge.DefaultRegionHandoverQueue, "handovers and device-list changes waiting to be sent to the other regions; more are dropped")
	r.Links.Flags(fs, "region-", "region-link-queue", "another region's gateway", edge.DefaultRegionPingInterval)
}

// PeerAddrs returns --region-peers as a map of region names to addresses,
// checked: valid names other than this region's, each once, with an address.
func (r *Region) PeerAddrs() (map[string]string, error) {
	peers := map[string]string{}
	for _, p := range r.Peers {
		name, addr, ok := strings.Cut(p, "=")
		switch {
		case !ok || addr == "":
			return nil, Usagef("--region-peers: each entry is name=address, got %q", p)
		case !protocol.ValidRegion(name):
			return nil, Usagef("--region-peers: %q is not a region name (a-z first, then a-z, 0-9 or '-', at most 32)", name)
		case name == r.Name:
			return nil, Usagef("--region-peers: %q is this process's own region", name)
		}
		if _, dup := peers[name]; dup {
			return nil, Usagef("--region-peers: region %q is listed twice", name)
		}
		peers[name] = addr
	}
	return peers, nil
}

// Validate checks the region settings; edgeRole says whether the process has
// the edge role, which a gateway needs.
func (r *Region) Validate(edgeRole bool) error {
	if r.Name == "" {
		if len(r.Peers) > 0 || r.Gateway || len(r.Keys) > 0 {
			return Usagef("--region is required with --region-peers, --region-key and --gateway")
		}
		return nil
	}
	if !protocol.ValidRegion(r.Name) {
		return Usagef("--region: %q is not a region name (a-z first, then a-z, 0-9 or '-', at most 32)", r.Name)
	}
	if _, err := r.PeerAddrs(); err != nil {
		return err
	}
	if (len(r.Peers) > 0 || r.Gateway) && len(r.Keys) == 0 {
		return Usagef("--region-key is required with --region-peers and --gateway: regions authenticate each other with it")
	}
	for _, k := range r.Keys {
		if len(k) < 16 {
			return Usagef("--region-key: every key needs at least 16 characters")
		}
		if k == DevRegionKey {
			return Usagef("--region-key: a key is the public development key of herald dev, which serve must not accept")
		}
	}
	if r.Gateway && !edgeRole {
		return Usagef("--gateway needs the edge role: a gateway routes what other regions send to this region's edges")
	}
	if r.FoundTTL < 0 || r.MissTTL < 0 || r.LocateTimeout <= 0 {
		return Usagef("--region-found-ttl and --region-miss-ttl must not be negative, --region-locate-timeout must be positive")
	}
	if err := atLeast1(intSetting{"--region-cache-size", r.CacheSize}, intSetting{"--region-handover-queue", r.HandoverQueue}); err != nil {
		return err
	}
	return r.Links.Validate("region-", "region-link-queue")
}
