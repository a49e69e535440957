package main

import (
	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/settings"
)

// nodeInbox is the store-and-forward inbox as a node uses it: the API puts
// sync pushes to offline devices, the edge drains them on connect.
type nodeInbox interface {
	api.Inbox
	edge.Inbox
}

var (
	_ nodeInbox = (*inbox.Redis)(nil)
	_ nodeInbox = (*inbox.Memory)(nil)
)

// newInbox returns the inbox of a node: in the registry's Redis when the node
// has one, so that every process of a deployment shares it, and in process
// memory otherwise (herald dev, a single process without Redis).
func newInbox(c *settings.Server, client rueidis.Client) (nodeInbox, error) {
	lim := inbox.Limits{MaxMessages: c.InboxMaxMessages, MaxBytes: c.InboxMaxBytes}
	if client == nil {
		return inbox.NewMemory(inbox.Config{Limits: lim})
	}
	return inbox.NewRedis(inbox.RedisConfig{Client: client, Prefix: c.RedisPrefix, Limits: lim})
}
