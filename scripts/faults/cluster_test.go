package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	tokenSecret = "faults-test-token-secret-32-bytes-long"
	clusterKey  = "faults-test-cluster-key-0123456789"
	apiKey      = "faults-api-secret"
)

// cluster is the shared storage of one scenario's processes: a private Postgres
// database and a private redis-server, and the flags every process gets.
type cluster struct {
	t      *testing.T
	pg     string
	redis  *testenv.RedisServer
	common []string
}

// newCluster prepares the storage; extra flags go to every process.
func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	return newClusterOn(t, testenv.Postgres(t), extra...)
}

// newClusterOn is newCluster on the Postgres database at pg (a server of the
// scenario's own, which it may stop and start).
func newClusterOn(t *testing.T, pg string, extra ...string) *cluster {
	t.Helper()
	return newClusterWith(t, pg, testenv.StartRedis(t), extra...)
}

// newClusterWith is newClusterOn with the scenario's own redis-server (one
// started with options, such as Durable).
func newClusterWith(t *testing.T, pg string, redis *testenv.RedisServer, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, pg: pg, redis: redis}
	c.common = append([]string{"--postgres-url", c.pg, "--redis-addr", c.redis.Addr, "--redis-prefix", "faults:",
		"--cluster-key", clusterKey, "--token-secret", tokenSecret, "--api-keys", "backend:" + apiKey,
		"--edge-ttl", "2s", "--heartbeat-interval", "500ms", "--msg-rate", "100000", "--msg-burst", "100000",
		"--log-level", "info"}, extra...)
	return c
}

// start runs `herald serve` with the cluster's flags and args.
func (c *cluster) start(name string, args ...string) *testenv.Herald {
	c.t.Helper()
	return testenv.StartHerald(c.t, heraldBin, name, "serve", append(append([]string{}, c.common...), args...)...)
}

// edge runs an edge (with the API role too) named name; its link address is
// advertise when not empty.
func (c *cluster) edge(name, internal, advertise string, args ...string) *testenv.Herald {
	c.t.Helper()
	if internal == "" {
		internal = "127.0.0.1:0"
	}
	a := []string{"--roles=edge,api", "--edge-id", name, "--internal-addr", internal}
	if advertise != "" {
		a = append(a, "--advertise-addr", advertise)
	}
	return c.start(name, append(a, args...)...)
}

var (
	issuerOnce sync.Once
	issuer     *token.Issuer
)

// deviceToken issues a device token of an hour.
func deviceToken(t *testing.T, account, device string) string {
	t.Helper()
	issuerOnce.Do(func() {
		var err error
		issuer, err = token.NewHS256Issuer(token.HS256Key{Secret: []byte(tokenSecret)})
		if err != nil {
			panic(err)
		}
	})
	tok, err := issuer.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialWS opens a device connection and reads its welcome. The returned status is
// the HTTP status of a refused upgrade (0 when the dial failed otherwise).
func dialWS(ctx context.Context, addr, tok string) (*websocket.Conn, int, error) {
	return dialWSWith(ctx, nil, addr, tok)
}

// dialWSWith is dialWS through client (nil: the default client).
func dialWSWith(ctx context.Context, client *http.Client, addr, tok string) (*websocket.Conn, int, error) {
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/v1/connect", &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		return nil, code, err
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, 0, fmt.Errorf("read welcome: %w", err)
	}
	if f, err := protocol.Decode(data); err != nil || f.Kind() != protocol.KindWelcome {
		_ = c.CloseNow()
		return nil, 0, fmt.Errorf("first frame %s is not a welcome (%v)", data, err)
	}
	return c, http.StatusSwitchingProtocols, nil
}

// peer is one logical device: it may connect several times in a row (after its
// edge died), and records every frame it received on any of its connections.
type peer struct {
	t       *testing.T
	account string
	id      string

	mu       sync.Mutex
	conn     *websocket.Conn                  // guarded by mu: the newest connection
	live     bool                             // guarded by mu: conn's reader runs
	ended    chan struct{}                    // guarded by mu: closed when conn's reader ends
	opened   time.Time                        // guarded by mu: when conn read its welcome
	msgs     map[string]int                   // guarded by mu: message id -> times received
	recvAt   map[string]time.Time             // guarded by mu: when each message id first arrived
	receipts map[string][]protocol.Result     // guarded by mu: the newest receipt of each id sent
	errs     map[string]protocol.Code         // guarded by mu: error frames by the id they answer
	waiters  map[string]chan protocol.Receipt // guarded by mu: senders waiting for a receipt
	errWait  map[string]chan protocol.Code    // guarded by mu
	readers  sync.WaitGroup
}

// newPeer makes a device; its connections are closed when the test ends.
func newPeer(t *testing.T, account, id string) *peer {
	p := &peer{t: t, account: account, id: id, msgs: map[string]int{}, recvAt: map[string]time.Time{}, receipts: map[string][]protocol.Result{},
		errs: map[string]protocol.Code{}, waiters: map[string]chan protocol.Receipt{}, errWait: map[string]chan protocol.Code{}}
	t.Cleanup(p.close)
	return p
}

// connect connects to the edge at addr, retrying for up to bound, and reads in the
// background until the connection ends.
func (p *peer) connect(addr string) error {
	deadline := time.Now().Add(bound)
	for {
		err := p.connectOnce(addr, 10*time.Second)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connectOnce makes one attempt to connect to the edge at addr, bounded by
// timeout, and reads in the background until the connection ends.
func (p *peer) connectOnce(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c, _, err := dialWS(ctx, addr, deviceToken(p.t, p.account, p.id))
	cancel()
	if err != nil {
		return fmt.Errorf("%s/%s: connect to %s: %w", p.account, p.id, addr, err)
	}
	c.SetReadLimit(1 << 20)
	ended := make(chan struct{})
	p.mu.Lock()
	p.conn, p.live, p.ended, p.opened = c, true, ended, time.Now()
	p.mu.Unlock()
	p.readers.Add(1)
	go p.read(c, ended)
	return nil
}

// read records the frames of c until it ends, then closes ended.
func (p *peer) read(c *websocket.Conn, ended chan struct{}) {
	defer p.readers.Done()
	defer close(ended)
	defer func() {
		p.mu.Lock()
		if p.conn == c {
			p.live = false
		}
		p.mu.Unlock()
	}()
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		f, err := protocol.Decode(data)
		if err != nil {
			p.t.Errorf("%s/%s: undecodable frame %s: %v", p.account, p.id, data, err)
			continue
		}
		p.mu.Lock()
		switch f := f.(type) {
		case *protocol.Msg:
			if p.msgs[f.ID] == 0 {
				p.recvAt[f.ID] = time.Now()
			}
			p.msgs[f.ID]++
		case *protocol.Receipt:
			p.receipts[f.ID] = f.Results
			if ch := p.waiters[f.ID]; ch != nil {
				delete(p.waiters, f.ID)
				ch <- *f
			}
		case *protocol.Error:
			p.errs[f.Re] = f.Code
			if ch := p.errWait[f.Re]; ch != nil {
				delete(p.errWait, f.Re)
				ch <- f.Code
			}
		}
		p.mu.Unlock()
	}
}

// connected reports whether the newest connection is still open.
func (p *peer) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// endedCh returns a channel closed when the newest connection ends (nil before
// the first).
func (p *peer) endedCh() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

// openedAt returns when the newest connection read its welcome: every frame
// it received came after.
func (p *peer) openedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened
}

// received reports how many times message id arrived.
func (p *peer) received(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgs[id]
}

// arrived reports when message id first arrived (false if it has not).
func (p *peer) arrived(id string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.recvAt[id]
	return at, ok
}

// drop closes the newest connection without waiting for its reader, as a
// device that takes it as lost does.
func (p *peer) drop() {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		_ = c.CloseNow()
	}
}

// close closes the connection and waits for its readers.
func (p *peer) close() {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		_ = c.CloseNow()
	}
	p.readers.Wait()
}

// errNoAnswer is a device message that got neither a receipt nor an error frame.
var errNoAnswer = errors.New("no receipt and no error frame")

// sendD2D sends a device-to-device message to target and waits for its first
// receipt, or an error frame; a connection that ends first, or no answer within
// bound, is errNoAnswer.
func (p *peer) sendD2D(id, target string) ([]protocol.Result, protocol.Code, error) {
	return p.sendMsg(&protocol.Msg{ID: id, Type: "playback.control.v1", To: &protocol.Target{Device: target},
		Payload: json.RawMessage(`{"action":"pause"}`)})
}

// sendMsg sends m on the newest connection and waits for its first receipt, or
// an error frame, as sendD2D does.
func (p *peer) sendMsg(m *protocol.Msg) ([]protocol.Result, protocol.Code, error) {
	id := m.ID
	rc := make(chan protocol.Receipt, 1)
	ec := make(chan protocol.Code, 1)
	p.mu.Lock()
	c := p.conn
	p.waiters[id], p.errWait[id] = rc, ec
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, id)
		delete(p.errWait, id)
		p.mu.Unlock()
	}()
	b, err := protocol.Encode(m)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, "", fmt.Errorf("write: %w", err)
	}
	select {
	case r := <-rc:
		return r.Results, "", nil
	case code := <-ec:
		return nil, code, nil
	case <-ctx.Done():
		return nil, "", errNoAnswer
	}
}

// httpClient bounds every REST call: a call that runs into it has hung.
var httpClient = &http.Client{Timeout: bound, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// restCall makes an authenticated REST call and decodes a JSON answer into out.
func restCall(addr, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return resp.StatusCode, nil
}

// notification is the body of a push or an async message to one device.
func notification(account, device string, extra map[string]any) map[string]any {
	b := map[string]any{"to": map[string]string{"account": account, "device": device}, "type": "notification.v1",
		"payload": map[string]string{"title": "fault"}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// push makes a sync push to one device and returns its result; an error is a
// push that got no answer (a hang, cut short by the client's bound) or not 200.
// The push has ttl 0, now or never: the scenarios here count the live path, and
// a push to a device between two connections is offline rather than stored.
func push(addr, account, device string, timeoutMS int, extra map[string]any) (protocol.Result, string, error) {
	body := notification(account, device, extra)
	body["timeout_ms"] = timeoutMS
	if _, ok := body["ttl"]; !ok {
		body["ttl"] = 0
	}
	return postPush(addr, body)
}

// postPush makes one sync push of body and returns its one result and the
// message id.
func postPush(addr string, body map[string]any) (protocol.Result, string, error) {
	var out struct {
		ID      string            `json:"id"`
		Results []protocol.Result `json:"results"`
	}
	code, err := restCall(addr, http.MethodPost, "/v1/push", body, &out)
	if err != nil {
		return protocol.Result{}, "", err
	}
	if code != http.StatusOK || len(out.Results) != 1 {
		return protocol.Result{}, "", fmt.Errorf("push: status %d, %d results", code, len(out.Results))
	}
	return out.Results[0], out.ID, nil
}

// finalStatus reports whether a sync push result is one of the final statuses.
func finalStatus(s protocol.Status) bool {
	switch s {
	case protocol.StatusDelivered, protocol.StatusAcked, protocol.StatusOffline, protocol.StatusTimeout, protocol.StatusRejected:
		return true
	}
	return false
}

// kafkaFlags starts a Kafka-protocol cluster of three kfake brokers in the test's
// process and returns the flags that point herald at it.
func kafkaFlags(t *testing.T) []string {
	t.Helper()
	flags, seeds := newKafka(t, 3)
	kafkaSeeds = seeds
	return flags
}

// newKafka starts a Kafka-protocol cluster of n kfake brokers in the test's
// process and returns the flags that point herald at it and its brokers.
func newKafka(t *testing.T, n int) (flags, seeds []string) {
	t.Helper()
	flags, k := newKafkaCluster(t, n)
	return flags, k.ListenAddrs()
}

// newKafkaCluster is newKafka returning the kfake cluster itself, for a
// scenario that controls its requests.
func newKafkaCluster(t *testing.T, n int) ([]string, *kfake.Cluster) {
	t.Helper()
	topics := processor.Topics{Prefix: "faults."}
	k := testenv.Kafka(t, n, topics.All()...)
	return []string{"--kafka-brokers", strings.Join(k.ListenAddrs(), ","), "--kafka-topic-prefix", topics.Prefix,
		"--kafka-session-timeout", "2s", "--kafka-produce-timeout", "5s"}, k
}

// kafkaSeeds are the brokers of the newest kafkaFlags (scenarios run one at a
// time).
var kafkaSeeds []string

// waitGroups waits until Kafka reports every consumer group of the processors
// stable with members members each: a processor killed while the group is still
// forming is another scenario (see RELIABILITY.md).
func waitGroups(t *testing.T, members int) {
	t.Helper()
	waitGroupsOn(t, kafkaSeeds, members)
}

// waitGroupsOn is waitGroups on the Kafka cluster of seeds.
func waitGroupsOn(t *testing.T, seeds []string, members int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitFor(t, fmt.Sprintf("stable consumer groups of %d members", members), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		listed, err := adm.ListGroups(ctx)
		if err != nil || len(listed) < 4 {
			return false
		}
		described, err := adm.DescribeGroups(ctx, listed.Groups()...)
		if err != nil {
			return false
		}
		for _, g := range described {
			if g.State != "Stable" || len(g.Members) != members {
				return false
			}
		}
		return true
	})
}

// target is a device that messages are sent to: its name, and how many times
// each message id reached it.
type target interface {
	name() (account, device string)
	received(id string) int
}

var _ target = (*peer)(nil)

// name returns the peer's account and device.
func (p *peer) name() (string, string) { return p.account, p.id }

// asyncLog records the asynchronous messages a scenario sent and settles them:
// each accepted one must reach its device or get a final status that says why
// not.
type asyncLog struct {
	api string // the REST address for status reads

	mu       sync.Mutex
	sent     int64
	accepted map[string]target // guarded by mu: id -> its device
	refused  map[int]int       // guarded by mu: HTTP status -> count (503 while Kafka is away is fine)
	errs     int64             // guarded by mu: calls without an answer
}

func newAsyncLog(api string) *asyncLog {
	return &asyncLog{api: api, accepted: map[string]target{}, refused: map[int]int{}}
}

// send posts one message to p's device and returns how many were accepted
// (0 or 1).
func (l *asyncLog) send(p target) int {
	var out struct {
		ID string `json:"id"`
	}
	account, device := p.name()
	code, err := restCall(l.api, http.MethodPost, "/v1/messages", notification(account, device, nil), &out)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	switch {
	case err != nil:
		l.errs++
	case code == http.StatusAccepted:
		l.accepted[out.ID] = p
		return 1
	default:
		l.refused[code]++
	}
	return 0
}

// sendBatch posts one message to each of to in one POST /v1/messages/batch and
// counts each message as send does: a result with an id is accepted, a result
// with a problem is refused under the problem's status, a batch refused as a
// whole refuses all of its messages under the answer's status, and a batch
// without an answer (or with an answer that does not account for every
// message) counts all of them as calls without an answer. It returns how many
// were accepted.
func (l *asyncLog) sendBatch(to []target) int {
	msgs := make([]map[string]any, len(to))
	for i, p := range to {
		account, device := p.name()
		msgs[i] = notification(account, device, nil)
	}
	var out struct {
		Results []struct {
			ID    string            `json:"id"`
			Error *protocol.Problem `json:"error"`
		} `json:"results"`
	}
	code, err := restCall(l.api, http.MethodPost, "/v1/messages/batch", map[string]any{"messages": msgs}, &out)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent += int64(len(to))
	accepted := 0
	switch {
	case err != nil:
		l.errs += int64(len(to))
	case code != http.StatusOK:
		l.refused[code] += len(to)
	case len(out.Results) != len(to):
		l.errs += int64(len(to))
	default:
		for i, r := range out.Results {
			switch {
			case r.ID != "" && r.Error == nil:
				l.accepted[r.ID] = to[i]
				accepted++
			case r.ID == "" && r.Error != nil:
				l.refused[r.Error.Status]++
			default:
				l.errs++
			}
		}
	}
	return accepted
}

// messageStatus is the answer of GET /v1/messages/{id}.
type messageStatus struct {
	Status  string `json:"status"`
	Devices []struct {
		Device string `json:"device"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"devices"`
}

// settle waits, up to bound, until every accepted message was received or has a
// final status other than delivered, and returns how many were delivered,
// reported (offline, failed, expired, or dropped by its inbox's limits) and
// lost (neither, or reported delivered and never received).
func (l *asyncLog) settle(t *testing.T) (delivered, reported, lost int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	pending := make(map[string]target, len(l.accepted))
	for id, p := range l.accepted {
		pending[id] = p
	}
	why := map[string]string{}
	deadline := time.Now().Add(bound)
	for len(pending) > 0 && time.Now().Before(deadline) {
		for id, p := range pending {
			if p.received(id) > 0 {
				delivered++
				delete(pending, id)
				continue
			}
			var st messageStatus
			code, err := restCall(l.api, http.MethodGet, "/v1/messages/"+id, nil, &st)
			if err != nil || code != http.StatusOK {
				why[id] = fmt.Sprintf("status read: %d %v", code, err)
				continue
			}
			why[id] = fmt.Sprintf("%+v", st)
			for _, d := range st.Devices {
				switch d.Status {
				case "offline", "failed", "expired", "dropped":
					reported++
					delete(pending, id)
				}
			}
		}
		if len(pending) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	for id := range pending {
		t.Errorf("accepted message %s: neither received nor reported: %s", id, why[id])
		lost++
	}
	return delivered, reported, lost
}

// stall returns the longest time without any new message arriving at any of
// peers, from since to the last arrival: how long deliveries stopped.
func stall(peers []*peer, since time.Time) time.Duration {
	var at []time.Time
	for _, p := range peers {
		p.mu.Lock()
		for _, a := range p.recvAt {
			if a.After(since) {
				at = append(at, a)
			}
		}
		p.mu.Unlock()
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	prev := since
	for _, a := range at {
		longest = max(longest, a.Sub(prev))
		prev = a
	}
	return longest
}

// neverReceived waits up to bound for every message of expect (ids reported
// delivered, with their device) to reach its device, fails the test for those
// that never do, and returns them.
func neverReceived(t *testing.T, expect map[string]*peer) []string {
	t.Helper()
	var lost []string
	deadline := time.Now().Add(bound)
	for {
		lost = lost[:0]
		for id, p := range expect {
			if p.received(id) == 0 {
				lost = append(lost, id)
			}
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range lost[:min(5, len(lost))] {
		t.Errorf("%s was reported delivered and never received", id)
	}
	return lost
}
