package settings

import (
	"crypto/tls"

	"github.com/heraldpush/herald/registry"
)

// validateRedis checks --redis-addr, --redis-password and --redis-tls-ca
// together. Its messages never show a password.
func (c *Server) validateRedis() error {
	if len(c.RedisAddrs) == 0 {
		if c.RedisPassword != "" || c.RedisTLSCA != "" {
			return Usagef("--redis-password and --redis-tls-ca need --redis-addr")
		}
		return nil
	}
	addrs, err := registry.ParseRedisAddrs(c.RedisAddrs)
	if err != nil {
		return Usagef("--redis-addr: %v", err)
	}
	if c.RedisPassword != "" && addrs.Password != "" {
		return Usagef("--redis-password: --redis-addr holds a password too: give it in one place")
	}
	if c.RedisTLSCA != "" {
		if !addrs.TLS {
			return Usagef("--redis-tls-ca needs rediss:// addresses in --redis-addr")
		}
		if _, err := LoadCAPool(c.RedisTLSCA); err != nil {
			return Usagef("--redis-tls-ca: %v", err)
		}
	}
	return nil
}

// RedisConfig is the registry's configuration of Redis: the addresses, the
// password and the roots of --redis-tls-ca.
func (c *Server) RedisConfig() (registry.RedisConfig, error) {
	cfg := registry.RedisConfig{Addrs: c.RedisAddrs, Password: c.RedisPassword, Prefix: c.RedisPrefix, EdgeTTL: c.EdgeTTL, TopicTTL: c.TopicTTL}
	if c.RedisTLSCA != "" {
		pool, err := LoadCAPool(c.RedisTLSCA)
		if err != nil {
			return cfg, Usagef("--redis-tls-ca: %v", err)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}
