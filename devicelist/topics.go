package devicelist

import (
	"errors"

	"github.com/heraldpush/herald/protocol"
)

// Persistent topic subscriptions: a backend subscribes a device to a topic
// through the REST API, the device list keeps it, and the edge subscribes the
// device's connections to it when the device connects (docs/protocol.md,
// "Topics"). A device has at most a limit of them, which the caller passes
// (the API passes --max-topics, the limit of one connection, so that every
// persistent subscription of a device fits its connection); the store checks
// it under the device's row lock, so that concurrent adds never exceed it.

// ErrTopicLimit means the device has the most persistent topics it may have
// already; callers answer 409.
var ErrTopicLimit = errors.New("devicelist: the device has the most topics allowed")

// checkTopic returns an InvalidError unless topic is a topic name
// (protocol.TopicProblem, which never quotes the name).
func checkTopic(topic string) error {
	if p := protocol.TopicProblem(topic); p != "" {
		return &InvalidError{Field: "topic", Reason: p}
	}
	return nil
}

// checkTopicArgs checks the ids, the topic and the limit of an AddTopic.
func checkTopicArgs(account, device, topic string) error {
	if err := checkIDs(account, device); err != nil {
		return err
	}
	return checkTopic(topic)
}
