package devicelist

import (
	"context"
	"maps"
	"slices"
)

// AddTopic subscribes the device persistently to topic and reports whether
// the subscription is new. It fails with ErrNotFound when the account has no
// such device, and with ErrTopicLimit when the subscription is new and the
// device has max topics already.
func (m *Memory) AddTopic(ctx context.Context, account, device, topic string, max int) (bool, error) {
	if err := checkTopicArgs(account, device, topic); err != nil {
		return false, err
	}
	if err := ctxDone(ctx, func() string { return "add topic " + account + "/" + device }); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lookupLocked(account, device) == nil {
		return false, ErrNotFound
	}
	k := deviceKey{account, device}
	set := m.topics[k]
	if _, ok := set[topic]; ok {
		return false, nil
	}
	if len(set) >= max {
		return false, ErrTopicLimit
	}
	if set == nil {
		set = make(map[string]struct{})
		m.topics[k] = set
	}
	set[topic] = struct{}{}
	return true, nil
}

// RemoveTopic ends the device's persistent subscription to topic and reports
// whether there was one.
func (m *Memory) RemoveTopic(ctx context.Context, account, device, topic string) (bool, error) {
	if err := checkTopicArgs(account, device, topic); err != nil {
		return false, err
	}
	if err := ctxDone(ctx, func() string { return "remove topic " + account + "/" + device }); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := deviceKey{account, device}
	if _, ok := m.topics[k][topic]; !ok {
		return false, nil
	}
	delete(m.topics[k], topic)
	if len(m.topics[k]) == 0 {
		delete(m.topics, k)
	}
	return true, nil
}

// Topics returns the device's persistent topics, sorted bytewise; an empty
// slice (not nil) when it has none, and ErrNotFound when the account has no
// such device.
func (m *Memory) Topics(ctx context.Context, account, device string) ([]string, error) {
	if err := checkIDs(account, device); err != nil {
		return nil, err
	}
	if err := ctxDone(ctx, func() string { return "topics " + account + "/" + device }); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.lookupLocked(account, device) == nil {
		return nil, ErrNotFound
	}
	topics := slices.Sorted(maps.Keys(m.topics[deviceKey{account, device}]))
	if topics == nil {
		topics = []string{}
	}
	return topics, nil
}

// TopicDevices returns the devices of the account that have at least one
// persistent topic, sorted; an empty slice (not nil) when none.
func (m *Memory) TopicDevices(ctx context.Context, account string) ([]string, error) {
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	if err := ctxDone(ctx, func() string { return "topic devices " + account }); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []string{}
	for k := range m.topics {
		if k.account == account {
			out = append(out, k.device)
		}
	}
	slices.Sort(out)
	return out, nil
}

// deviceKey names one device of one account.
type deviceKey struct{ account, device string }
