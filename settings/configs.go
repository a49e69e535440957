package settings

import (
	"github.com/heraldpush/herald/admin"
	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
)

// EdgeConfig returns the edge's configuration as the settings give it: its id,
// addresses, keys, limits, budgets and timeouts. The parts it runs with (the
// verifier, the registry, the router, the stores, metrics, logger and tracer)
// are cmd/herald's to add.
func (c *Server) EdgeConfig() edge.Config {
	return edge.Config{
		ID:                c.EdgeID,
		AllowedOrigins:    c.AllowedOrigins,
		ClusterKeys:       c.ClusterKeys,
		RegionKeys:        c.Region.gatewayKeys(),
		InternalAddr:      c.AdvertiseAddr,
		HeartbeatInterval: c.Heartbeat,
		TopicRefresh:      c.TopicTTL / 4,
		MaxFrameBytes:     c.MaxFrameBytes,
		PingInterval:      c.PingInterval,
		PongTimeout:       c.PongTimeout,
		WriteTimeout:      c.WriteTimeout,
		SendQueue:         c.SendQueue,
		InboxPage:         c.InboxPage,
		MaxTopics:         c.MaxTopics,
		TopicCatchUp:      c.TopicCatchUp,
		MaxRateHits:       c.MaxRateHits,
		MaxInflight:       c.MaxInflight,
		MaxTargets:        c.MaxMsgTargets,
		AckTimeout:        c.MsgAckTimeout,
		LinkQueue:         c.LinkQueue,
		LinkInflight:      c.LinkInflight,
		DeviceCache:       c.DeviceCache,
		RegistryTimeout:   c.RegistryTimeout,
		MsgRate:           c.MsgRate,
		MsgBurst:          c.MsgBurst,
		FrameRate:         c.FrameRate,
		FrameBurst:        c.FrameBurst,
		HelloRate:         c.HelloRate,
		HelloBurst:        c.HelloBurst,
		ErrorRate:         c.ErrorRate,
		ErrorBurst:        c.ErrorBurst,
		MaxBadFrames:      c.MaxBadFrames,
		BadFrameWindow:    c.BadFrameWin,
		MinLifetime:       c.MinLifetime,
		MaxLifetime:       c.MaxLifetime,
		ReconnectGrace:    c.ReconnectGrace,
		MaxConnections:    c.MaxConnections,
		ConnectRate:       c.ConnectRate,
		ConnectBurst:      c.ConnectBurst,
		MaxOutRate:        c.MaxOutRate,
		MaxOutBurst:       c.MaxOutBurst,

		ReleaseMemoryAfterConns: c.ReleaseMemoryAfterConns,
		ReleaseMemoryQuiet:      c.EdgeReleaseMemoryQuiet(),

		PolicyBackoff:        c.EdgePolicyBackoff(),
		PolicyBackoffMax:     c.PolicyBackoffMax,
		PolicyBackoffDevices: c.PolicyBackoffDevices,
		CloseWriteTimeout:    c.CloseWriteTimeout,
		CloseLinger:          c.CloseLinger,
	}
}

// LinksConfig returns the configuration of this process's links to other
// edges as the settings give them: the first cluster key and the bounds. The
// addresses, HTTP client, logger and tracer are cmd/herald's to add.
func (c *Server) LinksConfig() edge.LinksConfig {
	cfg := c.Links.linksConfig()
	cfg.PongTimeout = c.LinkPongTimeout
	if len(c.ClusterKeys) > 0 {
		cfg.ClusterKey = c.ClusterKeys[0]
	}
	return cfg
}

// gatewayKeys returns the region keys a gateway accepts, none for an edge
// that is no gateway.
func (r *Region) gatewayKeys() []string {
	if !r.Gateway {
		return nil
	}
	return r.Keys
}

// RegionsConfig returns the configuration of the links to the other regions'
// gateways that --region-peers names, checked. The HTTP client, logger and
// tracer are cmd/herald's to add.
func (r *Region) RegionsConfig() (edge.RegionsConfig, error) {
	peers, err := r.PeerAddrs()
	if err != nil {
		return edge.RegionsConfig{}, err
	}
	return edge.RegionsConfig{
		Region:        r.Name,
		Peers:         peers,
		Key:           r.Keys[0],
		FoundTTL:      r.FoundTTL,
		MissTTL:       r.MissTTL,
		LocateTimeout: r.LocateTimeout,
		CacheSize:     r.CacheSize,
		HandoverQueue: r.HandoverQueue,
		Queue:         r.Links.Queue,
		DialTimeout:   r.Links.DialTimeout,
		WriteTimeout:  r.Links.WriteTimeout,
		MinBackoff:    r.Links.MinBackoff,
		MaxBackoff:    r.Links.MaxBackoff,
		PingInterval:  r.Links.PingInterval,
	}, nil
}

// APIConfig returns the REST API's configuration as the settings give it:
// the API keys (--api-keys, parsed) and the limits. The parts it runs with
// are cmd/herald's to add.
func (c *Server) APIConfig() (api.Config, error) {
	keys, _, err := ParseAPIKeys(c.APIKeys)
	if err != nil {
		return api.Config{}, err
	}
	return api.Config{
		MaxDeviceTopics: c.MaxTopics,
		MaxSubscribers:  c.REST.MaxTopicSubscribers,
		Keys:            keys,
		KeyRate:         c.REST.APIKeyRate,
		KeyBurst:        c.REST.APIKeyBurst,
		MaxJSONDepth:    c.REST.MaxJSONDepth,
		MaxBodyBytes:    c.MaxBodyBytes,
		PushTimeout:     c.PushTimeout,
		MaxPushTimeout:  c.MaxPushTimeout,
		MaxTargets:      c.MaxTargets,
		MaxBatch:        c.MaxBatch,
		LookupTimeout:   c.LookupTimeout,
		IdempotencyTTL:  c.IdempotencyTTL,
		KeyConcurrency:  c.KeyConcurrency,
	}, nil
}

// AdminConfig returns the admin API's configuration as the settings give it:
// the admin keys (--admin-key, parsed), the node's roles and region, and the
// limits. The node's name and the parts it reads are cmd/herald's to add.
func (c *Server) AdminConfig() (admin.Config, error) {
	keys, err := admin.ParseKeys(c.AdminKeys)
	if err != nil {
		return admin.Config{}, Usagef("--admin-key: %v", err)
	}
	return admin.Config{
		Keys:             keys,
		Roles:            c.Roles,
		Region:           c.Region.Name,
		Timeout:          c.AdminTimeout,
		MaxBodyBytes:     c.AdminMaxBodyBytes,
		MaxFleet:         c.AdminMaxFleet,
		FleetConcurrency: c.AdminFleetConcurrency,
		TraceURL:         c.AdminTraceURL,
	}, nil
}
