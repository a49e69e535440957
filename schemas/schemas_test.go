package schemas_test

import (
	"errors"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

func TestBuiltinTypes(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatalf("LoadTypes: %v", err)
	}
	tests := []struct {
		typ       string
		good      string
		bad       string
		badPtr    string
		direction protocol.Direction
		priority  protocol.Priority
		ttl       int
		ack       bool
	}{
		{
			typ:       "notification.v1",
			good:      `{"title":"New episode","body":"S2E1 is out","deep_link":"herald://title/81","image":"https://img.example.com/a.png","data":{"k":"v"}}`,
			bad:       `{"title":"x","data":{"k":1}}`,
			badPtr:    "/data/k",
			direction: protocol.ServiceToDevice,
			priority:  protocol.PriorityHigh,
			ttl:       3600,
		},
		{
			typ:       "profile.updated.v1",
			good:      `{"profile_id":"p1","fields":["avatar","name"],"version":7}`,
			bad:       `{"profile_id":"p1","fields":["avatar"],"version":-1}`,
			badPtr:    "/version",
			direction: protocol.ServiceToDevice,
			priority:  protocol.PriorityNormal,
			ttl:       300,
		},
		{
			typ:       "playback.control.v1",
			good:      `{"action":"seek","position_ms":120000,"title_id":"81"}`,
			bad:       `{"action":"volume","volume":101}`,
			badPtr:    "/volume",
			direction: protocol.DeviceToDevice,
			priority:  protocol.PriorityHigh,
			ttl:       30,
			ack:       true,
		},
		{
			typ:       "diagnostics.request.v1",
			good:      `{"request_id":"r1","kinds":["logs","network"],"upload_url":"https://diag.example.com/u/r1","since_ms":1763884800000}`,
			bad:       `{"request_id":"r1","kinds":[]}`,
			badPtr:    "/kinds",
			direction: protocol.ServiceToDevice,
			priority:  protocol.PriorityNormal,
			ttl:       600,
			ack:       true,
		},
		{
			typ:       "app.restart.v1",
			good:      `{"reason":"config change","delay_ms":5000,"clear_cache":true}`,
			bad:       `{"reason":"x","delay_ms":600001}`,
			badPtr:    "/delay_ms",
			direction: protocol.ServiceToDevice,
			priority:  protocol.PriorityHigh,
			ttl:       120,
			ack:       true,
		},
	}
	if got := len(types.List()); got != len(tests) {
		t.Errorf("got %d built-in types, want %d", got, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			typ, ok := types.Lookup(tt.typ)
			if !ok {
				t.Fatalf("type %s not loaded", tt.typ)
			}
			p := typ.Policy
			if !typ.Allows(tt.direction) || p.Priority != tt.priority || p.TTL != tt.ttl || p.Ack != tt.ack ||
				p.MaxBytes != protocol.DefaultMaxPayloadBytes || p.Description == "" {
				t.Errorf("policy = %+v", p)
			}
			if err := types.Validate(tt.typ, []byte(tt.good)); err != nil {
				t.Errorf("good sample: %v", err)
			}
			err := types.Validate(tt.typ, []byte(tt.bad))
			var ve *protocol.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("bad sample: got %v, want a *ValidationError", err)
			}
			if ve.Code != protocol.CodeSchemaInvalid || len(ve.Details) == 0 || ve.Details[0].Pointer != tt.badPtr {
				t.Errorf("bad sample: got %+v, want schema_invalid at %q", ve, tt.badPtr)
			}
			if err := types.Validate(tt.typ, []byte(`{"unexpected":true}`)); err == nil {
				t.Error("a payload with an unknown property was accepted")
			}
		})
	}
}

func TestPlaybackConditionalFields(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload string
		ok      bool
	}{
		{"pause without extras", `{"action":"pause"}`, true},
		{"seek needs position", `{"action":"seek"}`, false},
		{"volume needs volume", `{"action":"volume"}`, false},
		{"volume in range", `{"action":"volume","volume":0}`, true},
		{"unknown action", `{"action":"rewind"}`, false},
		{"negative position", `{"action":"seek","position_ms":-1}`, false},
		{"fractional position", `{"action":"seek","position_ms":1.5}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := types.Validate("playback.control.v1", []byte(tt.payload))
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%s) = %v, want ok=%v", tt.payload, err, tt.ok)
			}
		})
	}
}
