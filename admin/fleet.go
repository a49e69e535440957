package admin

import (
	"context"
	"net/http"
	"slices"
	"sync"
)

// Fleet is the answer of GET /admin/v1/fleet.
type Fleet struct {
	// Node is the node that answered.
	Node string `json:"node"`
	// Edges are the live edges, sorted by id, each with its figures or the
	// error that kept them; a node without the edge role that answers is
	// listed too.
	Edges []Node `json:"edges"`
	// Truncated is set when there were more than MaxFleet live edges.
	Truncated bool  `json:"truncated,omitempty"`
	At        int64 `json:"at"`
}

// fleet answers GET /admin/v1/fleet: this node and every live edge of the
// registry, each edge's figures fetched from the edge itself.
func (s *Server) fleet(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	ids, err := s.cfg.Edges.Edges(ctx)
	if err != nil {
		s.unavailable(w, "the registry's edges", err)
		return
	}
	out := Fleet{Node: s.cfg.Node, At: s.cfg.Now().UnixMilli()}
	if len(ids) > s.cfg.MaxFleet {
		ids, out.Truncated = ids[:s.cfg.MaxFleet], true
	}
	local := s.cfg.Local != nil
	if local && !slices.Contains(ids, s.cfg.Local.ID()) && len(ids) < s.cfg.MaxFleet {
		// This edge is not live in the registry (its heartbeats fail): it is
		// listed all the same, with what it knows of itself.
		ids = append(ids, s.cfg.Local.ID())
		slices.Sort(ids)
	}
	if !local {
		// An API or processor node answers: it is part of the fleet too.
		n, err := s.localNode()
		if err != nil {
			n.Error = err.Error()
		}
		out.Edges = append(out.Edges, n)
	}
	nodes := make([]Node, len(ids))
	sem := make(chan struct{}, s.cfg.FleetConcurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		if local && id == s.cfg.Local.ID() {
			n, err := s.localNode()
			if err != nil {
				n.Error = err.Error()
			}
			nodes[i] = n
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			nodes[i] = s.remoteNode(ctx, id)
		}()
	}
	wg.Wait()
	out.Edges = append(out.Edges, nodes...)
	writeJSON(w, http.StatusOK, out)
}

// remoteNode fetches the figures of another edge from its internal listener.
func (s *Server) remoteNode(ctx context.Context, id string) Node {
	fail := func(why string) Node { return Node{Node: id, Links: []Link{}, Error: why} }
	if s.cfg.Peers == nil {
		return fail("no cluster key configured to ask other edges")
	}
	addr, err := s.cfg.Locator.EdgeAddr(ctx, id)
	if err != nil {
		return fail("no internal address: " + err.Error())
	}
	var n Node
	if err := s.cfg.Peers.do(ctx, http.MethodGet, addr, InternalNodePath, &n); err != nil {
		return fail(err.Error())
	}
	n.Node = id // the registry's name, whatever the edge calls itself
	return n
}
