package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
)

// A topic's subscribers are counted where they are: the registry's topic
// directory names the edges that have some (as for a publish), and each
// answers a count frame with its own count (TopicSubscribers), so the
// registry keeps no counts. A count costs one small frame per edge.

// TopicCount asks every edge with subscribers of topic how many it has,
// concurrently, and waits for their answers until ctx ends: the local edge
// directly, the others over their links; with Regions, every other region's
// gateway answers for its region, listed as "region/<name>". An edge that does not answer in time
// is listed in Failed, its subscribers not counted. An error means the edges
// could not be looked up.
func (r *Router) TopicCount(ctx context.Context, topic string) (protocol.TopicSubscribers, error) {
	res := protocol.TopicSubscribers{Topic: topic, Edges: []protocol.EdgeSubscribers{}}
	if r.Topics == nil {
		return res, ErrNoTopics
	}
	edges, err := r.Topics.TopicEdges(ctx, topic)
	if err != nil {
		return res, fmt.Errorf("edge: count %s: %w", topic, err)
	}
	var mu sync.Mutex
	add := func(edge string, n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failed = append(res.Failed, protocol.EdgeFailure{Edge: edge, Error: err.Error()})
			return
		}
		res.Edges = append(res.Edges, protocol.EdgeSubscribers{Edge: edge, Subscribers: n})
		res.Subscribers += n
	}
	var wg sync.WaitGroup
	if r.Regions != nil {
		// Each other region's gateway counts its region's subscribers.
		for _, region := range r.Regions.peers {
			wg.Go(func() {
				n, err := r.Regions.links.Count(ctx, region, topic)
				add("region/"+region, n, err)
			})
		}
	}
	for _, e := range edges {
		if r.Local != nil && e == r.Local.ID() {
			add(e, r.Local.TopicSubscribers(topic), nil)
			continue
		}
		if r.Links == nil {
			add(e, 0, errors.New("no links configured"))
			continue
		}
		wg.Go(func() {
			n, err := r.Links.Count(ctx, e, topic)
			add(e, n, err)
		})
	}
	wg.Wait()
	slices.SortFunc(res.Edges, func(a, b protocol.EdgeSubscribers) int { return strings.Compare(a.Edge, b.Edge) })
	slices.SortFunc(res.Failed, func(a, b protocol.EdgeFailure) int { return strings.Compare(a.Edge, b.Edge) })
	return res, nil
}

// Count asks edge how many of its sessions subscribe to topic and waits for
// its answer until ctx ends.
func (l *Links) Count(ctx context.Context, edge, topic string) (int, error) {
	id := protocol.NewID()
	return l.ask(ctx, edge, id, func(b []byte) []byte {
		return link.AppendCount(b, &link.Count{ID: id, Topic: topic})
	})
}

// ask sends edge the request frame that appendFrame appends, whose answer is
// a counted frame with the request's id, and waits for that answer until ctx
// ends.
func (l *Links) ask(ctx context.Context, edge, id string, appendFrame func([]byte) []byte) (int, error) {
	k, err := l.get(edge)
	if err != nil {
		return 0, err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return 0, fmt.Errorf("link to %s: %w", edge, err)
	}
	ch := make(chan int, 1)
	k.mu.Lock()
	k.counting[id] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.counting, id)
		k.mu.Unlock()
	}()
	b := link.GetFrame()
	*b = appendFrame(*b)
	if err := c.SendPooled(b); err != nil {
		return 0, err
	}
	select {
	case n := <-ch:
		if n < 0 {
			return 0, fmt.Errorf("link to %s lost", edge)
		}
		return n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("no answer from %s in time", edge)
	}
}
