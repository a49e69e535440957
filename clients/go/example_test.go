package herald_test

import (
	"context"
	"errors"
	"log"
	"os/signal"
	"syscall"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/protocol"
)

// A TV app that obeys playback commands from the phone of the same account,
// and tells the phone when it starts.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	c, err := herald.New(herald.Config{
		URL: "wss://edge.example.com",
		TokenFunc: func(ctx context.Context) (string, error) {
			return "device-jwt", nil // fetch a fresh device token here
		},
		OnMessage: func(m *protocol.Msg) {
			log.Printf("%s from %+v: %s", m.Type, m.From, m.Payload)
		},
		AutoAck: true,
	})
	if err != nil {
		log.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()

	select {
	case <-c.Connected():
	case err := <-errc:
		log.Fatal(err)
	}
	err = c.Hello(ctx, protocol.DeviceInfo{Platform: "tv", Name: "Living room"}, true)
	if err != nil {
		log.Print(err)
	}
	r, err := c.Send(ctx, protocol.Target{Device: "phone1"}, "playback.state.v1",
		map[string]any{"state": "ready"}, herald.WithTTL(30))
	var se *herald.ServerError
	switch {
	case errors.As(err, &se):
		log.Printf("rejected: %s", se.Frame.Code)
	case err != nil:
		log.Print(err)
	default:
		for _, res := range r.Results {
			log.Printf("%s: %s", res.Device, res.Status)
		}
	}

	if err := <-errc; err != nil {
		log.Fatal(err) // ErrReplaced, ErrUnauthorized or ErrForbidden
	}
}

// A phone remote that tells the TV of the same account to pause, and waits
// until the TV has acknowledged the command.
func ExampleClient_SendAndWait() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	c, err := herald.New(herald.Config{
		URL:   "wss://edge.example.com",
		Token: "phone-device-jwt",
		OnPresence: func(p *protocol.Presence) {
			log.Printf("%s online: %t", p.Device, p.Online)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx) }()
	defer func() {
		cancel()
		<-errc // Run has ended and closed the connection
	}()

	select {
	case <-c.Connected():
	case err := <-errc:
		log.Fatal(err)
	}

	// The TV acks within the server's ack timeout, or the second receipt says
	// "timeout"; ten seconds leaves room for both.
	wctx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	r, err := c.SendAndWait(wctx, protocol.Target{Device: "tv1"}, "playback.control.v1",
		map[string]any{"action": "pause"})
	var se *herald.ServerError
	switch {
	case errors.As(err, &se):
		log.Printf("rejected: %s: %s", se.Frame.Code, se.Frame.Message)
		return
	case errors.Is(err, context.DeadlineExceeded) && r != nil:
		log.Printf("delivered, but no final receipt yet: %+v", r.Results)
		return
	case err != nil:
		log.Print(err) // not connected, or no receipt at all
		return
	}
	for _, res := range r.Results {
		if res.Status == protocol.StatusAcked {
			log.Printf("%s paused", res.Device)
		} else {
			log.Printf("%s: %s %s", res.Device, res.Status, res.Error)
		}
	}
}
