package devicelist

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// wantDevice fails the test unless got equals want field by field.
func wantDevice(tb testing.TB, what string, got, want Device) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s =\n\t%+v\nwant\n\t%+v", what, got, want)
	}
}

// phone is a device with every metadata field set.
func phone(account, id string) Device {
	return Device{
		Account: account, ID: id, Platform: "android", Name: "Pixel — ☂", AppVersion: "1.2.3",
		Capabilities: []string{"video", "audio"}, Attributes: map[string]string{"color": "blue", "owner": "ann"},
	}
}

// TestBehaviour runs the behaviour every device list shares against each
// implementation.
func TestBehaviour(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				run  func(t *testing.T, s store, c *clock)
			}{
				{"put creates then updates", testPutCreatesThenUpdates},
				{"put keeps last seen and ignores given times", testPutKeepsLastSeen},
				{"put copies", testPutCopies},
				{"put at the limits", testPutAtLimits},
				{"get missing", testGetMissing},
				{"list and ids sorted", testListSorted},
				{"list and ids empty", testListEmpty},
				{"delete", testDelete},
				{"touch creates then updates non-empty fields", testTouch},
				{"owners across accounts", testOwners},
				{"invalid", testInvalid},
				{"seen keeps the latest", testSeen},
				{"done context is unavailable", testDoneContext},
				{"topics add, list, remove", testTopics},
				{"topics at the limit", testTopicLimit},
				{"topics go with their device", testTopicsDeleted},
				{"topics of unknown devices", testTopicsUnknown},
				{"topics invalid", testTopicsInvalid},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					c := newClock()
					tc.run(t, impl.new(t, c), c)
				})
			}
		})
	}
}

func testPutCreatesThenUpdates(t *testing.T, s store, c *clock) {
	t0 := timestamp(c.Now())
	in := phone("a1", "p1")
	got, created := mustPut(t, s, in)
	want := in
	want.Created, want.Updated = t0, t0
	if !created {
		t.Errorf("first Put: created = false, want true")
	}
	wantDevice(t, "first Put", got, want)
	wantDevice(t, "Get after first Put", mustGet(t, s, "a1", "p1"), want)

	t1 := c.Advance(time.Second)
	in2 := Device{Account: "a1", ID: "p1", Name: "renamed", Capabilities: []string{"text"}}
	got, created = mustPut(t, s, in2)
	if created {
		t.Errorf("second Put: created = true, want false")
	}
	want = in2
	want.Created, want.Updated = t0, t1
	wantDevice(t, "second Put (metadata replaced, Created kept)", got, want)
	wantDevice(t, "Get after second Put", mustGet(t, s, "a1", "p1"), want)
}

func testPutKeepsLastSeen(t *testing.T, s store, c *clock) {
	t0 := timestamp(c.Now())
	mustTouch(t, s, "a1", "p1", nil)
	t1 := c.Advance(time.Minute)
	in := phone("a1", "p1")
	in.Created = t1.Add(time.Hour)
	in.Updated = t1.Add(time.Hour)
	in.LastSeen = t1.Add(time.Hour)
	got, _ := mustPut(t, s, in)
	want := phone("a1", "p1")
	want.Created, want.Updated, want.LastSeen = t0, t1, t0
	wantDevice(t, "Put", got, want)
	wantDevice(t, "Get", mustGet(t, s, "a1", "p1"), want)

	// A fresh device ignores the given times too.
	in.ID = "p2"
	got, _ = mustPut(t, s, in)
	want.ID, want.Created, want.Updated, want.LastSeen = "p2", t1, t1, time.Time{}
	wantDevice(t, "Put of a new device", got, want)
}

func testPutCopies(t *testing.T, s store, _ *clock) {
	in := phone("a1", "p1")
	got, _ := mustPut(t, s, in)
	in.Capabilities[0] = "changed"
	in.Attributes["color"] = "changed"
	got.Capabilities[1] = "changed"
	got.Attributes["owner"] = "changed"
	read := mustGet(t, s, "a1", "p1")
	read.Attributes["new"] = "x"
	if d := mustGet(t, s, "a1", "p1"); !reflect.DeepEqual(d.Capabilities, phone("", "").Capabilities) ||
		!reflect.DeepEqual(d.Attributes, phone("", "").Attributes) {
		t.Fatalf("store changed through the caller's slices and maps: %+v", d)
	}
}

func testPutAtLimits(t *testing.T, s store, _ *clock) {
	in := Device{
		Account:    strings.Repeat("a", MaxIDLen),
		ID:         "Az09._:@-" + strings.Repeat("z", MaxIDLen-9),
		Platform:   strings.Repeat("p", MaxPlatformLen),
		Name:       strings.Repeat("é", MaxNameLen/2),
		AppVersion: strings.Repeat("v", MaxAppVersionLen),
		Attributes: map[string]string{},
	}
	for i := range MaxCapabilities {
		in.Capabilities = append(in.Capabilities, strings.Repeat(string(rune('a'+i%26)), MaxCapabilityLen-2)+string(rune('A'+i/26))+"x")
	}
	for i := range MaxAttributes {
		in.Attributes[strings.Repeat(string(rune('a'+i%26)), MaxAttributeKeyLen-1)+string(rune('A'+i/26))] = strings.Repeat("\"\\<>", MaxAttributeValueLen/4)
	}
	got, _ := mustPut(t, s, in)
	want := in
	want.Created, want.Updated = got.Created, got.Updated
	wantDevice(t, "Put", got, want)
	wantDevice(t, "Get", mustGet(t, s, in.Account, in.ID), want)
}

func testGetMissing(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	for _, tc := range []struct{ name, account, device string }{
		{"unknown account", "a2", "p1"},
		{"unknown device", "a1", "p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := s.Get(testContext(t), tc.account, tc.device); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get = %+v, %v; want ErrNotFound", d, err)
			}
		})
	}
}

func testListSorted(t *testing.T, s store, _ *clock) {
	// Bytewise order: digits, upper case, '_', lower case.
	ids := []string{"b", "B", "a", "a.1", "a-1", "_x", "9", "a:z", "a@z"}
	for _, id := range ids {
		mustPut(t, s, phone("a1", id))
	}
	mustPut(t, s, phone("a2", "other"))
	want := slices.Sorted(slices.Values(ids))

	gotIDs, err := s.IDs(testContext(t), "a1")
	if err != nil {
		t.Fatalf("IDs: %v", err)
	}
	if !slices.Equal(gotIDs, want) {
		t.Errorf("IDs = %q, want %q", gotIDs, want)
	}
	list, err := s.List(testContext(t), "a1")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var listed []string
	for _, d := range list {
		listed = append(listed, d.ID)
		wantDevice(t, "List entry "+d.ID, d, mustGet(t, s, "a1", d.ID))
	}
	if !slices.Equal(listed, want) {
		t.Errorf("List ids = %q, want %q", listed, want)
	}
	adapted, err := Listed{Store: s}.Listed(testContext(t), "a1")
	if err != nil || !slices.Equal(adapted, want) {
		t.Errorf("Listed = %q, %v; want %q", adapted, err, want)
	}
}

func testListEmpty(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	list, err := s.List(testContext(t), "a2")
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("List of an account without devices = %#v, %v; want an empty, non-nil slice", list, err)
	}
	ids, err := s.IDs(testContext(t), "a2")
	if err != nil || ids == nil || len(ids) != 0 {
		t.Errorf("IDs of an account without devices = %#v, %v; want an empty, non-nil slice", ids, err)
	}
	listed, err := Listed{Store: s}.Listed(testContext(t), "a2")
	if err != nil || listed == nil || len(listed) != 0 {
		t.Errorf("Listed of an account without devices = %#v, %v; want an empty, non-nil slice", listed, err)
	}
}

func testDelete(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	mustPut(t, s, phone("a1", "p2"))
	mustPut(t, s, phone("a2", "p1"))
	ctx := testContext(t)
	for i, want := range []bool{true, false} {
		if ok, err := s.Delete(ctx, "a1", "p1"); err != nil || ok != want {
			t.Fatalf("Delete %d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if _, err := s.Get(ctx, "a1", "p1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if ids, err := s.IDs(ctx, "a1"); err != nil || !slices.Equal(ids, []string{"p2"}) {
		t.Errorf("IDs after Delete = %q, %v; want [p2]", ids, err)
	}
	if owners, err := s.Owners(ctx, "p1"); err != nil || !slices.Equal(owners, []string{"a2"}) {
		t.Errorf("Owners after Delete = %q, %v; want [a2]", owners, err)
	}
	// A Seen still pending for the deleted device does not bring it back.
	s.Seen("a1", "p1", time.Now())
	flushSeen(t, s)
	if _, err := s.Get(ctx, "a1", "p1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Seen of a deleted device: %v, want ErrNotFound", err)
	}
}

func testTouch(t *testing.T, s store, c *clock) {
	t0 := timestamp(c.Now())
	mustTouch(t, s, "a1", "p1", nil)
	want := Device{Account: "a1", ID: "p1", Created: t0, Updated: t0, LastSeen: t0}
	wantDevice(t, "after first Touch", mustGet(t, s, "a1", "p1"), want)

	steps := []struct {
		name    string
		info    *protocol.DeviceInfo
		change  func(d *Device)
		updated bool // whether Updated moves
	}{
		{"hello sets fields", &protocol.DeviceInfo{Platform: "ios", Name: "Ann's phone", Capabilities: []string{"a", "b"}},
			func(d *Device) { d.Platform, d.Name, d.Capabilities = "ios", "Ann's phone", []string{"a", "b"} }, true},
		{"empty fields are left alone", &protocol.DeviceInfo{AppVersion: "2.0", Capabilities: []string{}},
			func(d *Device) { d.AppVersion = "2.0" }, true},
		{"same hello again", &protocol.DeviceInfo{Platform: "ios", AppVersion: "2.0"}, func(*Device) {}, false},
		{"no hello", nil, func(*Device) {}, false},
		{"capabilities replaced", &protocol.DeviceInfo{Capabilities: []string{"b"}},
			func(d *Device) { d.Capabilities = []string{"b"} }, true},
		{"empty hello", &protocol.DeviceInfo{}, func(*Device) {}, false},
	}
	for _, step := range steps {
		now := c.Advance(time.Second)
		mustTouch(t, s, "a1", "p1", step.info)
		step.change(&want)
		want.LastSeen = now
		if step.updated {
			want.Updated = now
		}
		wantDevice(t, "after Touch: "+step.name, mustGet(t, s, "a1", "p1"), want)
	}

	// Attributes come from Put only; Touch keeps them.
	in := phone("a1", "p1")
	stored, _ := mustPut(t, s, in)
	now := c.Advance(time.Second)
	mustTouch(t, s, "a1", "p1", &protocol.DeviceInfo{Name: "new name"})
	stored.Name, stored.Updated, stored.LastSeen = "new name", now, now
	wantDevice(t, "after Touch of a Put device", mustGet(t, s, "a1", "p1"), stored)

	// A Touch never moves last_seen back: a later Seen wins.
	later := now.Add(time.Hour)
	s.Seen("a1", "p1", later)
	flushSeen(t, s)
	c.Advance(time.Second)
	mustTouch(t, s, "a1", "p1", nil)
	if got := mustGet(t, s, "a1", "p1").LastSeen; !got.Equal(later) {
		t.Errorf("LastSeen after Touch = %v, want the later Seen %v", got, later)
	}
}

func testOwners(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a2", "phone"))
	mustTouch(t, s, "a1", "phone", nil)
	mustPut(t, s, phone("a2", "tv"))
	for _, tc := range []struct {
		device string
		want   []string
	}{
		{"phone", []string{"a1", "a2"}},
		{"tv", []string{"a2"}},
		{"unknown", []string{}},
	} {
		t.Run(tc.device, func(t *testing.T) {
			got, err := s.Owners(testContext(t), tc.device)
			if err != nil || got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Owners(%s) = %#v, %v; want %#v", tc.device, got, err, tc.want)
			}
		})
	}
}

func testSeen(t *testing.T, s store, c *clock) {
	mustPut(t, s, phone("a1", "p1"))
	mustPut(t, s, phone("a1", "p2"))
	base := c.Advance(time.Second)
	for _, d := range []time.Duration{3, 1, 7, 2} {
		s.Seen("a1", "p1", base.Add(d*time.Second+time.Nanosecond))
	}
	s.Seen("a1", "p2", base)
	s.Seen("a1", "p2", time.Time{}) // ignored
	s.Seen("a1", "never-touched", base)
	s.Seen("a1", "bad id!", base) // ignored
	flushSeen(t, s)
	if got, want := mustGet(t, s, "a1", "p1").LastSeen, base.Add(7*time.Second); !got.Equal(want) {
		t.Errorf("p1 LastSeen = %v, want the latest %v", got, want)
	}
	if got := mustGet(t, s, "a1", "p2").LastSeen; !got.Equal(base) {
		t.Errorf("p2 LastSeen = %v, want %v", got, base)
	}
	if _, err := s.Get(testContext(t), "a1", "never-touched"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a device only Seen: %v, want ErrNotFound (Seen does not create devices)", err)
	}
	// An older time later changes nothing.
	s.Seen("a1", "p1", base)
	flushSeen(t, s)
	if got, want := mustGet(t, s, "a1", "p1").LastSeen, base.Add(7*time.Second); !got.Equal(want) {
		t.Errorf("p1 LastSeen after an older Seen = %v, want %v", got, want)
	}
	if n := s.SeenDropped(); n != 0 {
		t.Errorf("SeenDropped = %d, want 0", n)
	}
}

func testDoneContext(t *testing.T, s store, _ *clock) {
	mustPut(t, s, phone("a1", "p1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, op := range storeCalls(ctx, s) {
		t.Run(op.name, func(t *testing.T) {
			err := op.call()
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want ErrUnavailable wrapping context.Canceled", err)
			}
		})
	}
}

// storeCalls is one call of each method of s that takes a context, with valid
// arguments.
func storeCalls(ctx context.Context, s store) []struct {
	name string
	call func() error
} {
	return []struct {
		name string
		call func() error
	}{
		{"put", func() error { _, _, err := s.Put(ctx, phone("a1", "p1")); return err }},
		{"touch", func() error { return s.Touch(ctx, "a1", "p1", &protocol.DeviceInfo{Name: "x"}) }},
		{"get", func() error { _, err := s.Get(ctx, "a1", "p1"); return err }},
		{"list", func() error { _, err := s.List(ctx, "a1"); return err }},
		{"ids", func() error { _, err := s.IDs(ctx, "a1"); return err }},
		{"delete", func() error { _, err := s.Delete(ctx, "a1", "p1"); return err }},
		{"owners", func() error { _, err := s.Owners(ctx, "p1"); return err }},
		{"add topic", func() error { _, err := s.AddTopic(ctx, "a1", "p1", "news", 10); return err }},
		{"remove topic", func() error { _, err := s.RemoveTopic(ctx, "a1", "p1", "news"); return err }},
		{"topics", func() error { _, err := s.Topics(ctx, "a1", "p1"); return err }},
		{"topic devices", func() error { _, err := s.TopicDevices(ctx, "a1"); return err }},
	}
}
