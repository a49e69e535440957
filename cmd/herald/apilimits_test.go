package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/settings"
)

// TestDevLimitFlags checks that the REST API's bounds on a batch and a push
// are the flags' through a running `herald dev`, at each edge: --max-batch
// messages pass and one more is 413, a timeout_ms of --max-push-timeout passes
// and one millisecond more is 400.
func TestDevLimitFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dev := startCmd(t, "dev", "dev", "--max-batch", "2", "--max-push-timeout", "3s", "--push-timeout", "1s")
	msg := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"}}`
	batch := func(n int) string {
		return `{"messages":[` + strings.TrimSuffix(strings.Repeat(msg+",", n), ",") + `]}`
	}
	tests := []struct {
		name, path, body string
		status           int
		detail           []string
	}{
		{"an async batch of --max-batch", "/v1/messages/batch", batch(2), http.StatusOK, nil},
		{"an async batch of one more", "/v1/messages/batch", batch(3), http.StatusRequestEntityTooLarge, []string{"3", "2"}},
		{"a push batch of --max-batch", "/v1/push/batch", `{"messages":[` + msg + `,` + msg + `],"timeout_ms":10}`, http.StatusOK, nil},
		{"a push batch of one more", "/v1/push/batch", `{"messages":[` + msg + `,` + msg + `,` + msg + `]}`, http.StatusRequestEntityTooLarge, []string{"3", "2"}},
		{"a push waiting --max-push-timeout", "/v1/push", strings.TrimSuffix(msg, "}") + `,"timeout_ms":3000}`, http.StatusOK, nil},
		{"a push waiting a millisecond more", "/v1/push", strings.TrimSuffix(msg, "}") + `,"timeout_ms":3001}`, http.StatusBadRequest, []string{"3000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := adminCall(t, dev.addr, settings.DevAPIKey, http.MethodPost, tt.path, tt.body)
			if code != tt.status {
				t.Fatalf("%d %s, want %d", code, body, tt.status)
			}
			for _, d := range tt.detail {
				if !strings.Contains(body, d) {
					t.Errorf("%s does not say %q", body, d)
				}
			}
		})
	}
}
