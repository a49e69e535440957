package edge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

// countedTopics is the memory device list's DeviceTopics, counting the reads
// of a device's topics and failing them while fail is set.
type countedTopics struct {
	*devicelist.Memory
	mu    sync.Mutex
	reads int  // guarded by mu
	fail  bool // guarded by mu
}

var _ DeviceTopics = (*countedTopics)(nil)

func (c *countedTopics) Topics(ctx context.Context, account, device string) ([]string, error) {
	c.mu.Lock()
	c.reads++
	fail := c.fail
	c.mu.Unlock()
	if fail {
		return nil, errors.New("device list down")
	}
	return c.Memory.Topics(ctx, account, device)
}

func (c *countedTopics) setFail(fail bool) {
	c.mu.Lock()
	c.fail = fail
	c.mu.Unlock()
}

func (c *countedTopics) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// mustTopicsEdge starts an edge whose device list keeps persistent topics,
// with MaxTopics max.
func mustTopicsEdge(t *testing.T, max int) (*testEdge, *countedTopics) {
	t.Helper()
	var ct *countedTopics
	e := mustEdge(t, func(c *Config) {
		ct = &countedTopics{Memory: c.Devices.(*devicelist.Memory)}
		c.DeviceTopics = ct
		c.MaxTopics = max
	})
	return e, ct
}

// mustAddTopics subscribes account/device persistently to topics.
func (e *testEdge) mustAddTopics(tb testing.TB, account, device string, topics ...string) {
	tb.Helper()
	for _, topic := range topics {
		if _, err := e.devs.AddTopic(context.Background(), account, device, topic, 100); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.reg.BumpAccount(context.Background(), account); err != nil {
		tb.Fatal(err)
	}
}

// wantPublish publishes to topic on e and checks how many devices it reached.
func (e *testEdge) wantPublish(tb testing.TB, topic string, devices int) *protocol.Msg {
	tb.Helper()
	m := &protocol.Msg{ID: protocol.NewID(), Type: "notification.v1", From: &protocol.Sender{Service: "news"}, Payload: payload(map[string]string{"title": topic})}
	c, err := e.srv.PublishLocal(topic, m)
	if err != nil || c.Devices != devices || c.Dropped != 0 {
		tb.Fatalf("publish to %s reached %+v (%v), want %d devices", topic, c, err, devices)
	}
	return m
}

// TestDeviceTopicsAtConnect checks that a connecting device, WebSocket or
// SSE, holds its persistent topics once it has its welcome, whatever its
// token grants, within MaxTopics; that a device without any costs no read of
// them; and that a failed read leaves the connection up without them.
func TestDeviceTopicsAtConnect(t *testing.T) {
	e, ct := mustTopicsEdge(t, 3)
	e.mustList(t, "a1", "tv1", "sse1", "plain", "many")
	e.mustAddTopics(t, "a1", "tv1", "news", "scores")
	e.mustAddTopics(t, "a1", "sse1", "news")
	e.mustAddTopics(t, "a1", "many", "t1", "t2", "t3", "t4")

	t.Run("a device without persistent topics reads none", func(t *testing.T) {
		before := ct.readCount()
		e.mustDial(t, "a1", "plain")
		if n := ct.readCount() - before; n != 0 {
			t.Fatalf("%d reads of persistent topics for a device without any, want 0", n)
		}
	})

	// A token without a topics claim: the backend's subscriptions hold anyway.
	tv := e.mustDial(t, "a1", "tv1")
	events := e.mustEvents(t, "a1", "sse1")
	if w, err := protocol.Decode([]byte(nextEvent(t, events, true).data)); err != nil || w.Kind() != protocol.KindWelcome {
		t.Fatalf("first SSE event: %v, %v", w, err)
	}

	t.Run("websocket and SSE devices get a publish", func(t *testing.T) {
		m := e.wantPublish(t, "news", 2)
		if got := tv.readMsg(); got.ID != m.ID || got.Topic != "news" {
			t.Fatalf("tv1 got %+v, want %s through news", got, m.ID)
		}
		f, err := protocol.Decode([]byte(nextEvent(t, events, true).data))
		if got, ok := f.(*protocol.Msg); err != nil || !ok || got.ID != m.ID || got.Topic != "news" {
			t.Fatalf("sse1 got %+v (%v), want %s through news", f, err, m.ID)
		}
		e.wantPublish(t, "scores", 1)
		tv.readMsg()
	})

	t.Run("the token still limits sub frames", func(t *testing.T) {
		if res := tv.sub(false, "s1", "weather"); res[0].Status != protocol.TopicForbidden {
			t.Fatalf("sub of a topic the token does not grant: %+v", res)
		}
	})

	t.Run("persistent topics count against MaxTopics", func(t *testing.T) {
		e.mustDial(t, "a1", "many")
		held := 0
		for _, topic := range []string{"t1", "t2", "t3", "t4"} {
			held += e.srv.TopicSubscribers(topic)
		}
		if held != 3 {
			t.Fatalf("a device with 4 persistent topics holds %d at MaxTopics 3, want 3", held)
		}
	})

	t.Run("a failed read does not fail the connect", func(t *testing.T) {
		ct.setFail(true)
		defer ct.setFail(false)
		before := e.srv.TopicSubscribers("news")
		tv2 := e.mustDial(t, "a1", "tv1") // replaces the first connection
		if got := tv.closeStatus(); got != CloseReplaced {
			t.Fatalf("the older connection closed with %d, want %d", got, CloseReplaced)
		}
		// The older session leaves its topics when its reader ends.
		eventually(t, "news loses the older session", func() bool { return e.srv.TopicSubscribers("news") == before-1 })
		tv2.send(&protocol.Hello{})
		e.wantPublish(t, "scores", 0)
	})
}

// TestDeviceTopicsChanged checks that a change of a connected device's
// persistent topics is applied without a reconnect, that an older read never
// undoes a newer one, and that a session that ended takes none.
func TestDeviceTopicsChanged(t *testing.T) {
	e, _ := mustTopicsEdge(t, 100)
	e.mustList(t, "a1", "tv1")
	router := &Router{Local: e.srv, Registry: e.reg}
	tv := e.mustDial(t, "a1", "tv1")
	ctx := context.Background()
	e.wantPublish(t, "news", 0)

	e.mustAddTopics(t, "a1", "tv1", "news")
	if err := router.TopicsChanged(ctx, "a1", "tv1"); err != nil {
		t.Fatal(err)
	}
	m := e.wantPublish(t, "news", 1)
	if got := tv.readMsg(); got.ID != m.ID {
		t.Fatalf("got %s, want %s", got.ID, m.ID)
	}

	// A topic the device subscribed to with a sub frame too is ended by the
	// change that removes it.
	if _, err := e.devs.RemoveTopic(ctx, "a1", "tv1", "news"); err != nil {
		t.Fatal(err)
	}
	if err := router.TopicsChanged(ctx, "a1", "tv1"); err != nil {
		t.Fatal(err)
	}
	e.wantPublish(t, "news", 0)

	t.Run("an older read does not undo a newer one", func(t *testing.T) {
		ss := e.srv.session("a1", "tv1")
		older := e.srv.topicTickets.Add(1)
		newer := e.srv.topicTickets.Add(1)
		e.srv.setDeviceTopics(ss, newer, []string{"scores"})
		e.srv.setDeviceTopics(ss, older, []string{"news"})
		e.wantPublish(t, "news", 0)
		e.wantPublish(t, "scores", 1)
		tv.readMsg()
	})

	t.Run("an older read does not undo a newer empty one", func(t *testing.T) {
		e.mustDial(t, "a1", "tab1")
		ss := e.srv.session("a1", "tab1")
		older := e.srv.topicTickets.Add(1)
		newer := e.srv.topicTickets.Add(1)
		e.srv.setDeviceTopics(ss, newer, nil)
		e.srv.setDeviceTopics(ss, older, []string{"weather"})
		e.wantPublish(t, "weather", 0)
	})

	t.Run("a session that ended takes no topics", func(t *testing.T) {
		ss := e.srv.session("a1", "tv1")
		_ = tv.c.CloseNow()
		// finish detaches a session, then drops its topics: the read below
		// must come after both, as a late read does.
		eventually(t, "the session ends and its topics are dropped", func() bool {
			if e.srv.session("a1", "tv1") != nil {
				return false
			}
			ss.mu.Lock()
			defer ss.mu.Unlock()
			return ss.topics != nil && ss.topics.dropped
		})
		e.srv.setDeviceTopics(ss, e.srv.topicTickets.Add(1), []string{"late"})
		e.wantPublish(t, "late", 0)
		e.wantPublish(t, "scores", 0)
	})

	t.Run("a device not connected is no error", func(t *testing.T) {
		if err := router.TopicsChanged(ctx, "a1", "gone"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeviceTopicsLinkFrame checks that what a topics link frame does (read
// the held session's topics again, on a goroutine of its own) is done for the
// session it names and no other.
func TestDeviceTopicsLinkFrame(t *testing.T) {
	e, _ := mustTopicsEdge(t, 100)
	e.mustList(t, "a1", "tv1")
	tv := e.mustDial(t, "a1", "tv1")
	e.mustAddTopics(t, "a1", "tv1", "news")
	// Another session id changes nothing.
	e.srv.topicsChanged("a1", "tv1", "not-this-one")
	e.wantPublish(t, "news", 0)
	e.srv.topicsChanged("a1", "tv1", tv.welcome.Session)
	eventually(t, "the frame's read is applied", func() bool { return e.srv.TopicSubscribers("news") == 1 })
}

// BenchmarkConnectPersistentTopics measures a device's connect, from dial to
// welcome, and its close: on an edge without persistent topics, on one with
// them for a device that has none (the hot path: no read), and for a device
// with three (one read, three subscriptions). The device list is the memory
// one, so this is the edge's own cost, without a round trip to Postgres.
func BenchmarkConnectPersistentTopics(b *testing.B) {
	for _, bc := range []struct {
		name   string
		store  bool
		topics []string
	}{
		{"without store", false, nil},
		{"no topics", true, nil},
		{"three topics", true, []string{"a", "b", "c"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := mustEdge(b, func(c *Config) {
				if bc.store {
					c.DeviceTopics = c.Devices.(*devicelist.Memory)
				}
			})
			e.mustList(b, "a1", "tv1", "other")
			e.mustAddTopics(b, "a1", "other", "x")
			e.mustAddTopics(b, "a1", "tv1", bc.topics...)
			b.ReportAllocs()
			for b.Loop() {
				d := e.mustDial(b, "a1", "tv1")
				_ = d.c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
}

// downIDs is downDevices whose IDs fails too while down is set.
type downIDs struct{ *downDevices }

func (d downIDs) IDs(ctx context.Context, account string) ([]string, error) {
	if d.down.Load() {
		return nil, errors.New("device list store down")
	}
	return d.DeviceList.IDs(ctx, account)
}

// TestDeviceTopicsAfterAnOutage: a device that connects while the device list
// can be neither read nor written gets its persistent topics when the
// heartbeat lists it, without a reconnect.
func TestDeviceTopicsAfterAnOutage(t *testing.T) {
	var list *downDevices
	e := mustEdge(t, func(c *Config) {
		c.DeviceTopics = c.Devices.(*devicelist.Memory)
		list = &downDevices{DeviceList: c.Devices}
		c.Devices = downIDs{list}
		c.HeartbeatInterval = 50 * time.Millisecond
	})
	e.mustList(t, "a1", "tv1")
	e.mustAddTopics(t, "a1", "tv1", "news")
	list.down.Store(true)
	tv := e.mustDial(t, "a1", "tv1")
	e.wantPublish(t, "news", 0)
	list.down.Store(false)
	eventually(t, "the device's persistent topics", func() bool { return e.srv.TopicSubscribers("news") == 1 })
	m := e.wantPublish(t, "news", 1)
	if got := tv.readMsg(); got.ID != m.ID {
		t.Fatalf("got %s, want %s", got.ID, m.ID)
	}
}
