package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// PushTarget addresses a push: one device of an account, or every connected
// device of it when the body leaves "device" out.
type PushTarget struct {
	Account string       `json:"account"`
	Device  TargetDevice `json:"device,omitzero"`
}

// TargetDevice is the device a PushTarget names. Named records that the body
// held "device" at all, so that "device":"" and "device":null are refused
// rather than taken for a target without "device", the whole account.
type TargetDevice struct {
	ID    string
	Named bool
}

// UnmarshalJSON takes a JSON string, or null, and records that the body named
// a device.
func (d *TargetDevice) UnmarshalJSON(b []byte) error {
	d.Named = true
	switch {
	case string(b) == "null":
		d.ID = ""
		return nil
	case len(b) >= 2 && b[0] == '"' && isPlain(b[1:len(b)-1]):
		d.ID = string(b[1 : len(b)-1])
		return nil
	}
	return json.Unmarshal(b, &d.ID)
}

// MarshalJSON writes the id as a JSON string.
func (d TargetDevice) MarshalJSON() ([]byte, error) { return json.Marshal(d.ID) }

// PushRequest is the body of POST /v1/push, and one message of POST
// /v1/push/batch.
type PushRequest struct {
	To        PushTarget `json:"to"`
	Type      string     `json:"type"`
	Payload   jsonRaw    `json:"payload"`
	Ack       *bool      `json:"ack,omitempty"`
	TTL       *int64     `json:"ttl,omitempty"`
	TimeoutMS int64      `json:"timeout_ms,omitempty"`
}

// PushResponse is the answer to POST /v1/push.
type PushResponse struct {
	ID      string            `json:"id"`
	Results []protocol.Result `json:"results"`
}

// outMsg is a message the API sends with its sender, allocated together: the
// push path allocates per request, and this is one allocation fewer.
type outMsg struct {
	msg  protocol.Msg
	from protocol.Sender
	keep time.Duration // how long the message waits for an offline device; 0: not stored
}

// push serves POST /v1/push: validate, deliver to each target concurrently, and
// answer once each target has a final outcome or the timeout passed.
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	var req PushRequest
	delivered := false
	defer func() {
		if !delivered {
			s.metrics.answered(pathPush, req.Type, statusOf(w))
		}
	}()
	if !s.decodeJSON(w, r, &req, pushFields) {
		return
	}
	t, p := s.checkSend(req.To, req.Type, req.Payload)
	if p != nil {
		p.Write(w)
		return
	}
	timeout, p := s.pushTimeout(req.TimeoutMS)
	if p != nil {
		p.Write(w)
		return
	}
	out := &outMsg{from: protocol.Sender{Service: sender(r.Context())}}
	out.msg = s.newMsg(t, &req, &out.from)
	s.cfg.Tracer.Annotate(r.Context(), out.msg.ID, req.To.Account, req.To.Device.ID)
	if out.keep, p = s.keepFor(t, &req); p != nil {
		p.Write(w)
		return
	}
	var results []protocol.Result
	if req.To.Device.Named {
		results = s.deliverOne(r.Context(), timeout, req.To.Account, req.To.Device.ID, &out.msg, out.keep)
	} else {
		targets, p := s.targets(r.Context(), req.To.Account, out.keep > 0)
		if p != nil {
			p.Write(w)
			return
		}
		results = s.deliverAll(r.Context(), timeout, req.To.Account, targets, &out.msg, out.keep)
	}
	delivered = true
	s.countResults(req.Type, results)
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendPushResponse(*buf, out.msg.ID, results)
	writeJSONBytes(w, http.StatusOK, *buf)
}

// newMsg returns the message of a validated push request from the sender at
// from; the caller sets its TS once the push is accepted.
func (s *Server) newMsg(t *protocol.Type, req *PushRequest, from *protocol.Sender) protocol.Msg {
	ack := t.Policy.Ack
	if req.Ack != nil {
		ack = *req.Ack
	}
	return protocol.Msg{
		ID:      protocol.NewID(),
		Type:    req.Type,
		From:    from,
		TTL:     t.Policy.TTL,
		Ack:     ack,
		Payload: []byte(req.Payload),
	}
}

// deliverOne delivers m to one device within timeout, the common case: on this
// goroutine, without a target list, a goroutine or a wait group; an offline
// device's message is stored for keep when keep is above zero. m.TS becomes
// the time of acceptance, now.
func (s *Server) deliverOne(ctx context.Context, timeout time.Duration, account, device string, m *protocol.Msg, keep time.Duration) []protocol.Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	accepted := time.Now()
	m.TS = accepted.UnixMilli()
	results := make([]protocol.Result, 1)
	results[0] = s.deliver(ctx, accepted, account, device, m, keep)
	return results
}

// deliverAll delivers m to every device in targets, concurrently, within
// timeout; a target found offline gets m stored for keep when keep is above
// zero. m.TS becomes the time of acceptance, now.
func (s *Server) deliverAll(ctx context.Context, timeout time.Duration, account string, targets []string, m *protocol.Msg, keep time.Duration) []protocol.Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	accepted := time.Now()
	m.TS = accepted.UnixMilli()
	results := make([]protocol.Result, len(targets))
	var wg sync.WaitGroup
	for i, d := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.deliver(ctx, accepted, account, d, m, keep)
		}()
	}
	wg.Wait()
	return results
}

// deliver delivers m to one target and observes the latency since accepted. A
// target found offline gets m stored for keep when keep is above zero.
func (s *Server) deliver(ctx context.Context, accepted time.Time, account, device string, m *protocol.Msg, keep time.Duration) protocol.Result {
	res := s.cfg.Deliverer.Deliver(ctx, account, device, m, nil)
	if res.Status == protocol.StatusOffline && keep > 0 {
		res = s.store(ctx, accepted, account, device, m, keep)
	}
	s.metrics.syncLatency.Observe(time.Since(accepted).Seconds())
	return res
}

// countResults counts a delivered push: one per target by its result, and
// offline once for an account with no device connected.
func (s *Server) countResults(typ string, results []protocol.Result) {
	if len(results) == 0 {
		s.metrics.message(pathPush, typ, string(protocol.StatusOffline))
	}
	for _, res := range results {
		s.metrics.message(pathPush, typ, string(res.Status))
	}
}

// pushTimeout returns the wait a push or a batch asks for with timeout_ms, or
// the problem when it is out of bounds.
func (s *Server) pushTimeout(ms int64) (time.Duration, *protocol.Problem) {
	// Compared in milliseconds: converting first would let a huge value wrap around
	// into a small Duration and pass.
	if ms < 0 || ms > s.cfg.MaxPushTimeout.Milliseconds() {
		return 0, protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"timeout_ms" must be between 0 and %d`, s.cfg.MaxPushTimeout.Milliseconds()))
	}
	if ms == 0 {
		return s.cfg.PushTimeout, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// targets resolves a push to a whole account into its devices: those
// connected, and with stored (the message waits for offline devices) those of
// the account's device list too, so that a listed device that is not
// connected gets it from its inbox (withListed). A push reaches at most
// MaxTargets of them.
func (s *Server) targets(ctx context.Context, account string, stored bool) ([]string, *protocol.Problem) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	devs, err := s.cfg.Directory.Connected(ctx, account)
	if err != nil {
		s.cfg.Logger.Warn("listing devices failed", "account", account, "err", err)
		return nil, protocol.NewProblem(protocol.CodeUnavailable, "the account's devices cannot be listed right now")
	}
	if stored && s.cfg.Devices != nil {
		devs = s.withListed(ctx, account, devs)
	}
	if len(devs) > s.cfg.MaxTargets {
		return nil, protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("the account has %d devices, a push reaches at most %d", len(devs), s.cfg.MaxTargets))
	}
	return devs, nil
}

// checkSend validates what a sync and an async send share: the target, and the
// payload against its type, which must allow service-to-device sends. On failure
// it returns the problem.
func (s *Server) checkSend(to PushTarget, typ string, payload jsonRaw) (*protocol.Type, *protocol.Problem) {
	if p := checkTarget(to); p != nil {
		return nil, p
	}
	if typ == "" {
		return nil, protocol.NewProblem(protocol.CodeBadRequest, `"type" is required`)
	}
	if len(payload) == 0 {
		return nil, protocol.NewProblem(protocol.CodeBadRequest, `"payload" is required`)
	}
	t, ok := s.cfg.Types.Lookup(typ)
	if !ok {
		return nil, protocol.NewProblem(protocol.CodeUnknownType, fmt.Sprintf("unknown message type %q", typ))
	}
	if !t.Allows(protocol.ServiceToDevice) {
		return nil, protocol.NewProblem(protocol.CodeForbidden, fmt.Sprintf("type %q may not be sent from a service to a device", typ))
	}
	if err := t.Validate(payload); err != nil {
		return nil, validationProblem(err)
	}
	return t, nil
}

// checkTarget returns the problem with a push target, if it has one. The
// account is required; a device, when the body names one, must be given; both
// are ids by the rule of protocol.ValidID, checked before they reach a lookup
// or a log line. A problem never quotes the id.
func checkTarget(to PushTarget) *protocol.Problem {
	switch {
	case to.Account == "":
		return protocol.NewProblem(protocol.CodeBadRequest, `"to.account" is required`)
	case !protocol.ValidID(to.Account):
		return protocol.NewProblem(protocol.CodeBadRequest, `"to.account" is not a valid id: `+protocol.IDProblem(to.Account))
	case !to.Device.Named:
		return nil
	case to.Device.ID == "":
		return protocol.NewProblem(protocol.CodeBadRequest, `"to.device" is empty or null: name a device, or leave "device" out to reach every connected device of the account`)
	case !protocol.ValidID(to.Device.ID):
		return protocol.NewProblem(protocol.CodeBadRequest, `"to.device" is not a valid id: `+protocol.IDProblem(to.Device.ID))
	}
	return nil
}

// withListed adds to connected the devices of account's device list that are
// not in it. A device list that cannot be read leaves connected as it is: the
// push reaches the connected devices, as one of a type that does not store
// does, and the log says that offline devices were not stored for.
func (s *Server) withListed(ctx context.Context, account string, connected []string) []string {
	listed, err := s.cfg.Devices.List(ctx, account)
	if err != nil {
		s.cfg.Logger.Warn("reading the device list failed: the push reaches the connected devices only, none is stored for", "account", account, "err", err)
		return connected
	}
	return processor.AddListed(connected, listed, func(d devicelist.Device) string { return d.ID })
}

// PushHandler serves the body of POST /v1/push for a caller that was
// authenticated elsewhere, sending as sender: the admin API's test push. It
// validates, delivers and answers exactly as POST /v1/push does, and counts
// its messages in the same metrics, but takes no API key.
func (s *Server) PushHandler(sender string) http.Handler {
	k := &apiKey{name: sender, scopes: ScopeSend}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.push(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, k)))
	})
}
