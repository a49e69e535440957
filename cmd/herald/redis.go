package main

import (
	"crypto/tls"

	"github.com/heraldpush/herald/registry"
)

// validateRedis checks --redis-addr, --redis-password and --redis-tls-ca
// together. Its messages never show a password.
func (c *serverConfig) validateRedis() error {
	if len(c.redisAddrs) == 0 {
		if c.redisPassword != "" || c.redisTLSCA != "" {
			return usagef("--redis-password and --redis-tls-ca need --redis-addr")
		}
		return nil
	}
	addrs, err := registry.ParseRedisAddrs(c.redisAddrs)
	if err != nil {
		return usagef("--redis-addr: %v", err)
	}
	if c.redisPassword != "" && addrs.Password != "" {
		return usagef("--redis-password: --redis-addr holds a password too: give it in one place")
	}
	if c.redisTLSCA != "" {
		if !addrs.TLS {
			return usagef("--redis-tls-ca needs rediss:// addresses in --redis-addr")
		}
		if _, err := loadCAPool(c.redisTLSCA); err != nil {
			return usagef("--redis-tls-ca: %v", err)
		}
	}
	return nil
}

// redisConfig is the registry's configuration of Redis: the addresses, the
// password and the roots of --redis-tls-ca.
func (c *serverConfig) redisConfig() (registry.RedisConfig, error) {
	cfg := registry.RedisConfig{Addrs: c.redisAddrs, Password: c.redisPassword, Prefix: c.redisPrefix, EdgeTTL: c.edgeTTL}
	if c.redisTLSCA != "" {
		pool, err := loadCAPool(c.redisTLSCA)
		if err != nil {
			return cfg, usagef("--redis-tls-ca: %v", err)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}
