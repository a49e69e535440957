package edge

import (
	"context"
	"time"
)

// TopicDirectory records which edges have subscribers of each topic, so that
// a publish sends one link frame to each of them and none to the others.
// registry.Redis and registry.Memory implement it. The edge adds a topic when
// its first subscriber here arrives, before answering the sub, and withdraws
// it at the heartbeat after its last left; it adds every topic it holds again
// every TopicRefresh, at a fresh heartbeat (the registry lost its data) and at
// the heartbeat after a failed add (refreshTopics), which keeps the entries
// alive (registry.DefaultTopicTTL) and repairs them. A publisher reads
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
			s.topicResync.Store(true)
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("adding a topic to the registry failed; the next heartbeat adds it", "err", err, "suppressed", suppressed)
			}
			return
		}
	}
}

// refreshTopics withdraws from the directory the topics whose last subscriber
// here left since the last heartbeat, then adds every topic with subscribers
// here, in batches, when the registry lost its data (fresh), after a failed
// add, after a withdrawal, and every TopicRefresh; after a fresh heartbeat or
// a failed add it catches the subscribers up on what the directory's lack of
// this edge made them miss (topicrepair.go). A subscriber that arrives
// while its topic is withdrawn may have added it before the removal landed:
// the batch that follows the removals adds it again, so the window is one
// registry round trip. Run by the heartbeat goroutine.
func (s *Server) refreshTopics(fresh bool) {
	if s.cfg.Topics == nil {
		return
	}
	withdrew := false
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	for _, t := range s.topics.takeGone() {
		if s.topics.count(t) > 0 {
			continue
		}
		withdrew = true
		if err := s.cfg.Topics.RemoveTopic(ctx, t, s.cfg.ID); err != nil {
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("withdrawing a topic from the registry failed; publishes may still send this edge a frame for it", "err", err, "suppressed", suppressed)
			}
		}
	}
	now := time.Now()
	due := now.Sub(s.topicsAdded) >= s.cfg.TopicRefresh
	resync := s.topicResync.Swap(false)
	// After a fresh heartbeat or a failed add the directory may have lacked
	// this edge: its subscribers catch up around the add (topicrepair.go).
	repair := fresh || resync || s.topicRepair.Swap(false)
	if !withdrew && !due && !repair {
		return
	}
	s.topicsAdded = now
	var rp topicRepair
	if repair {
		rp = s.holdForRepair()
	}
	added := true
	if all := s.topics.all(); len(all) > 0 {
		if err := s.cfg.Topics.AddTopics(ctx, s.cfg.ID, all); err != nil {
			added = false
			s.topicResync.Store(true)
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				s.cfg.Logger.Warn("refreshing the edge's topics in the registry failed", "err", err, "suppressed", suppressed)
			}
		}
	}
	if rp != nil && s.repairTopics(rp, added) {
		s.topicRepair.Store(true)
	}
}
