package main

import (
	"github.com/heraldpush/herald/admin"
	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/settings"
	"github.com/heraldpush/herald/topiclog"
)

// nodeInbox is the store-and-forward inbox of a node, one instance that the API
// (sync pushes) and the processor (asynchronous sends) put into for offline
// devices, and the edge drains when they connect.
type nodeInbox interface {
	api.Inbox
	edge.Inbox
	processor.Inbox
	admin.Inbox
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

// newTopicLog returns the topic log of a node, for catch-up: in the
// registry's Redis when the node has one, in process memory otherwise.
func newTopicLog(c *settings.Server, client rueidis.Client) (edge.TopicLog, error) {
	lim := topiclog.Limits{MaxEntries: c.TopicLogMaxEntries, MaxTTL: c.TopicLogMaxTTL}
	if client == nil {
		return topiclog.NewMemory(lim, nil)
	}
	return topiclog.NewRedis(topiclog.RedisConfig{Client: client, Prefix: c.RedisPrefix, Limits: lim})
}
