package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// collector reads every frame of a device in the background and records the
// messages it receives.
type collector struct {
	d    *clusterDevice
	name string

	mu    sync.Mutex
	count map[string]int       // id -> times received
	at    map[string]time.Time // id -> first receipt
	low   atomic.Int64         // low-priority messages received
	done  chan struct{}
}

func collect(t *testing.T, d *clusterDevice, name string) *collector {
	t.Helper()
	c := &collector{d: d, name: name, count: map[string]int{}, at: map[string]time.Time{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := d.c.Read(context.Background())
			if err != nil {
				return
			}
			f, err := protocol.Decode(data)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			m, ok := f.(*protocol.Msg)
			if !ok {
				continue
			}
			now := time.Now()
			c.mu.Lock()
			if c.count[m.ID] == 0 {
				c.at[m.ID] = now
			}
			c.count[m.ID]++
			c.mu.Unlock()
			if strings.HasPrefix(m.ID, "low-") {
				c.low.Add(1)
			}
		}
	}()
	t.Cleanup(func() { _ = d.c.CloseNow(); <-c.done })
	return c
}

func (c *collector) received(id string) (int, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[id], c.at[id]
}

// sendAsync posts to /v1/messages and returns the status and id.
func sendAsync(t *testing.T, apiAddr, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+apiAddr+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.SplitN(clusterAPIKey, ":", 2)[1])
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Errorf("POST /v1/messages: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	var out struct {
		ID     string `json:"id"`
		Detail string `json:"detail"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, out.Detail
	}
	return resp.StatusCode, out.ID
}

func asyncBody(account, device, extra string) string {
	return fmt.Sprintf(`{"to":{"account":%q,"device":%q},"type":"notification.v1","payload":{"title":"hi"}%s}`, account, device, extra)
}

// mustSend posts a message that must be accepted and returns its id.
func mustSend(t *testing.T, apiAddr, body string, header ...string) string {
	t.Helper()
	code, id := sendAsync(t, apiAddr, body, header...)
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages %s: %d %s", body, code, id)
	}
	return id
}

// statusOf reads GET /v1/messages/{id}.
func statusOf(t *testing.T, apiAddr, id string) processor.MessageStatus {
	t.Helper()
	code, body := apiCall(t, apiAddr, http.MethodGet, "/v1/messages/"+id, "")
	var st processor.MessageStatus
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("status %s: %v", body, err)
		}
	}
	return st
}

// waitOutcome polls the status of id until device has want.
func waitOutcome(t *testing.T, apiAddr, id, device string, want processor.Outcome) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st processor.MessageStatus
	for time.Now().Before(deadline) {
		st = statusOf(t, apiAddr, id)
		for _, d := range st.Devices {
			if d.Device == device && d.Status == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("message %s for %s never became %s: %+v", id, device, want, st)
}

// TestAsyncCluster runs the asynchronous path as separate processes: a Kafka
// cluster of three kfake brokers, a private Redis, two edges, one API process and
// two processors.
func TestAsyncCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	topics := processor.Topics{Prefix: "async-test."}
	kafka := testenv.Kafka(t, 3, topics.All()...)
	brokers := strings.Join(kafka.ListenAddrs(), ",")
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "async:", "--cluster-key", clusterKey,
		"--kafka-brokers", brokers, "--kafka-topic-prefix", topics.Prefix, "--kafka-session-timeout", "2s", "--kafka-produce-timeout", "2s"}
	e1 := startProc(t, "edge-1", append([]string{"--roles=edge", "--edge-id", "edge-1", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--roles=edge", "--edge-id", "edge-2", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...)
	apiProc := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)
	api := apiProc.addr
	startProcessor := func(name string) *proc {
		return startProc(t, name, append([]string{"--roles=processor", "--edge-id", name}, common...)...)
	}

	tv1 := collect(t, dialDevice(t, e1.addr, "a1", "tv1"), "a1/tv1")
	tv2 := collect(t, dialDevice(t, e2.addr, "a2", "tv2"), "a2/tv2")

	// Queued while no processor runs: one that expires before it is processed,
	// and five with one collapse key, of which only the newest is delivered.
	expired := mustSend(t, api, asyncBody("a1", "tv1", `,"ttl":1`))
	if st := statusOf(t, api, expired); st.Status != processor.Queued {
		t.Errorf("status right after 202: %+v, want queued", st)
	}
	var collapsed []string
	for range 5 {
		collapsed = append(collapsed, mustSend(t, api, asyncBody("a2", "tv2", `,"collapse_key":"score","ttl":0`)))
	}
	time.Sleep(1100 * time.Millisecond)
	p1 := startProcessor("processor-1")
	p2 := startProcessor("processor-2")

	t.Run("expired and collapsed messages are not delivered", func(t *testing.T) {
		newest := collapsed[len(collapsed)-1]
		waitOutcome(t, api, expired, "tv1", processor.Expired)
		waitOutcome(t, api, newest, "tv2", processor.Delivered)
		for _, id := range collapsed[:len(collapsed)-1] {
			waitOutcome(t, api, id, "tv2", processor.Collapsed)
		}
		for _, id := range append([]string{expired}, collapsed[:len(collapsed)-1]...) {
			if n, _ := tv1.received(id); n > 0 {
				t.Errorf("%s was delivered to tv1", id)
			}
			if n, _ := tv2.received(id); n > 0 {
				t.Errorf("%s was delivered to tv2", id)
			}
		}
	})

	t.Run("delivered, then acked", func(t *testing.T) {
		phone := dialDevice(t, e2.addr, "a1", "phone1")
		id := mustSend(t, api, asyncBody("a1", "phone1", `,"ack":true,"priority":"high"`))
		m := nextOf[*protocol.Msg](t, phone)
		if m.ID != id || !m.Ack || m.From == nil || m.From.Service != "backend" {
			t.Fatalf("phone got %+v", m)
		}
		waitOutcome(t, api, id, "phone1", processor.Delivered)
		phone.send(t, &protocol.Ack{ID: id})
		waitOutcome(t, api, id, "phone1", processor.Acked)
		st := statusOf(t, api, id)
		if st.Status != processor.Acked || st.Priority != protocol.PriorityHigh || st.Account != "a1" || st.Accepted == 0 {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("a repeated Idempotency-Key sends once", func(t *testing.T) {
		first := mustSend(t, api, asyncBody("a1", "tv1", ""), "Idempotency-Key", "order-42")
		second := mustSend(t, api, asyncBody("a1", "tv1", ""), "Idempotency-Key", "order-42")
		if first != second {
			t.Fatalf("ids %s and %s, want one", first, second)
		}
		marker := mustSend(t, api, asyncBody("a1", "tv1", ""))
		waitOutcome(t, api, marker, "tv1", processor.Delivered)
		waitFor(t, "the marker on tv1", func() bool { n, _ := tv1.received(marker); return n > 0 })
		if n, _ := tv1.received(first); n != 1 {
			t.Errorf("tv1 received the idempotent message %d times, want 1", n)
		}
	})

	t.Run("a batch is enqueued message by message, its keys on Redis", func(t *testing.T) {
		// Forty messages with keys (each settled against Redis), one invalid.
		var msgs []string
		for i := range 40 {
			msgs = append(msgs, asyncBody([]string{"a1", "a2"}[i%2], []string{"tv1", "tv2"}[i%2], fmt.Sprintf(`,"idempotency_key":"batch-%d"`, i)))
		}
		msgs = append(msgs, `{"to":{"account":"a1","device":"tv1"},"type":"no.such.v1","payload":{}}`)
		body := `{"messages":[` + strings.Join(msgs, ",") + `]}`
		type result struct {
			ID       string `json:"id"`
			Replayed bool   `json:"replayed"`
			Error    *struct {
				Status int `json:"status"`
			} `json:"error"`
		}
		post := func() []result {
			code, answer := apiCall(t, api, http.MethodPost, "/v1/messages/batch", body)
			var res struct {
				Results []result `json:"results"`
			}
			if code != http.StatusOK || json.Unmarshal([]byte(answer), &res) != nil || len(res.Results) != len(msgs) {
				t.Fatalf("POST /v1/messages/batch: %d %s", code, answer)
			}
			return res.Results
		}
		first := post()
		if r := first[40]; r.Error == nil || r.Error.Status != http.StatusUnprocessableEntity {
			t.Errorf("the invalid message: %+v", r)
		}
		again := post()
		for i, r := range first[:40] {
			if r.ID == "" || r.Error != nil {
				t.Fatalf("message %d: %+v", i, r)
			}
			if again[i].ID != r.ID || !again[i].Replayed {
				t.Errorf("message %d sent again: %+v, want replayed %s", i, again[i], r.ID)
			}
			device := []string{"tv1", "tv2"}[i%2]
			waitOutcome(t, api, r.ID, device, processor.Delivered)
		}
		for i, r := range first[:40] {
			c := []*collector{tv1, tv2}[i%2]
			if n, _ := c.received(r.ID); n != 1 {
				t.Errorf("message %d (%s) received %d times, want once", i, r.ID, n)
			}
		}
	})

	// Ten devices on the two edges for the load phases.
	var devs []*collector
	for i := range 10 {
		e := e1
		if i%2 == 1 {
			e = e2
		}
		devs = append(devs, collect(t, dialDevice(t, e.addr, fmt.Sprint("acct", i), "dev"), fmt.Sprint("acct", i)))
	}

	t.Run("high priority overtakes a low backlog", func(t *testing.T) {
		// The backlog is queued while no processor runs, so that the order
		// the processors deliver in does not depend on how fast this machine
		// produces 100,000 records beside them.
		const lows, highs = 100_000, 100
		p1.Stop(syscall.SIGTERM)
		p2.Stop(syscall.SIGTERM)
		prod, err := processor.NewProducer(processor.ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(kafka.ListenAddrs()...)}, Topics: topics})
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		recs := make([]*kgo.Record, 0, 5000)
		now := time.Now().UnixMilli()
		for i := range lows {
			m := processor.Message{ID: fmt.Sprintf("low-%06d", i), Account: fmt.Sprint("acct", i%10), Device: "dev", Type: "notification.v1",
				Payload: json.RawMessage(`{"title":"low"}`), Priority: protocol.PriorityLow, Accepted: now}
			v, _ := json.Marshal(m)
			recs = append(recs, &kgo.Record{Topic: topics.Messages(protocol.PriorityLow), Key: m.Key(), Value: v})
			if len(recs) == cap(recs) {
				if err := prod.Produce(t.Context(), recs...); err != nil {
					t.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		ids := make([]string, 0, highs)
		for i := range highs {
			ids = append(ids, mustSend(t, api, asyncBody(fmt.Sprint("acct", i%10), "dev", `,"priority":"high"`)))
		}
		started := time.Now()
		p1 = startProcessor("processor-1")
		p2 = startProcessor("processor-2")
		lowAt := func() int64 {
			var n int64
			for _, d := range devs {
				n += d.low.Load()
			}
			return n
		}
		var lat []time.Duration
		waitFor(t, "every high message", func() bool {
			lat = lat[:0]
			for i, id := range ids {
				n, at := devs[i%10].received(id)
				if n == 0 {
					return false
				}
				lat = append(lat, at.Sub(started))
			}
			return true
		})
		drained := lowAt()
		if drained >= lows {
			t.Fatalf("the low backlog (%d) drained before the high messages were delivered", lows)
		}
		slices.Sort(lat)
		t.Logf("100 high-priority messages behind %d queued low ones (%d delivered when the last high arrived): from the processors' start p50 %v, p99 %v, max %v",
			lows, drained, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
		deadline := time.Now().Add(3 * time.Minute)
		for lowAt() < lows && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := lowAt(); n < lows {
			t.Fatalf("only %d of %d low messages delivered", n, lows)
		}
	})

	t.Run("a processor killed mid-stream loses nothing", func(t *testing.T) {
		const total = 3000
		ids := make(chan string, total)
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < total; i += 8 {
					code, id := sendAsync(t, api, asyncBody(fmt.Sprint("acct", i%10), "dev", ""))
					if code == http.StatusAccepted {
						ids <- id
						if accepted.Add(1) == total/3 {
							p1.Kill()
						}
					} else {
						t.Errorf("send %d: %d %s", i, code, id)
					}
				}
			})
		}
		wg.Wait()
		close(ids)
		var all []string
		for id := range ids {
			all = append(all, id)
		}
		missing := func() []string {
			var out []string
			for _, id := range all {
				found := false
				for _, d := range devs {
					if n, _ := d.received(id); n > 0 {
						found = true
						break
					}
				}
				if !found {
					out = append(out, id)
				}
			}
			return out
		}
		deadline := time.Now().Add(90 * time.Second)
		for len(missing()) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if m := missing(); len(m) > 0 {
			t.Fatalf("%d of %d accepted messages never delivered, e.g. %v", len(m), len(all), m[:min(5, len(m))])
		}
		t.Logf("all %d accepted messages delivered with processor-1 killed after %d", len(all), total/3)
	})

	t.Run("Kafka unreachable gives 503", func(t *testing.T) {
		kafka.Close()
		start := time.Now()
		code, detail := sendAsync(t, api, asyncBody("a1", "tv1", ""))
		if code != http.StatusServiceUnavailable {
			t.Fatalf("send with Kafka down: %d %s, want 503", code, detail)
		}
		t.Logf("503 after %v: %s", time.Since(start).Round(time.Millisecond), detail)
	})
}
