// Package sender is Herald's library for backend senders: the REST API behind
// one Client, as Zuul Push's push library was behind one send.
//
//	c, err := sender.New(sender.Config{URL: "https://herald.example.com", APIKey: key})
//	res, err := c.Push(ctx, sender.Push{To: sender.Device("a1", "tv1"), Type: "notification.v1", Payload: note})
//	id, err := c.Send(ctx, sender.Message{To: sender.Account("a1"), Type: "notification.v1", Payload: note})
//	st, err := c.Status(ctx, id)
//
// Push is the synchronous path (POST /v1/push: the devices' results in the
// answer), PushBatch many of them in one request, Send the asynchronous one
// (POST /v1/messages, through Kafka: an id at once, the outcome later through
// Status), SendBatch many of them in one request (POST /v1/messages/batch:
// each message's id or Problem). Publish and TopicCount serve topics;
// Devices, PutDevice and DeleteDevice an account's device list.
//
// Retries are made only where they are safe, with backoff and jitter
// (Config.MaxRetries, MinBackoff, MaxBackoff), within the caller's context:
//
//   - Send always carries an Idempotency-Key (a fresh one unless the caller
//     gives one), so a Send is retried on a failed connection, a 5xx, a 409
//     (the same key still being processed) and a 429, and the server enqueues
//     it once; SendBatch gives each of its messages a key likewise and is
//     retried the same way, the messages an earlier attempt enqueued coming
//     back Replayed (one message's own problem in its result, a 503 when the
//     queue did not take it, is not retried: send that message again);
//   - GET requests (Status, TopicCount, Devices) are retried likewise;
//   - everything else (Push, PushBatch, Publish, PutDevice, DeleteDevice) is
//     retried only when the server said it did nothing and when to try again:
//     a 429 or a 503 with Retry-After. A failed connection or another 5xx is
//     returned, since the request may have been carried out.
//
// A Retry-After the server sends is honoured (capped by MaxBackoff times
// four). Errors the server answers are *Problem (errors.As), with its code,
// HTTP status and per-field details, from the problem+json body (RFC 9457).
//
// Package sender imports protocol (the wire types) only: it is a client of
// the REST API and knows nothing of the server's packages.
package sender
