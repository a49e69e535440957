package devicelist

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wantTopics fails the test unless the device's topics are want.
func wantTopics(tb testing.TB, s store, account, device string, want ...string) {
	tb.Helper()
	got, err := s.Topics(testContext(tb), account, device)
	if want == nil {
		want = []string{}
	}
	if err != nil || got == nil || !slices.Equal(got, want) {
		tb.Fatalf("Topics(%s/%s) = %#v, %v; want %#v", account, device, got, err, want)
	}
}

func mustAddTopic(tb testing.TB, s store, account, device, topic string, max int) bool {
	tb.Helper()
	created, err := s.AddTopic(testContext(tb), account, device, topic, max)
	if err != nil {
		tb.Fatalf("AddTopic(%s/%s, %s): %v", account, device, topic, err)
	}
	return created
}

func testTopics(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	mustPut(t, s, phone("a1", "p2"))
	mustPut(t, s, phone("a2", "p1"))
	wantTopics(t, s, "a1", "p1")
	ctx := testContext(t)
	// Bytewise order, as for ids.
	for _, topic := range []string{"news.sports", "A-b", "news", "_x"} {
		if !mustAddTopic(t, s, "a1", "p1", topic, 10) {
			t.Errorf("first AddTopic(%s) = false, want created", topic)
		}
	}
	if mustAddTopic(t, s, "a1", "p1", "news", 10) {
		t.Errorf("AddTopic of a topic the device has = true, want false")
	}
	mustAddTopic(t, s, "a2", "p1", "other", 10)
	wantTopics(t, s, "a1", "p1", "A-b", "_x", "news", "news.sports")
	wantTopics(t, s, "a1", "p2")
	wantTopics(t, s, "a2", "p1", "other")
	if got, err := s.TopicDevices(ctx, "a1"); err != nil || !slices.Equal(got, []string{"p1"}) {
		t.Errorf("TopicDevices(a1) = %q, %v; want [p1]", got, err)
	}
	for i, want := range []bool{true, false} {
		if ok, err := s.RemoveTopic(ctx, "a1", "p1", "news"); err != nil || ok != want {
			t.Fatalf("RemoveTopic %d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	wantTopics(t, s, "a1", "p1", "A-b", "_x", "news.sports")
	for _, topic := range []string{"A-b", "_x", "news.sports"} {
		if ok, err := s.RemoveTopic(ctx, "a1", "p1", topic); err != nil || !ok {
			t.Fatalf("RemoveTopic(%s) = %v, %v; want true", topic, ok, err)
		}
	}
	if got, err := s.TopicDevices(ctx, "a1"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("TopicDevices(a1) after removing every topic = %#v, %v; want an empty, non-nil slice", got, err)
	}
	wantTopics(t, s, "a2", "p1", "other")
}

func testTopicLimit(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	mustPut(t, s, phone("a1", "p2"))
	const max = 3
	for i := range max {
		mustAddTopic(t, s, "a1", "p1", "t"+strconv.Itoa(i), max)
	}
	ctx := testContext(t)
	if ok, err := s.AddTopic(ctx, "a1", "p1", "t9", max); !errors.Is(err, ErrTopicLimit) || ok {
		t.Fatalf("AddTopic past the limit = %v, %v; want ErrTopicLimit", ok, err)
	}
	// A topic the device has is no new subscription: not refused at the limit.
	if ok, err := s.AddTopic(ctx, "a1", "p1", "t0", max); err != nil || ok {
		t.Fatalf("AddTopic of a held topic at the limit = %v, %v; want false, nil", ok, err)
	}
	// The limit is per device.
	mustAddTopic(t, s, "a1", "p2", "t9", max)
	// A place freed is a place to take.
	if _, err := s.RemoveTopic(ctx, "a1", "p1", "t1"); err != nil {
		t.Fatal(err)
	}
	mustAddTopic(t, s, "a1", "p1", "t9", max)
	wantTopics(t, s, "a1", "p1", "t0", "t2", "t9")

	// Concurrent adds of different topics never pass the limit.
	mustPut(t, s, phone("a1", "p3"))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.AddTopic(ctx, "a1", "p3", "c"+strconv.Itoa(i), max) })
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrTopicLimit):
			refused++
		case err != nil:
			t.Errorf("concurrent AddTopic: %v", err)
		}
	}
	got, err := s.Topics(ctx, "a1", "p3")
	if err != nil || len(got) != max || refused != len(errs)-max {
		t.Errorf("after %d concurrent adds at limit %d: topics %q (%v), %d refused; want %d topics, %d refused", len(errs), max, got, err, refused, max, len(errs)-max)
	}
}

func testTopicsDeleted(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	mustAddTopic(t, s, "a1", "p1", "news", 10)
	ctx := testContext(t)
	if ok, err := s.Delete(ctx, "a1", "p1"); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if got, err := s.TopicDevices(ctx, "a1"); err != nil || len(got) != 0 {
		t.Errorf("TopicDevices after Delete = %q, %v; want none", got, err)
	}
	// The same device added again starts without topics.
	mustTouch(t, s, "a1", "p1", nil)
	wantTopics(t, s, "a1", "p1")
}

func testTopicsUnknown(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	ctx := testContext(t)
	for _, tc := range []struct{ name, account, device string }{
		{"unknown account", "a2", "p1"},
		{"unknown device", "a1", "p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := s.AddTopic(ctx, tc.account, tc.device, "news", 10); !errors.Is(err, ErrNotFound) || ok {
				t.Errorf("AddTopic = %v, %v; want ErrNotFound", ok, err)
			}
			if got, err := s.Topics(ctx, tc.account, tc.device); !errors.Is(err, ErrNotFound) {
				t.Errorf("Topics = %q, %v; want ErrNotFound", got, err)
			}
			if ok, err := s.RemoveTopic(ctx, tc.account, tc.device, "news"); err != nil || ok {
				t.Errorf("RemoveTopic = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func testTopicsInvalid(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	ctx := testContext(t)
	long := strings.Repeat("x", 129)
	for _, tc := range []struct {
		name, account, device, topic, field string
	}{
		{"empty topic", "a1", "p1", "", "topic"},
		{"wildcard topic", "a1", "p1", "news.*", "topic"},
		{"empty segment", "a1", "p1", "news..x", "topic"},
		{"long topic", "a1", "p1", long, "topic"},
		{"bad account", "a 1", "p1", "news", "account"},
		{"bad device", "a1", "", "news", "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, call := range map[string]func() error{
				"add":    func() error { _, err := s.AddTopic(ctx, tc.account, tc.device, tc.topic, 10); return err },
				"remove": func() error { _, err := s.RemoveTopic(ctx, tc.account, tc.device, tc.topic); return err },
			} {
				var ie *InvalidError
				if err := call(); !errors.As(err, &ie) || ie.Field != tc.field {
					t.Errorf("%s: err = %v, want an InvalidError of %s", name, err, tc.field)
				}
			}
		})
	}
	// The longest name is a name.
	mustAddTopic(t, s, "a1", "p1", strings.Repeat("x", 128), 10)
}
