package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// TestDevRegions runs `herald dev --regions 2` as its README shows: a device
// in one region gets a push sent through the other, and the device list says
// where each device is.
func TestDevRegions(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, []string{"--regions", "2", "--addr", "127.0.0.1:0", "--admin-addr", ""}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("herald dev: %v", err)
			}
		case <-time.After(waitBound):
			t.Error("herald dev did not stop")
		}
		http.DefaultClient.CloseIdleConnections()
	})
	line := regexp.MustCompile(`(?m)^  (eu|us) +http://(\S+)  \(devices`)
	addrs := map[string]string{}
	waitFor(t, "the banner of both regions", func() bool {
		for _, m := range line.FindAllStringSubmatch(stdout.String(), -1) {
			addrs[m[1]] = m[2]
		}
		return len(addrs) == 2
	})

	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("a1", "tv1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, "ws://"+addrs["us"]+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	tv := &clusterDevice{c: c}
	if _, ok := tv.next(t).(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}

	r := runCmd(t, ctx, "send", "--url", "http://"+addrs["eu"], "--key", settings.DevAPIKey, "--account", "a1", "--device", "tv1",
		"--type", "notification.v1", "--payload", `{"title":"Hello","body":"from region eu"}`, "--timeout", "10s")
	if r.code != 0 || !strings.Contains(r.stdout, `"delivered"`) {
		t.Fatalf("send through eu: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := nextOf[*protocol.Msg](t, tv); m.Type != "notification.v1" {
		t.Fatalf("tv got %+v", m)
	}
	for region, addr := range addrs {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/accounts/a1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+settings.DevAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"region":"us"`) {
			t.Errorf("devices seen from %s: %s", region, b)
		}
	}
}
