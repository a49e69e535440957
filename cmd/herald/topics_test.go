package main

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// dialTopics connects account/device to an edge of the cluster tests with a
// token granting patterns, subscribes it to topics and reads the answer.
func dialTopics(t *testing.T, edgeAddr, account, device string, patterns []string, topics ...string) *clusterDevice {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(clusterSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.IssueTopics(account, device, time.Hour, patterns)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+edgeAddr+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatalf("dial %s: %v", edgeAddr, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &clusterDevice{c: c}
	if _, ok := d.next(t).(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	if len(topics) > 0 {
		d.send(t, &protocol.Sub{Topics: topics})
		s, ok := d.next(t).(*protocol.Subs)
		if !ok || len(s.Results) != len(topics) {
			t.Fatalf("sub answered %+v", s)
		}
		for _, r := range s.Results {
			if r.Status != protocol.TopicSubscribed {
				t.Fatalf("sub answered %+v", s)
			}
		}
	}
	return d
}

// publishTo publishes a notification to topic through the API at apiAddr.
func publishTo(t *testing.T, apiAddr, topic, title string) protocol.PublishResult {
	t.Helper()
	code, body := apiCall(t, apiAddr, http.MethodPost, "/v1/topics/"+topic+"/messages", `{"type":"notification.v1","payload":{"title":"`+title+`"}}`)
	var out struct {
		ID string `json:"id"`
		protocol.PublishResult
	}
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil || out.ID == "" {
		t.Fatalf("publish: %d %s", code, body)
	}
	return out.PublishResult
}

// TestTopicsCluster publishes across three edges of `herald serve` and an API
// process on one Redis: every subscriber, of any account and on any edge, gets
// the message exactly once, with its topic; a device that unsubscribed, or
// subscribed to another topic, does not.
func TestTopicsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "topics:", "--cluster-key", clusterKey}
	var edges []*proc
	for _, id := range []string{"edge-1", "edge-2", "edge-3"} {
		edges = append(edges, startProc(t, id, append([]string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...))
	}
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)

	all := []string{"*"}
	tv := dialTopics(t, edges[0].addr, "a1", "tv1", []string{"news.*"}, "news.sports")
	phone := dialTopics(t, edges[1].addr, "a2", "phone1", all, "news.sports")
	tab := dialTopics(t, edges[2].addr, "a3", "tab1", all, "news.sports")
	weather := dialTopics(t, edges[2].addr, "a4", "tv1", all, "news.weather")
	tab2 := dialTopics(t, edges[0].addr, "a1", "tab2", all, "news.sports") // a second subscriber on edge 1

	res := publishTo(t, api.addr, "news.sports", "first")
	if res.Edges != 3 || res.Devices != 4 || res.Dropped != 0 || len(res.Failed) != 0 {
		t.Fatalf("publish reached %+v, want 3 edges and 4 devices", res)
	}
	for _, d := range []*clusterDevice{tv, phone, tab, tab2} {
		if m := nextOf[*protocol.Msg](t, d); m.Topic != "news.sports" || m.From == nil || m.From.Service != "backend" {
			t.Fatalf("subscriber got %+v", m)
		}
	}

	// tab leaves; the next publish reaches the others only, once each.
	tab.send(t, &protocol.Unsub{Topics: []string{"news.sports"}})
	if s := nextOf[*protocol.Subs](t, tab); s.Results[0].Status != protocol.TopicUnsubscribed {
		t.Fatalf("unsub answered %+v", s)
	}
	res = publishTo(t, api.addr, "news.sports", "second")
	if res.Devices != 3 || len(res.Failed) != 0 {
		t.Fatalf("publish after an unsub reached %+v, want 3 devices", res)
	}
	for _, d := range []*clusterDevice{tv, phone, tab2} {
		if m := nextOf[*protocol.Msg](t, d); !strings.Contains(string(m.Payload), "second") {
			t.Fatalf("subscriber got %s, want the second", m.Payload)
		}
	}
	if res := publishTo(t, api.addr, "news.weather", "rain"); res.Edges != 1 || res.Devices != 1 {
		t.Fatalf("news.weather reached %+v, want one edge and one device", res)
	}
	if m := nextOf[*protocol.Msg](t, weather); !strings.Contains(string(m.Payload), "rain") {
		t.Fatalf("weather got %s", m.Payload)
	}
	// tab got nothing since it left: the next frame it reads is a push to it.
	if code, body := apiCall(t, api.addr, http.MethodPost, "/v1/push", `{"to":{"account":"a3","device":"tab1"},"type":"notification.v1","payload":{"title":"direct"}}`); code != http.StatusOK {
		t.Fatalf("push: %d %s", code, body)
	}
	if m := nextOf[*protocol.Msg](t, tab); m.Topic != "" || !strings.Contains(string(m.Payload), "direct") {
		t.Fatalf("tab got %+v first, want the direct push: it left news.sports", m)
	}
}

// TestTopicsDev is the new user's try: two `herald listen` of two accounts
// subscribed to news.sports on `herald dev`, one `herald publish`, and both
// print the message.
func TestTopicsDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald dev")
	}
	dev := mustDev(t)
	l1 := startListen(t, dev.base, "tv1", "--topics", "news.sports")
	l2 := startListen(t, dev.base, "phone1", "--account", "a2", "--topics", "news.sports")
	for _, l := range []*listenProc{l1, l2} {
		waitFor(t, "the listener's subscription", func() bool {
			return l.count(protocol.KindSubs, func(f protocol.Frame) bool {
				s := f.(*protocol.Subs)
				return len(s.Results) == 1 && s.Results[0].Status == protocol.TopicSubscribed
			}) == 1
		})
	}
	r := runCmd(t, t.Context(), "publish", "--url", dev.base, "--topic", "news.sports", "--type", "notification.v1", "--payload", `{"title":"Goal!"}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"devices":2`) {
		t.Fatalf("herald publish: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, l := range []*listenProc{l1, l2} {
		waitFor(t, "the published message", func() bool {
			return l.count(protocol.KindMsg, func(f protocol.Frame) bool {
				m := f.(*protocol.Msg)
				return m.Topic == "news.sports" && strings.Contains(string(m.Payload), "Goal!")
			}) == 1
		})
	}

	// The same through the embedded Kafka: an id, the message, then its
	// status with the counts.
	r = runCmd(t, t.Context(), "publish", "--url", dev.base, "--async", "--topic", "news.sports", "--type", "notification.v1", "--payload", `{"title":"Async goal"}`)
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !protocol.ValidMsgID(id) {
		t.Fatalf("herald publish --async: %d %q %s", r.code, r.stdout, r.stderr)
	}
	for _, l := range []*listenProc{l1, l2} {
		waitFor(t, "the message published through Kafka", func() bool {
			return l.count(protocol.KindMsg, func(f protocol.Frame) bool { return f.(*protocol.Msg).ID == id }) == 1
		})
	}
	waitFor(t, "the published status", func() bool {
		r = runCmd(t, t.Context(), "status", "--url", dev.base, id)
		return r.code == 0 && strings.Contains(r.stdout, "edges reached 1, devices 2, dropped 0, edges failed 0")
	})
	if r := runCmd(t, t.Context(), "publish", "--url", dev.base, "--priority", "high", "--topic", "news.sports", "--type", "notification.v1", "--payload", `{"title":"x"}`); r.code != 2 {
		t.Fatalf("--priority without --async: %d %s", r.code, r.stderr)
	}
}

// topicCountOf reads GET /v1/topics/{topic}.
func topicCountOf(t *testing.T, apiAddr, topic string) protocol.TopicSubscribers {
	t.Helper()
	code, body := apiCall(t, apiAddr, http.MethodGet, "/v1/topics/"+topic, "")
	var out protocol.TopicSubscribers
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/topics/%s: %d %s", topic, code, body)
	}
	return out
}

// waitPublished polls the status of the topic message id until it is no
// longer queued, and returns it.
func waitPublished(t *testing.T, apiAddr, id string) processor.MessageStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st processor.MessageStatus
	for time.Now().Before(deadline) {
		st = statusOf(t, apiAddr, id)
		if st.Status != "" && st.Status != processor.Queued {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("message %s was never processed: %+v", id, st)
	return st
}

// TestAsyncTopicsCluster publishes to a topic through Kafka across separate
// processes: two edges, an API process and a processor on one Redis and a
// kfake cluster. GET /v1/topics/{topic} counts the subscribers of both edges;
// `herald publish --async` prints an id, the subscribers of both edges get the
// message once, and its status (`herald status`) counts the edges and
// devices reached. Then one edge is killed: the next publish reaches the
// other edge's subscribers, and its status and the count name the dead edge
// as failed.
func TestAsyncTopicsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	topics := processor.Topics{Prefix: "async-topics."}
	kafka := testenv.Kafka(t, 1, topics.All()...)
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	// A long edge TTL keeps the killed edge listed in the topic directory, so
	// that the publish after the kill tries it and fails, whatever the timing.
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "atopics:", "--cluster-key", clusterKey,
		"--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--kafka-topic-prefix", topics.Prefix,
		"--kafka-session-timeout", "2s", "--edge-ttl", "5m", "--publish-timeout", "2s"}
	edgeArgs := func(id string) []string {
		return append([]string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)
	}
	e1 := startProc(t, "edge-1", edgeArgs("edge-1")...)
	e2 := startProc(t, "edge-2", edgeArgs("edge-2")...)
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)
	startProc(t, "processor-1", append([]string{"--roles=processor", "--edge-id", "processor-1"}, common...)...)

	all := []string{"*"}
	tv := dialTopics(t, e1.addr, "a1", "tv1", all, "news.sports")
	phone := dialTopics(t, e1.addr, "a2", "phone1", all, "news.sports")
	tab := dialTopics(t, e2.addr, "a3", "tab1", all, "news.sports")

	want := protocol.TopicSubscribers{Topic: "news.sports", Subscribers: 3,
		Edges: []protocol.EdgeSubscribers{{Edge: "edge-1", Subscribers: 2}, {Edge: "edge-2", Subscribers: 1}}}
	if got := topicCountOf(t, api.addr, "news.sports"); !reflect.DeepEqual(got, want) {
		t.Fatalf("count %+v, want %+v", got, want)
	}

	base, key := "http://"+api.addr, strings.SplitN(clusterAPIKey, ":", 2)[1]
	r := runCmd(t, t.Context(), "publish", "--url", base, "--key", key, "--async", "--topic", "news.sports",
		"--type", "notification.v1", "--payload", `{"title":"kick-off"}`)
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || !protocol.ValidMsgID(id) {
		t.Fatalf("herald publish --async: %d %q %s", r.code, r.stdout, r.stderr)
	}
	for _, d := range []*clusterDevice{tv, phone, tab} {
		if m := nextOf[*protocol.Msg](t, d); m.ID != id || m.Topic != "news.sports" || m.From == nil || m.From.Service != "backend" {
			t.Fatalf("subscriber got %+v, want %s on news.sports from backend", m, id)
		}
	}
	st := waitPublished(t, api.addr, id)
	if st.Status != processor.Published || st.Topic != "news.sports" || st.Published == nil ||
		st.Published.Edges != 2 || st.Published.Devices != 3 || st.Published.Dropped != 0 || len(st.Published.Failed) != 0 {
		t.Fatalf("status %+v (published %+v), want published to 2 edges and 3 devices", st, st.Published)
	}
	r = runCmd(t, t.Context(), "status", "--url", base, "--key", key, id)
	if r.code != 0 || !strings.Contains(r.stdout, "to topic news.sports") || !strings.Contains(r.stdout, ": published") ||
		!strings.Contains(r.stdout, "edges reached 2, devices 3, dropped 0, edges failed 0") {
		t.Fatalf("herald status: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// edge-2 dies: its subscriber is unreached, and the status says so.
	e2.Kill()
	code, body := apiCall(t, api.addr, http.MethodPost, "/v1/topics/news.sports/messages", `{"type":"notification.v1","payload":{"title":"half-time"},"async":true}`)
	var acc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &acc); code != http.StatusAccepted || err != nil || acc.ID == "" {
		t.Fatalf("async publish: %d %s", code, body)
	}
	for _, d := range []*clusterDevice{tv, phone} {
		if m := nextOf[*protocol.Msg](t, d); m.ID != acc.ID {
			t.Fatalf("subscriber got %+v, want %s", m, acc.ID)
		}
	}
	st = waitPublished(t, api.addr, acc.ID)
	if st.Status != processor.Published || st.Published == nil || st.Published.Edges != 1 || st.Published.Devices != 2 ||
		len(st.Published.Failed) != 1 || st.Published.Failed[0].Edge != "edge-2" || st.Published.Failed[0].Error == "" {
		t.Fatalf("status after edge-2 died: %+v (published %+v), want 1 edge, 2 devices and edge-2 failed", st, st.Published)
	}
	r = runCmd(t, t.Context(), "status", "--url", base, "--key", key, acc.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "edges failed 1") || !strings.Contains(r.stdout, "edge-2") {
		t.Fatalf("herald status: %d %s %s", r.code, r.stdout, r.stderr)
	}
	got := topicCountOf(t, api.addr, "news.sports")
	if got.Subscribers != 2 || len(got.Edges) != 1 || got.Edges[0] != (protocol.EdgeSubscribers{Edge: "edge-1", Subscribers: 2}) ||
		len(got.Failed) != 1 || got.Failed[0].Edge != "edge-2" {
		t.Fatalf("count after edge-2 died: %+v", got)
	}
}

// TestTopicsCatchUpCluster: a device that was away catches up on a topic
// from its log in Redis on another edge than the one it left: what was
// published meanwhile arrives, in order, before what is published after.
func TestTopicsCatchUpCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "catchup:", "--cluster-key", clusterKey}
	e1 := startProc(t, "edge-1", append([]string{"--roles=edge", "--edge-id", "edge-1", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--roles=edge", "--edge-id", "edge-2", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)

	tv := dialTopics(t, e1.addr, "a1", "tv1", []string{"news.*"}, "news.sports")
	first := publishTo(t, api.addr, "news.sports", "p1")
	m := nextOf[*protocol.Msg](t, tv)
	if m.Seq != first.Seq || first.Seq == 0 {
		t.Fatalf("p1 has seq %d, the publish said %d", m.Seq, first.Seq)
	}
	_ = tv.c.CloseNow()
	var missed []uint64
	for _, title := range []string{"p2", "p3"} {
		res := publishTo(t, api.addr, "news.sports", title)
		missed = append(missed, res.Seq)
	}

	tv = dialTopics(t, e2.addr, "a1", "tv1", []string{"news.*"})
	tv.send(t, &protocol.Sub{Topics: []string{"news.sports"}, After: map[string]uint64{"news.sports": first.Seq}})
	if s := nextOf[*protocol.Subs](t, tv); s.Results[0].Status != protocol.TopicSubscribed {
		t.Fatalf("sub answered %+v", s)
	}
	for i, title := range []string{"p2", "p3"} {
		m := nextOf[*protocol.Msg](t, tv)
		if m.Seq != missed[i] || !strings.Contains(string(m.Payload), title) || m.Topic != "news.sports" {
			t.Fatalf("caught up on %+v, want %s with seq %d", m, title, missed[i])
		}
	}
	publishTo(t, api.addr, "news.sports", "p4")
	if m := nextOf[*protocol.Msg](t, tv); !strings.Contains(string(m.Payload), "p4") {
		t.Fatalf("after the catch-up got %s, want p4", m.Payload)
	}
}
