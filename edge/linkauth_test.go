package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// keyedEdge is an edge of a test cluster with keys of its own: the first is the
// one its links present, all are accepted on its link listener.
type keyedEdge struct {
	*testEdge
	links *Links
	hs    *httptest.Server // the link listener
}

// mustKeyedCluster starts one edge per key set, on one registry and device list.
func mustKeyedCluster(t *testing.T, keySets ...[]string) []*keyedEdge {
	t.Helper()
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	book := &addrBook{addrs: map[string]string{}}
	var out []*keyedEdge
	for i, keys := range keySets {
		links, err := NewLinks(LinksConfig{Addresses: book, ClusterKey: keys[0], MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		router := &Router{Registry: reg, Links: links}
		te := mustEdge(t, func(c *Config) {
			c.ID = "edge-" + string(rune('1'+i))
			c.Registry, c.Versions, c.Devices, c.Locator = reg, reg, devs, reg
			c.Router, c.Replacer, c.Presencer = router, links, links
			c.ClusterKeys = keys
		})
		te.reg, te.devs = reg, devs
		router.Local = te.srv
		hs := httptest.NewServer(te.srv.LinkHandler())
		book.mu.Lock()
		book.addrs[te.srv.ID()] = hs.URL
		book.mu.Unlock()
		t.Cleanup(func() {
			links.Close()
			hs.Close()
		})
		out = append(out, &keyedEdge{testEdge: te, links: links, hs: hs})
	}
	return out
}

// deliverVia delivers a message from one edge's links to a device on another.
func deliverVia(from *keyedEdge, to, account, device, id string) protocol.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return from.links.Deliver(ctx, to, account, device, &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil)
}

// linkErr is the reason the link from e to edge is down.
func linkErr(e *keyedEdge, edge string) error {
	for _, st := range e.links.Stats() {
		if st.Edge == edge {
			return st.Err
		}
	}
	return nil
}

// TestClusterKeyRotation walks the rotation of docs/security.md with edges at
// different steps: each pair whose sets overlap on the presented keys links, in
// both directions.
func TestClusterKeyRotation(t *testing.T) {
	const oldKey, newKey = "old-cluster-key-0123", "new-cluster-key-4567"
	steps := []struct {
		name string
		a, b []string
	}{
		{"before: both on the old key", []string{oldKey}, []string{oldKey}},
		{"step 1 on one edge: new key accepted, old presented", []string{oldKey, newKey}, []string{oldKey}},
		{"step 2 on one edge: new key presented, old still accepted", []string{newKey, oldKey}, []string{oldKey, newKey}},
		{"step 3 on one edge: old key removed", []string{newKey}, []string{newKey, oldKey}},
		{"after: both on the new key", []string{newKey}, []string{newKey}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			edges := mustKeyedCluster(t, st.a, st.b)
			edges[0].mustDial(t, "a1", "tv1")
			edges[1].mustDial(t, "a1", "phone1")
			if r := deliverVia(edges[0], "edge-2", "a1", "phone1", "m1"); r.Status != protocol.StatusDelivered {
				t.Fatalf("edge-1 -> edge-2: %+v", r)
			}
			if r := deliverVia(edges[1], "edge-1", "a1", "tv1", "m2"); r.Status != protocol.StatusDelivered {
				t.Fatalf("edge-2 -> edge-1: %+v", r)
			}
		})
	}
}

// TestClusterKeyRefused: a link whose key the other edge does not accept is
// refused with 401 and reports ErrClusterKeyRefused; the order of the rotation's
// steps matters.
func TestClusterKeyRefused(t *testing.T) {
	const oldKey, newKey = "old-cluster-key-0123", "new-cluster-key-4567"
	for _, tc := range []struct {
		name       string
		a, b       []string
		aToB, bToA bool // whether each direction links
	}{
		{"disjoint key sets", []string{oldKey}, []string{newKey}, false, false},
		{"presenting the new key before it is accepted everywhere", []string{newKey, oldKey}, []string{oldKey}, false, true},
		{"removing the old key while another edge still presents it", []string{newKey}, []string{oldKey, newKey}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edges := mustKeyedCluster(t, tc.a, tc.b)
			edges[0].mustDial(t, "a1", "tv1")
			edges[1].mustDial(t, "a1", "phone1")
			for _, dir := range []struct {
				from   *keyedEdge
				to, d  string
				shared bool
			}{{edges[0], "edge-2", "phone1", tc.aToB}, {edges[1], "edge-1", "tv1", tc.bToA}} {
				r := deliverVia(dir.from, dir.to, "a1", dir.d, "k-"+dir.to)
				if dir.shared {
					if r.Status != protocol.StatusDelivered {
						t.Fatalf("to %s: %+v, want delivered", dir.to, r)
					}
					continue
				}
				if r.Status != protocol.StatusRejected || !strings.Contains(r.Error, "401") {
					t.Fatalf("to %s: %+v, want rejected for the cluster key", dir.to, r)
				}
				if err := linkErr(dir.from, dir.to); !errors.Is(err, ErrClusterKeyRefused) {
					t.Fatalf("link to %s reports %v, want ErrClusterKeyRefused", dir.to, err)
				}
			}
		})
	}
}

// TestInternalEndpointsNeedTheClusterKey: every request to the internal listener,
// whatever its path, is refused with 401 problem+json without an accepted key;
// an edge configured without keys accepts none.
func TestInternalEndpointsNeedTheClusterKey(t *testing.T) {
	const key = "internal-cluster-key-0123"
	edges := mustKeyedCluster(t, []string{key})
	keyless := mustEdge(t, nil)
	keylessHS := httptest.NewServer(keyless.srv.LinkHandler())
	t.Cleanup(keylessHS.Close)
	for _, tc := range []struct {
		name, base, path, auth string
		want                   int
	}{
		{"link without a key", edges[0].hs.URL, LinkPath, "", http.StatusUnauthorized},
		{"link with a wrong key", edges[0].hs.URL, LinkPath, "Bearer " + key + "x", http.StatusUnauthorized},
		{"link with a prefix of the key", edges[0].hs.URL, LinkPath, "Bearer " + key[:8], http.StatusUnauthorized},
		{"link with the key as Basic", edges[0].hs.URL, LinkPath, "Basic " + key, http.StatusUnauthorized},
		{"link with an empty bearer", edges[0].hs.URL, LinkPath, "Bearer ", http.StatusUnauthorized},
		{"unknown internal path without a key", edges[0].hs.URL, "/internal/v1/other", "", http.StatusUnauthorized},
		{"unknown internal path with the key", edges[0].hs.URL, "/internal/v1/other", "Bearer " + key, http.StatusNotFound},
		{"link with the key but no upgrade", edges[0].hs.URL, LinkPath, "Bearer " + key, http.StatusUpgradeRequired},
		{"an edge without keys, empty bearer", keylessHS.URL, LinkPath, "Bearer ", http.StatusUnauthorized},
		{"an edge without keys, some key", keylessHS.URL, LinkPath, "Bearer " + key, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.base+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %s %s, want %d", tc.path, resp.Status, body, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("401 as %q, want problem+json", resp.Header.Get("Content-Type"))
			}
		})
	}
	t.Run("a link without a key is refused", func(t *testing.T) {
		bad, err := NewLinks(LinksConfig{Addresses: &addrBook{addrs: map[string]string{"edge-1": edges[0].hs.URL}}, ClusterKey: " "})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		edges[0].mustDial(t, "a1", "tv1")
		if r := deliverVia(&keyedEdge{links: bad}, "edge-1", "a1", "tv1", "nokey"); r.Status != protocol.StatusRejected {
			t.Fatalf("result %+v", r)
		}
		if err := linkErr(&keyedEdge{links: bad}, "edge-1"); !errors.Is(err, ErrClusterKeyRefused) {
			t.Fatalf("link reports %v", err)
		}
	})
}
