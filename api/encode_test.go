package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// awkwardStrings are strings whose JSON encoding needs escapes of every kind.
var awkwardStrings = []string{
	"", "tv1", `quote " and backslash \`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "line\u2028para\u2029", "invalid \xff\xfe utf-8 \xe2\x82",
	"émoji 📺 and ünïcödé", "\ufffd",
}

func TestAppendPushResponse(t *testing.T) {
	for _, s := range awkwardStrings {
		t.Run(s, func(t *testing.T) {
			resp := PushResponse{ID: s, Results: []protocol.Result{
				{Device: s, Status: protocol.StatusDelivered},
				{Device: "tv2", Status: protocol.Status(s), Error: s},
			}}
			want, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			if got := appendPushResponse(nil, resp.ID, resp.Results); !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
	t.Run("no results", func(t *testing.T) {
		want := `{"id":"x","results":[]}` + "\n"
		if got := appendPushResponse(nil, "x", []protocol.Result{}); string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
}

func TestAppendBatchResult(t *testing.T) {
	resp := PushBatchResponse{Results: []PushBatchResult{
		{PushResponse: &PushResponse{ID: "01A", Results: []protocol.Result{{Device: "tv<1>", Status: protocol.StatusOffline}}}},
		{Error: protocol.NewProblem(protocol.CodeSchemaInvalid, `"title" <bad>`, protocol.Detail{Pointer: "/title", Message: "want string"})},
		{PushResponse: &PushResponse{ID: "01B", Results: []protocol.Result{}}},
	}}
	want, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got := []byte(`{"results":[`)
	for i, r := range resp.Results {
		if i > 0 {
			got = append(got, ',')
		}
		if r.Error != nil {
			got = appendBatchResult(got, "", nil, r.Error)
		} else {
			got = appendBatchResult(got, r.ID, r.Results, nil)
		}
	}
	got = append(got, "]}"...)
	if !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// FuzzAppendJSONString holds appendJSONString to what encoding/json writes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}
