package registry

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/protocol"
)

// The topic directory: which edges have subscribers of each topic, so that a
// publish costs one link frame per such edge. An edge adds a topic when its
// first local subscriber arrives (AddTopic), removes it when its last one
// leaves (RemoveTopic), and adds all its topics again (AddTopics) when a
// heartbeat reports fresh and every TopicTTL/4. TopicEdges lists the live
// edges of a topic. The package documentation, "Topics", gives the rules.

// edgeProblem says why edge cannot be named in the topic directory, "" when
// it can: the rule Register applies to an entry's edge (no newline), and not
// empty. It never quotes edge.
func edgeProblem(edge string) string {
	switch {
	case edge == "":
		return "the edge id is empty"
	case strings.Contains(edge, "\n"):
		return "the edge id contains a newline"
	}
	return ""
}

// topicMembership checks a topic name and an edge id for the directory,
// returning an error wrapping ErrInvalid that names op and never quotes
// either.
func topicMembership(op, topic, edge string) error {
	if p := protocol.TopicProblem(topic); p != "" {
		return fmt.Errorf("registry: %s: %w: %s", op, ErrInvalid, p)
	}
	if p := edgeProblem(edge); p != "" {
		return fmt.Errorf("registry: %s: %w: %s", op, ErrInvalid, p)
	}
	return nil
}

// topicsMembership is topicMembership for every topic of an AddTopics, naming
// the first invalid one by its index.
func topicsMembership(op, edge string, topics []string) error {
	if p := edgeProblem(edge); p != "" {
		return fmt.Errorf("registry: %s: %w: %s", op, ErrInvalid, p)
	}
	for i, t := range topics {
		if p := protocol.TopicProblem(t); p != "" {
			return fmt.Errorf("registry: %s: %w: topic %s: %s", op, ErrInvalid, strconv.Itoa(i), p)
		}
	}
	return nil
}

// topicName checks a topic name alone, for TopicEdges.
func topicName(op, topic string) error {
	if p := protocol.TopicProblem(topic); p != "" {
		return fmt.Errorf("registry: %s: %w: %s", op, ErrInvalid, p)
	}
	return nil
}
