package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

// Persistent topic subscriptions: a backend subscribes a device to a topic
// through these routes (scope devices); the device list keeps the
// subscription, and the edge subscribes the device's connections to it when
// the device connects, and at once when the device is connected
// (TopicChanges). docs/protocol.md, "Topics".

// Defaults for the limits of the subscription routes.
const (
	// DefaultMaxDeviceTopics is the most persistent topics of one device: the
	// edge's default --max-topics, so that they fit one connection.
	DefaultMaxDeviceTopics = 100
	// DefaultMaxSubscribers is the most entries, add and remove together, of
	// one POST /v1/topics/{topic}/subscribers.
	DefaultMaxSubscribers = 1000
)

// DeviceTopicStore keeps the devices' persistent topics (devicelist.Postgres
// and devicelist.Memory implement it).
type DeviceTopicStore interface {
	AddTopic(ctx context.Context, account, device, topic string, max int) (bool, error)
	RemoveTopic(ctx context.Context, account, device, topic string) (bool, error)
	Topics(ctx context.Context, account, device string) ([]string, error)
}

// TopicChanges tells the edge that holds a device, if one does, to read the
// device's persistent topics again (edge.Router implements it).
type TopicChanges interface {
	TopicsChanged(ctx context.Context, account, device string) error
}

// Subscriber names one device in POST /v1/topics/{topic}/subscribers.
type Subscriber struct {
	Account string `json:"account"`
	Device  string `json:"device"`
}

// SubscribersRequest is the body of POST /v1/topics/{topic}/subscribers: the
// devices to subscribe to the topic and those to unsubscribe, at most
// MaxSubscribers entries in all.
type SubscribersRequest struct {
	Add    []Subscriber `json:"add"`
	Remove []Subscriber `json:"remove"`
}

// SubscriberResult is the outcome for one entry of a SubscribersRequest.
type SubscriberResult struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	// Status is, for an add, created, existed, not_found (no such device) or
	// limit (the device has MaxDeviceTopics already); for a remove, removed or
	// absent; for either, unavailable when the device list could not be reached.
	Status string `json:"status"`
}

// SubscribersResponse answers POST /v1/topics/{topic}/subscribers: one result
// per entry, in the request's order.
type SubscribersResponse struct {
	Topic  string             `json:"topic"`
	Add    []SubscriberResult `json:"add"`
	Remove []SubscriberResult `json:"remove"`
}

// DeviceTopicsView answers GET /v1/accounts/{account}/devices/{device}/topics.
type DeviceTopicsView struct {
	Account string   `json:"account"`
	Device  string   `json:"device"`
	Topics  []string `json:"topics"`
}

// The statuses of a SubscriberResult.
const (
	subCreated     = "created"
	subExisted     = "existed"
	subNotFound    = "not_found"
	subLimit       = "limit"
	subRemoved     = "removed"
	subAbsent      = "absent"
	subUnavailable = "unavailable"
)

func (s *Server) deviceTopicRoutes(r chi.Router) {
	r.Get("/v1/accounts/{account}/devices/{device}/topics", s.listDeviceTopics)
	r.Put("/v1/accounts/{account}/devices/{device}/topics/{topic}", s.putDeviceTopic)
	r.Delete("/v1/accounts/{account}/devices/{device}/topics/{topic}", s.deleteDeviceTopic)
	r.Post("/v1/topics/{topic}/subscribers", s.topicSubscribers)
}

// pathTopic reads the topic of a route's path and checks it by the topic rule,
// answering 400 without quoting it when it breaks the rule.
func pathTopic(w http.ResponseWriter, r *http.Request) (string, bool) {
	topic := chi.URLParam(r, "topic")
	if p := protocol.TopicProblem(topic); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "invalid topic: "+p).Write(w)
		return "", false
	}
	return topic, true
}

// topicStore returns the store of persistent topics, or answers 503 when the
// server has none.
func (s *Server) topicStore(w http.ResponseWriter) (DeviceTopicStore, bool) {
	if s.cfg.Subscriptions == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "this server keeps no topic subscriptions").Write(w)
		return nil, false
	}
	return s.cfg.Subscriptions, true
}

// topicProblem maps a failure of the topic store to a problem.
func (s *Server) topicProblem(err error) *protocol.Problem {
	if errors.Is(err, devicelist.ErrTopicLimit) {
		return protocol.NewProblem(protocol.CodeConflict, "the device has "+strconv.Itoa(s.cfg.MaxDeviceTopics)+" topics already, the most it may have")
	}
	return deviceProblem(err)
}

func (s *Server) listDeviceTopics(w http.ResponseWriter, r *http.Request) {
	account, device, ok := pathIDs(w, r, true)
	if !ok {
		return
	}
	store, ok := s.topicStore(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	topics, err := store.Topics(ctx, account, device)
	if err != nil {
		s.topicProblem(err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, DeviceTopicsView{Account: account, Device: device, Topics: topics})
}

// deviceTopicPath reads and checks the account, device and topic of a PUT or
// DELETE of one persistent topic, and the store that keeps them; on failure
// it has answered the problem and ok is false.
func (s *Server) deviceTopicPath(w http.ResponseWriter, r *http.Request) (account, device, topic string, store DeviceTopicStore, ok bool) {
	if account, device, ok = pathIDs(w, r, true); !ok {
		return
	}
	if topic, ok = pathTopic(w, r); !ok {
		return
	}
	store, ok = s.topicStore(w)
	return
}

func (s *Server) putDeviceTopic(w http.ResponseWriter, r *http.Request) {
	account, device, topic, store, ok := s.deviceTopicPath(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	created, err := store.AddTopic(ctx, account, device, topic, s.cfg.MaxDeviceTopics)
	if err != nil {
		if !errors.Is(err, devicelist.ErrTopicLimit) && !errors.Is(err, devicelist.ErrNotFound) {
			s.cfg.Logger.Warn("subscribing a device to a topic failed", "account", account, "device", device, "err", err)
		}
		s.topicProblem(err).Write(w)
		return
	}
	if !created {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.changed(ctx, account)
	s.topicsChanged(ctx, account, device)
	writeJSON(w, http.StatusCreated, struct {
		Account string `json:"account"`
		Device  string `json:"device"`
		Topic   string `json:"topic"`
	}{account, device, topic})
}

func (s *Server) deleteDeviceTopic(w http.ResponseWriter, r *http.Request) {
	account, device, topic, store, ok := s.deviceTopicPath(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	removed, err := store.RemoveTopic(ctx, account, device, topic)
	if err != nil {
		s.cfg.Logger.Warn("unsubscribing a device from a topic failed", "account", account, "device", device, "err", err)
		s.topicProblem(err).Write(w)
		return
	}
	if !removed {
		protocol.NewProblem(protocol.CodeNotFound, "the device is not subscribed to the topic").Write(w)
		return
	}
	s.changed(ctx, account)
	s.topicsChanged(ctx, account, device)
	w.WriteHeader(http.StatusNoContent)
}

// topicSubscribers serves POST /v1/topics/{topic}/subscribers: every entry is
// checked before any is applied (an invalid id refuses the request, naming its
// entry without quoting it); then each is applied in turn, adds first, each
// with its own result, and the accounts and devices that changed are
// announced once each.
func (s *Server) topicSubscribers(w http.ResponseWriter, r *http.Request) {
	topic, ok := pathTopic(w, r)
	if !ok {
		return
	}
	var req SubscribersRequest
	if !s.decodeJSON(w, r, &req, subscribersFields) {
		return
	}
	if n := len(req.Add) + len(req.Remove); n > s.cfg.MaxSubscribers {
		protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf(`"add" and "remove" hold %d entries, at most %d are allowed`, n, s.cfg.MaxSubscribers)).Write(w)
		return
	} else if n == 0 {
		protocol.NewProblem(protocol.CodeBadRequest, `"add" and "remove" are both empty`).Write(w)
		return
	}
	for _, list := range []struct {
		name    string
		entries []Subscriber
	}{{"add", req.Add}, {"remove", req.Remove}} {
		for i, e := range list.entries {
			for _, id := range []struct{ field, v string }{{"account", e.Account}, {"device", e.Device}} {
				if p := protocol.IDProblem(id.v); p != "" {
					protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("%s[%d].%s: %s", list.name, i, id.field, p)).Write(w)
					return
				}
			}
		}
	}
	store, ok := s.topicStore(w)
	if !ok {
		return
	}
	out := SubscribersResponse{Topic: topic, Add: make([]SubscriberResult, len(req.Add)), Remove: make([]SubscriberResult, len(req.Remove))}
	var changed []Subscriber
	failed := 0
	// Each entry is bounded by LookupTimeout; once one could not reach the
	// store, the rest are not tried (the store looks down) and answer
	// unavailable, so that a request never waits more than one timeout for a
	// store that does not answer.
	apply := func(e Subscriber, call func(ctx context.Context) (string, error)) string {
		if failed > 0 {
			failed++
			return subUnavailable
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
		defer cancel()
		status, err := call(ctx)
		if err != nil {
			failed++
			return subUnavailable
		}
		if status == subCreated || status == subRemoved {
			changed = append(changed, e)
		}
		return status
	}
	for i, e := range req.Add {
		out.Add[i] = SubscriberResult{Account: e.Account, Device: e.Device, Status: apply(e, func(ctx context.Context) (string, error) {
			created, err := store.AddTopic(ctx, e.Account, e.Device, topic, s.cfg.MaxDeviceTopics)
			switch {
			case errors.Is(err, devicelist.ErrNotFound):
				return subNotFound, nil
			case errors.Is(err, devicelist.ErrTopicLimit):
				return subLimit, nil
			case err != nil:
				return "", err
			case created:
				return subCreated, nil
			}
			return subExisted, nil
		})}
	}
	for i, e := range req.Remove {
		out.Remove[i] = SubscriberResult{Account: e.Account, Device: e.Device, Status: apply(e, func(ctx context.Context) (string, error) {
			removed, err := store.RemoveTopic(ctx, e.Account, e.Device, topic)
			switch {
			case err != nil:
				return "", err
			case removed:
				return subRemoved, nil
			}
			return subAbsent, nil
		})}
	}
	if failed > 0 {
		s.cfg.Logger.Warn("some topic subscriptions could not be changed", "failed", failed)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	bumped := make(map[string]bool)
	for _, e := range changed {
		if !bumped[e.Account] {
			bumped[e.Account] = true
			s.changed(ctx, e.Account)
		}
		s.topicsChanged(ctx, e.Account, e.Device)
	}
	writeJSON(w, http.StatusOK, out)
}

// topicsChanged tells the edge that holds the device, if one does, to read
// its persistent topics again. A failure is logged: the device gets the
// change at its next connection.
func (s *Server) topicsChanged(ctx context.Context, account, device string) {
	if s.cfg.TopicChanges == nil {
		return
	}
	if err := s.cfg.TopicChanges.TopicsChanged(ctx, account, device); err != nil {
		s.cfg.Logger.Warn("telling the device's edge of its changed topics failed; the device gets them when it next connects", "account", account, "device", device, "err", err)
	}
}
