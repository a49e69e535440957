package edge

// An edge reads a held device's inbox again, on the session's stored reader
// (nudge.go), in the two cases where a message may wait there while the
// device stays connected and no writer's nudge reaches the edge:
//
//   - After it registered the device again (reregister: the liveness key had
//     been lost, or a registration had failed). While the registry did not
//     name this edge for the device (a Redis restarted, empty or with records
//     of connections that ended during its outage, or unreachable), writers
//     found the device offline, stored, and their nudges found no edge. The
//     read follows the registration, so a put before it is read, and a put
//     after it is seen by its writer's look-up, which nudges this edge.
//   - After a read of its inbox failed (the inbox unreachable when the device
//     connected, or at a nudge): each heartbeat reads again until a read
//     succeeds.
//
// Both read after the last stored message queued on the session, so nothing
// is written twice on one connection; reregister reads each device it
// registered, one stored reader per session, as the inbox storm of a
// reconnect would.

// rereadStored makes ss's stored reader read its inbox again.
func (s *Server) rereadStored(ss *session) {
	if s.cfg.Inbox != nil {
		s.nudged(ss.account, ss.device, ss.id)
	}
}

// failedStored records that a read of ss's inbox failed, for retryStored.
func (s *Server) failedStored(ss *session) {
	ss.mu.Lock()
	ss.storedRetry = true
	ss.mu.Unlock()
	s.storedRetry.Store(true) // after the session's flag: retryStored sees both
}

// retryStored reads again, at a heartbeat, the inboxes of the held sessions,
// attached or still joining, whose last read failed; a read that fails again
// is retried at the next one.
func (s *Server) retryStored() {
	if !s.storedRetry.Swap(false) {
		return
	}
	s.mu.Lock()
	held := s.sessionsLocked()
	for _, ss := range s.joining {
		held = append(held, ss)
	}
	s.mu.Unlock()
	for _, ss := range held {
		ss.mu.Lock()
		retry := ss.storedRetry
		ss.storedRetry = false
		ss.mu.Unlock()
		if retry {
			s.rereadStored(ss)
		}
	}
}
