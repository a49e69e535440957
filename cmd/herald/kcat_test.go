package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// producedLine is the line of scripts/kcat-check.sh that names its message.
var producedLine = regexp.MustCompile(`(?m)^produced (kcat-\S+) to `)

// TestKcatInterop runs scripts/kcat-check.sh against `herald dev`: kcat, a
// client with nothing of ours, produces a message record that a device must then
// receive, and reads the processor's status events. It proves the record formats
// of package processor are what its doc says, not just what franz-go round-trips.
func TestKcatInterop(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat not found with CI=true: scripts/services.sh start installs it (apt-get install kcat): %v", err)
		}
		t.Skip("kcat not installed: apt-get install kcat (scripts/services.sh start installs it when run as root)")
	}
	dev := mustDev(t)
	if len(dev.node.kafkaAddrs) == 0 {
		t.Fatal("herald dev has no Kafka address")
	}
	brokers := strings.Join(dev.node.kafkaAddrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()

	listenOut, listenErr := &syncBuffer{}, &syncBuffer{}
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	listenDone := make(chan int, 1)
	go func() {
		listenDone <- run(lctx, []string{"listen", "--url", dev.base, "--account", "a1", "--device", "tv1"}, listenOut, listenErr)
	}()
	mustFrame(t, listenOut, "the listener's welcome", func(f protocol.Frame) bool {
		w, ok := f.(*protocol.Welcome)
		return ok && w.Account == "a1" && w.Device == "tv1"
	})

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "scripts", "kcat-check.sh"), brokers, "herald.")
	cmd.Env = append(os.Environ(), "KCAT_ACCOUNT=a1", "KCAT_DEVICE=tv1", "KCAT_TIMEOUT=20")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A kcat the script started may outlive it when ctx kills bash; don't wait
	// for its copy of the output pipes.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/kcat-check.sh %s: %v\nstdout:\n%s\nstderr:\n%s", brokers, err, &stdout, &stderr)
	}
	t.Logf("scripts/kcat-check.sh %s:\n%s", brokers, &stdout)
	m := producedLine.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("the script's stdout has no %q line:\n%s", producedLine, &stdout)
	}
	id := m[1]
	if !strings.Contains(stdout.String(), "\ndelivered "+id+"\n") {
		t.Errorf("the script exited 0 but did not print \"delivered %s\":\n%s", id, &stdout)
	}

	// The device got the very record kcat produced, so the processor decoded
	// it: a script that only found some "delivered" event would not get here.
	f := mustFrame(t, listenOut, "the kcat message in the listener's output", func(f protocol.Frame) bool {
		msg, ok := f.(*protocol.Msg)
		return ok && msg.ID == id
	})
	msg := f.(*protocol.Msg)
	if msg.Type != "notification.v1" {
		t.Errorf("msg type %q, want notification.v1", msg.Type)
	}
	if msg.From == nil || msg.From.Service != "kcat" {
		t.Errorf("msg from %+v, want service kcat", msg.From)
	}
	var payload bytes.Buffer
	if err := json.Compact(&payload, msg.Payload); err != nil || payload.String() != `{"title":"from kcat","body":"interop"}` {
		t.Errorf("msg payload %s, want {\"title\":\"from kcat\",\"body\":\"interop\"}", msg.Payload)
	}
	if msg.TS <= 0 {
		t.Errorf("msg ts %d, want the record's accepted time", msg.TS)
	}

	// The status materializer read the same events kcat did, maybe a moment
	// after it.
	var r result
	defer func() {
		if t.Failed() {
			t.Logf("last herald status %s: exit code %d\nstdout: %s\nstderr: %s", id, r.code, r.stdout, r.stderr)
		}
	}()
	waitFor(t, "herald status to report the kcat message delivered", func() bool {
		r = runCmd(t, ctx, "status", "--url", dev.base, "--key", settings.DevAPIKey, id)
		return r.code == 0 && strings.Contains(r.stdout, "delivered")
	})

	stopListen()
	select {
	case code := <-listenDone:
		if code != 0 {
			t.Errorf("listen exited %d, want 0\nstderr: %s", code, listenErr)
		}
	case <-time.After(waitBound):
		t.Fatal("listen did not return after its context was cancelled")
	}
}
