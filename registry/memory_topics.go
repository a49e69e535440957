package registry

import (
	"context"
	"sort"
	"time"
)

// memoryTopic is a topic's entry in a Memory registry: its edges, and the end
// of its life, which every add pushes TopicTTL ahead, as the key's TTL in
// Redis.
type memoryTopic struct {
	edges   map[string]struct{}
	expires time.Time
}

// AddTopic records that edge has at least one subscriber of topic, and keeps
// the topic's entry for TopicTTL.
func (m *Memory) AddTopic(ctx context.Context, topic, edge string) error {
	if err := topicMembership("add topic", topic, edge); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addTopicLocked(topic, edge, now)
	return nil
}

// AddTopics is AddTopic for each of topics, as an edge re-adds all its topics.
// An invalid topic fails the call before any is added.
func (m *Memory) AddTopics(ctx context.Context, edge string, topics []string) error {
	if err := topicsMembership("add topics", edge, topics); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		m.addTopicLocked(t, edge, now)
	}
	return nil
}

// addTopicLocked adds edge to topic's entry, which starts empty once expired.
// The caller holds mu.
func (m *Memory) addTopicLocked(topic, edge string, now time.Time) {
	t := m.topics[topic]
	if t == nil || !now.Before(t.expires) {
		t = &memoryTopic{edges: make(map[string]struct{})}
		m.topics[topic] = t
	}
	t.edges[edge] = struct{}{}
	t.expires = now.Add(m.topicTTL)
}

// RemoveTopic records that edge has no subscriber of topic left.
func (m *Memory) RemoveTopic(ctx context.Context, topic, edge string) error {
	if err := topicMembership("remove topic", topic, edge); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.topics[topic]; t != nil {
		delete(t.edges, edge)
		if len(t.edges) == 0 {
			delete(m.topics, topic)
		}
	}
	return nil
}

// TopicEdges returns the live edges with subscribers of topic, sorted; an edge
// that never heartbeated counts as live, as for devices. It drops the
// memberships of edges whose heartbeat has expired: such an edge adds its
// topics again when it comes back.
func (m *Memory) TopicEdges(ctx context.Context, topic string) ([]string, error) {
	if err := topicName("topic edges", topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.RLock()
	t := m.topics[topic]
	if t == nil {
		m.mu.RUnlock()
		return []string{}, nil
	}
	out := []string{}
	stale := !now.Before(t.expires) // the whole entry has expired
	if !stale {
		out = make([]string, 0, len(t.edges))
		for e := range t.edges {
			if m.edgeLiveLocked(e, now) {
				out = append(out, e)
			} else {
				stale = true
			}
		}
	}
	m.mu.RUnlock()
	if stale {
		m.pruneTopic(topic, now)
	}
	sort.Strings(out)
	return out, nil
}

// pruneTopic drops topic's entry if it expired, else the memberships of edges
// not live at now, each checked again under the write lock.
func (m *Memory) pruneTopic(topic string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil {
		return
	}
	if now.Before(t.expires) {
		for e := range t.edges {
			if !m.edgeLiveLocked(e, now) {
				delete(t.edges, e)
			}
		}
	} else {
		clear(t.edges)
	}
	if len(t.edges) == 0 {
		delete(m.topics, topic)
	}
}
