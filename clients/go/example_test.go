package herald_test

import (
	"context"
	"errors"
	"log"
	"os/signal"
	"syscall"

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
