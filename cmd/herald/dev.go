package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/settings"
)

// runDev runs every role in one process on the embedded defaults: the in-memory
// registry, the public development token secret and API key.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := devConfig(args, stderr)
	if err != nil {
		return err
	}
	if c.DevRegions > 1 {
		return runDevRegions(ctx, c, stdout, stderr)
	}
	return serve(ctx, c, stdout, stderr, func(n *node) {
		printDevBanner(stdout, n.addr("public"), strings.Join(n.kafkaAddrs, ","), n.addr("admin"))
	})
}

// devConfig parses the command line of `herald dev` into the configuration it
// serves: every role, the development token secret and API key.
func devConfig(args []string, stderr io.Writer) (*settings.Server, error) {
	var c settings.Server
	fs := settings.NewFlags("dev", stderr)
	c.Flags(fs, true)
	if err := settings.Parse(fs, args); err != nil {
		return nil, err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return nil, err
	}
	c.Roles = settings.List{"edge", "api", "processor"}
	c.TokenSecrets = settings.List{settings.DevTokenSecret}
	c.APIKeys = settings.List{"dev:" + settings.DevAPIKey}
	c.Demo = true
	c.Console = c.AdminAddr != ""
	c.AdminKeys = settings.List{settings.DevAdminKey}
	if err := c.Validate(true); err != nil {
		return nil, err
	}
	return &c, nil
}

// printDevBanner tells a new user where everything is, the demo first.
func printDevBanner(w io.Writer, addr, kafka, admin string) {
	base := "http://" + addr
	ws := "ws://" + addr
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	adminLine, metricsLine := "", ""
	if admin != "" {
		adminLine = "  Admin                http://" + admin + "/metrics, /healthz, /readyz; POST /drain\n" +
			"  Console              http://" + admin + "/console/  admin key (dev only): " + settings.DevAdminKey + "\n" +
			"  Admin API            http://" + admin + "/admin/v1/fleet, /admin/v1/devices/ACCOUNT/DEVICE, ... (Authorization: Bearer ADMIN_KEY)\n"
		metricsLine = "  curl -s http://" + admin + "/metrics | grep herald_edge_connections\n"
	}
	consoleTop := ""
	if admin != "" {
		consoleTop = "\nConsole  http://" + admin + "/console/  (admin key: " + settings.DevAdminKey + ")"
	}
	sample := ""
	if err == nil {
		sample, _ = iss.Issue("a1", "tv1", 24*time.Hour)
	}
	fmt.Fprintf(w, `
Demo  %[1]s/demo/  (open it in two tabs)%[8]s

Herald dev is running: every role in one process, nothing persisted.

  Devices (WebSocket)  %[2]s/v1/connect        subprotocol herald.v1
  Devices (SSE)        %[1]s/v1/events
  REST API             %[1]s/v1/push, /v1/messages, /v1/types  (OpenAPI: %[1]s/v1/openapi.json)
  API key (dev only)   %[3]s
  Kafka (in memory)    %[5]s  topics herald.messages.high|normal|low, herald.status
%[6]s
Get a device token (signed with the public dev secret):
  go run ./cmd/herald token --account a1 --device tv1
A token for a1/tv1, valid 24 h:
  %[4]s

Try it:
  go run ./cmd/herald listen --url %[1]s --account a1 --device tv1
  go run ./cmd/herald send --url %[1]s --key %[3]s --account a1 --device tv1 \
      --type notification.v1 --payload '{"title":"Hello","body":"from Herald"}'
  go run ./cmd/herald send --async --priority high --url %[1]s --key %[3]s --account a1 --device tv1 \
      --type notification.v1 --payload '{"title":"Later","body":"through Kafka"}'
  go run ./cmd/herald status --url %[1]s --key %[3]s ID
%[7]s
Ctrl-C (or SIGTERM) drains: listeners get reconnect (drain) over --drain-window, then it exits.

`, base, ws, settings.DevAPIKey, sample, kafka, adminLine, metricsLine, consoleTop)
}
