package edge

import (
	"context"
	"fmt"
	"time"
)

// drainBatches is how many batches Drain spreads its reconnect frames over, at
// most: one every window/drainBatches, but no more often than minDrainStep.
const (
	drainBatches = 1000
	minDrainStep = 10 * time.Millisecond
)

// Draining reports whether Drain was called: the edge refuses new device
// connections and should be taken out of the load balancer (not ready).
func (s *Server) Draining() bool { return s.draining.Load() }

// Drain empties the edge without a reconnect storm, before a deploy or a scale-in.
// From its call the edge refuses new device connections (503) and Draining reports
// true. It sends every connection a reconnect frame (reason "drain"), spread evenly
// over window, closes each connection still open ReconnectGrace after its
// reconnect with 1001, and returns nil once every connection has ended and been
// unregistered, or an error when ctx ends first (connections still open are then
// left to Shutdown). Edge links keep working throughout, so devices still held
// here stay reachable. Shutdown must still be called afterwards.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	// Setting draining and taking the snapshot under one hold of mu splits the
	// sessions exactly: those attached before are in all; those attached after
	// see draining in attach and are asked to reconnect at once.
	s.mu.Lock()
	s.draining.Store(true)
	if s.idle == nil {
		s.idle = make(chan struct{})
		if s.conns == 0 {
			close(s.idle)
		}
	}
	idle := s.idle
	all := s.sessionsLocked()
	s.mu.Unlock()
	s.cfg.Logger.Info("draining", "connections", len(all), "window", window)
	if err := s.spread(ctx, all, window); err != nil {
		return err
	}
	grace := time.NewTimer(s.cfg.ReconnectGrace)
	defer grace.Stop()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: drain: %w", ctx.Err())
	case <-grace.C:
	}
	// The wheel closes each connection ReconnectGrace after its reconnect; this
	// catches the rest, such as a connection admitted just before Drain.
	rest := s.sessions()
	for _, ss := range rest {
		ss.end(CloseGoingAway, causeDrain)
	}
	if len(rest) > 0 {
		s.cfg.Logger.Info("drain: closed the connections left", "connections", len(rest))
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: drain: %w", ctx.Err())
	}
}

// spread sends reconnect (reason drain) to the sessions, session i at about
// i*window/len(all), in batches sent from the calling goroutine.
func (s *Server) spread(ctx context.Context, all []*session, window time.Duration) error {
	n := len(all)
	if n == 0 {
		return nil
	}
	step := max(window/drainBatches, minDrainStep)
	t := time.NewTicker(step)
	defer t.Stop()
	start := time.Now()
	sent := 0
	for {
		upto := n
		if elapsed := time.Since(start); elapsed < window {
			// Session i is due at i*window/n: those with i <= elapsed*n/window.
			upto = min(n, int(float64(elapsed)/float64(window)*float64(n))+1)
		}
		for ; sent < upto; sent++ {
			s.reconnect(all[sent], causeDrain)
		}
		if sent == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("edge: drain: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// sessions returns the live sessions.
func (s *Server) sessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionsLocked()
}

// sessionsLocked is sessions for a caller that holds mu.
func (s *Server) sessionsLocked() []*session {
	all := make([]*session, 0, s.open)
	for _, ss := range s.accounts {
		for ; ss != nil; ss = ss.sibling {
			all = append(all, ss)
		}
	}
	return all
}
