package edge

import (
	"context"
	"time"
)

// TopicDirectory records which edges have subscribers of each topic, so that
// a publish sends one link frame to each of them and none to the others.
// registry.Redis and registry.Memory implement it. The edge adds a topic when
// its first subscriber here arrives, before answering the sub, and withdraws
// it at the heartbeat after its last left (withdrawTopics); it re-adds every
// topic it holds at each heartbeat (refreshTopics), which keeps the entries
// alive and repairs them after the registry lost its data. A publisher reads
// TopicEdges (Router.Publish).
type TopicDirectory interface {
	AddTopic(ctx context.Context, topic, edge string) error
	RemoveTopic(ctx context.Context, topic, edge string) error
	AddTopics(ctx context.Context, edge string, topics []string) error
	TopicEdges(ctx context.Context, topic string) ([]string, error)
}

// advertise adds topics, which have just got their first subscriber here, to
// the directory. A failure is logged; the next heartbeat adds every topic the
// edge holds (refreshTopics).
func (s *Server) advertise(topics []string) {
	if s.cfg.Topics == nil || len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	for _, t := range topics {
		if err := s.cfg.Topics.AddTopic(ctx, t, s.cfg.ID); err != nil {
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("adding a topic to the registry failed; the next heartbeat adds it", "err", err, "suppressed", suppressed)
			}
			return
		}
	}
}

// refreshTopics adds every topic with subscribers here to the directory, in
// one batch, and withdraws those whose last subscriber left since the last
// heartbeat. A subscriber that arrives while its topic is withdrawn may have
// added it before the removal landed: the batch that follows the removals
// adds it again, so the window is one registry round trip. Run by the
// heartbeat goroutine.
func (s *Server) refreshTopics() {
	if s.cfg.Topics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	for _, t := range s.topics.takeGone() {
		if s.topics.count(t) > 0 {
			continue
		}
		if err := s.cfg.Topics.RemoveTopic(ctx, t, s.cfg.ID); err != nil {
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("withdrawing a topic from the registry failed; publishes may still send this edge a frame for it", "err", err, "suppressed", suppressed)
			}
		}
	}
	if all := s.topics.all(); len(all) > 0 {
		if err := s.cfg.Topics.AddTopics(ctx, s.cfg.ID, all); err != nil {
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("refreshing the edge's topics in the registry failed", "err", err, "suppressed", suppressed)
			}
		}
	}
}
