package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald/settings"
)

// requestDrain starts the node's drain and shutdown, as SIGTERM does: POST /drain
// on the admin listener calls it. /readyz turns 503 before it returns, so that a
// caller that has the 202 never sees the node ready again. Calls after the first
// do nothing.
func (n *node) requestDrain() {
	n.drainOnce.Do(func() {
		n.ready.Store(false)
		close(n.drainReq)
	})
}

// shutdownReserve is the part of the shutdown grace that the edge's drain leaves
// for the rest of the shutdown: a quarter of it, at most two seconds.
func shutdownReserve(grace time.Duration) time.Duration {
	return min(grace/4, 2*time.Second)
}

// shutdown stops a node that served, in the order that loses nothing:
//
//  1. /readyz turns 503, so that load balancers stop sending new connections and
//     requests;
//  2. the processor, the materializer and the mirror stop taking batches, and
//     commit the ones in hand (other members of their groups take their
//     partitions over), while
//  3. the edge drains: it refuses new connections and sends reconnect (drain)
//     spread over --drain-window, closes what remains after --reconnect-grace (or
//     once --shutdown-grace but its reserve has passed, if that is sooner), and
//     removes each registration as its connection goes;
//  4. the public and internal listeners stop accepting, and in-flight REST
//     requests finish (http.Server.Shutdown);
//  5. the links and the clients of Redis, Postgres and Kafka close, and the admin
//     listener last, so /readyz and /metrics answer throughout.
//
// The whole of it is bounded by --shutdown-grace, plus --drain-window for an edge.
// served is how many of the listeners' results the caller already took from errc.
func (n *node) shutdown(c *settings.Server, log *slog.Logger, why string, stopAsync func(context.Context) error, errc <-chan error, served int) []error {
	n.ready.Store(false)
	bound := c.ShutdownGrace
	if n.edge != nil {
		bound += c.DrainWindow
	}
	start := time.Now()
	log.Info("shutting down", "why", why, "within", bound)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()

	var errs []error
	asyncErr := make(chan error, 1)
	go func() { asyncErr <- stopAsync(ctx) }()
	if n.edge != nil {
		// The drain may use the window and the grace but its reserve: devices
		// that ignore reconnect are closed then, if --reconnect-grace has not
		// closed them before.
		dctx, dcancel := context.WithTimeout(ctx, c.DrainWindow+c.ShutdownGrace-shutdownReserve(c.ShutdownGrace))
		err := n.edge.Drain(dctx, c.DrainWindow)
		dcancel()
		if err != nil {
			log.Warn("the drain did not finish in time; closing what remains", "err", err)
		} else {
			log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
		}
		if err := n.edge.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := <-asyncErr; err != nil {
		errs = append(errs, err)
	}
	// The admin listener goes last: it answers /readyz and /metrics until the end.
	shut := func(admin bool) {
		for _, l := range n.listeners {
			if (l.name == "admin") != admin {
				continue
			}
			if err := l.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s listener shutdown: %w", l.name, err))
				_ = l.srv.Close() // what is still open goes now
			}
		}
	}
	shut(false)
	n.closeLinks()
	shut(true)
	for range len(n.listeners) - served {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	for _, f := range n.closers {
		f()
	}
	n.stopTracing()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return errs
}
