package main

import (
	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/processor"
	"github.com/redis/rueidis"
)

// nodeInbox is the store-and-forward inbox of a node, one instance that the API
// and the processor put into and the edge drains.
type nodeInbox interface {
	api.Inbox
	edge.Inbox
	processor.Inbox
}

var (
	_ nodeInbox = (*inbox.Redis)(nil)
	_ nodeInbox = (*inbox.Memory)(nil)
)

// newInbox returns the inbox of a node: in Redis, beside the registry, when the
// node has one, otherwise in memory (herald dev, one process), with the
// default limits.
func newInbox(redis rueidis.Client, prefix string) (nodeInbox, error) {
	if redis != nil {
		r, err := inbox.NewRedis(inbox.RedisConfig{Client: redis, Prefix: prefix})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	m, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		return nil, err
	}
	return m, nil
}
