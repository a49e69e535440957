package processor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroupTimeoutsResolve(t *testing.T) {
	got, err := GroupTimeouts{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := (GroupTimeouts{Session: DefaultSessionTimeout, Rebalance: DefaultRebalanceTimeout, Heartbeat: DefaultSessionTimeout / 5}); got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	for _, bad := range []GroupTimeouts{
		{Session: -time.Second},
		{Rebalance: -time.Second},
		{Heartbeat: -time.Second},
		{Session: 2 * time.Second, Heartbeat: 2 * time.Second},
		{Session: 2 * time.Second, Heartbeat: 3 * time.Second},
		{Rebalance: 10 * time.Millisecond},
	} {
		if _, err := bad.resolve(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := New(Config{Kafka: []kgo.Opt{kgo.SeedBrokers("x")}, Deliverer: newRecorder(), Directory: newRecorder(),
		SessionTimeout: time.Second, HeartbeatInterval: time.Second}); err == nil {
		t.Error("New took a heartbeat interval equal to the session timeout")
	}
}

// killSwitch dials a client's connections and, once killed, cuts them all and
// refuses new ones: the client is as a SIGKILLed process to the brokers, gone
// without leaving its groups.
type killSwitch struct {
	mu     sync.Mutex
	dead   bool
	conns  []net.Conn
	dialer net.Dialer
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := k.dialer.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// TestGroupDeadMemberWhileForming kills one of two processors while their
// consumer group forms, after it joined and before it took its assignment, and
// checks that the survivor consumes every partition within a bound of the
// configured timeouts, well below franz-go's 60s default rebalance timeout, and
// that the configured timeouts reach the brokers in the members' joins.
//
// kfake expires this dead member after its session timeout. It waits for the
// rebalance timeout instead only for a member whose join answer could not be
// written (killed with its JoinGroup pending), and then only when that member
// was chosen leader; otherwise it keeps the member, without a session timer,
// for good. That case depends on kfake's choice of leader, so it is not tested.
func TestGroupDeadMemberWhileForming(t *testing.T) {
	topics := Topics{Prefix: "t."}
	c := testenv.Kafka(t, 1, topics.All()...)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	const (
		session   = time.Second
		rebalance = 2 * time.Second
	)
	group := DefaultGroup + "." + string(protocol.PriorityNormal)

	// The group members' joins say which timeouts reached the client.
	var (
		mu     sync.Mutex
		joined = map[string][2]int32{} // client id: session, rebalance ms
	)
	c.ControlKey(int16(kmsg.JoinGroup), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if req := r.(*kmsg.JoinGroupRequest); req.Group == group && req.MemberID != "" {
			mu.Lock()
			joined[strings.SplitN(req.MemberID, "-", 2)[0]] = [2]int32{req.SessionTimeoutMillis, req.RebalanceTimeoutMillis}
			mu.Unlock()
		}
		return nil, nil, false
	})
	// The doomed processor dies on its first SyncGroup of the normal group: it
	// is a member the group waits for, and it never takes an assignment.
	doomed := &killSwitch{}
	killed := make(chan struct{})
	c.ControlKey(int16(kmsg.SyncGroup), func(r kmsg.Request) (kmsg.Response, error, bool) {
		if req := r.(*kmsg.SyncGroupRequest); req.Group != group || !strings.HasPrefix(req.MemberID, "doomed") {
			return nil, nil, false
		}
		doomed.kill()
		close(killed)
		return nil, errors.New("killed"), true
	})

	prod, err := NewProducer(ProducerConfig{Kafka: opts, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 60
	var online []string
	for i := range n {
		account := fmt.Sprintf("a%d", i)
		online = append(online, account+"/tv")
		m := Message{ID: fmt.Sprintf("g%03d", i), Account: account, Device: "tv", Type: "notification.v1",
			Payload: []byte(`{}`), Priority: protocol.PriorityNormal, Accepted: time.Now().UnixMilli()}
		if err := prod.Enqueue(t.Context(), &m); err != nil {
			t.Fatal(err)
		}
	}

	survivor := newRecorder(online...)
	run := func(name string, kopts []kgo.Opt, rec *recorder) func() {
		proc, err := New(Config{Kafka: append(append([]kgo.Opt{}, kopts...), kgo.ClientID(name)), Topics: topics,
			Deliverer: rec, Directory: rec, SessionTimeout: session, RebalanceTimeout: rebalance,
			DeliveryTimeout: time.Second, RetryBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := proc.Run(ctx); err != nil && name != "doomed" {
				t.Errorf("%s: %v", name, err)
			}
		}()
		return func() { cancel(); <-done }
	}
	stopDoomed := run("doomed", append(append([]kgo.Opt{}, opts...), kgo.Dialer(doomed.dial)), newRecorder(online...))
	defer stopDoomed()
	stopSurvivor := run("survivor", opts, survivor)
	defer stopSurvivor()

	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the doomed processor never reached SyncGroup")
	}
	// Generous: the session and rebalance timeouts plus a heartbeat and a
	// rejoin each, many times over; franz-go's default rebalance timeout alone
	// (60s) would exceed it.
	bound := 10 * (session + rebalance)
	deadline := time.Now().Add(bound)
	for len(survivor.delivered()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor delivered %d of %d messages within %v of the kill", len(survivor.delivered()), n, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	want := [2]int32{int32(session.Milliseconds()), int32(rebalance.Milliseconds())}
	for _, name := range []string{"doomed", "survivor"} {
		if got, ok := joined[name]; !ok || got != want {
			t.Errorf("%s joined with session, rebalance timeouts %v ms, want %v", name, got, want)
		}
	}
}
