// Package herald is the Go device SDK of Herald: it keeps one WebSocket from a
// device to an edge, delivers the messages addressed to the device (without
// duplicates), and sends messages to sibling devices of the same account,
// returning their receipts.
//
// # Usage
//
//	c, err := herald.New(herald.Config{
//		URL:   "wss://edge.example.com",
//		Token: deviceToken,
//		OnMessage: func(m *protocol.Msg) {
//			log.Printf("%s from %+v: %s", m.Type, m.From, m.Payload)
//		},
//		AutoAck: true,
//	})
//	if err != nil {
//		return err
//	}
//	go func() { errc <- c.Run(ctx) }() // until ctx is done or a final error
//
//	<-c.Connected()
//	r, err := c.Send(ctx, protocol.Target{Device: "tv1"}, "playback.control.v1",
//		map[string]any{"action": "pause"})
//
// # Goroutines
//
// Run owns every goroutine of the client: its own, which dials, waits for the
// welcome and then for the connection to end; and, per connection, one read
// goroutine that decodes frames, answers waiting Sends and calls OnMessage.
// Callbacks (OnMessage, OnReceipt, OnPresence, OnFrame, OnState) are never
// called concurrently with each other. When Run returns, both goroutines have
// ended.
//
// # Sending to sibling devices
//
// Send takes a protocol.Target; SendToDevice, SendToDevices and
// SendToSiblings fill it in for one device, several, or every other device
// of the account. Targets are always devices of the sender's own account:
// the server checks that against the device list, and answers other targets
// with an error frame, which Send returns as a *ServerError.
//
// The edge answers every msg with a receipt (same id) once each target has
// its first outcome: "delivered" (written to the target's socket),
// "offline", "queued", "rejected" or "timeout". Send returns that receipt.
// A msg sent with an ack (WithAck) may get a second receipt, with the same
// id, once each target has its final outcome: "acked", or "timeout" when the
// target did not acknowledge in time. The server sends it only if it differs
// from the first, which is the case whenever the first had a "delivered".
//
//	                             first receipt        second receipt (ack only)
//	target connected, acks       delivered            acked
//	target connected, no ack     delivered            timeout
//	target offline               offline              none
//	target refused               rejected             none
//
// SendAndWait sends with an ack and returns the final receipt: the second
// one, or the first when none of its results is "delivered". If ctx ends
// between the two, it returns the first receipt together with an error that
// wraps ctx's error (context.DeadlineExceeded for a deadline); if the
// connection drops, the first receipt with an error that wraps
// ErrNotConnected. Config.OnReceipt sees every receipt, the first and the
// later ones, in order, including those of msgs sent with Send.
//
// # Presence
//
// After Hello(ctx, info, true) the server sends presence frames when a
// sibling device comes online or goes offline; Config.OnPresence receives
// them.
//
// # Duplicates and acks
//
// Delivery is at least once, so a msg may arrive again, for example after a
// reconnect. The client remembers the last Config.DedupSize msg ids across
// reconnects and drops a msg whose id it has seen: OnFrame still sees it,
// OnMessage does not.
//
// A msg with an ack (ack:true) comes again when its ack did not reach the
// edge: the connection was cut, or the edge died, between the write and the
// ack. A stored msg with an ack is written again on every connection until
// the edge has its ack, on the connection that wrote it. So a dropped
// duplicate that asks for an ack is handled this way:
//
//	the msg was                        the client
//	acked by Config.AutoAck            acks the duplicate again
//	acked by the app (Client.Ack)      acks the duplicate again: the app's ack was lost
//	not acked yet (no AutoAck)         drops it without an ack; the app's own Ack,
//	                                   when it comes, goes out on the current
//	                                   connection, which wrote the duplicate
//
// An Ack that failed (ErrNotConnected) counts as acked: the client acks the
// duplicate that follows on the next connection. Once an id has left the
// window of Config.DedupSize ids, its duplicate is a new msg to OnMessage.
//
// # Disconnects
//
// Run reconnects after everything except the final cases below; a final case
// ends Run with an error that wraps the sentinel shown. "backoff" is
// exponential with equal jitter: the n-th delay in a row (n from 0) is
// random in [c/2, c] with c = min(MaxBackoff, MinBackoff·2^(n+1)), and never
// below MinBackoff or above MaxBackoff. The backoff starts over once a
// connection has received its welcome.
//
//	cause                                      what Run does
//	-----------------------------------------  ---------------------------------------------
//	reconnect frame {after_ms, reason}         closes with 1000 itself (so that TIME_WAIT stays
//	(reason lifetime, drain, rebalance)        on the device), waits after_ms plus a random
//	                                           jitter of up to max(20% of after_ms, 250ms),
//	                                           reconnects; the backoff starts over. Not an
//	                                           error: OnState gets StateDisconnected with nil
//	close 4000 replaced                        final: ErrReplaced (a newer connection of this
//	                                           device took over)
//	close 4003 device removed                  final: ErrRemoved (deleted from the device list)
//	close 4001 token expired                   with TokenFunc: reconnects at once with a fresh
//	                                           token, no error (a second 4001 in a row waits
//	                                           the backoff); without: final, ErrTokenExpired
//	close 1000, 1001, 1008, 1009, 1011, 4002,  reconnects after the backoff
//	other codes, 1006 / network errors
//	no frame and no ping for 2.5 ping_ms       closes the connection, reconnects after the
//	                                           backoff (a half-open TCP connection)
//	HTTP 401 at the handshake                  with TokenFunc: reconnects after the backoff;
//	                                           without: final, ErrUnauthorized
//	HTTP 403 at the handshake                  final: ErrForbidden
//	other HTTP statuses, dial errors, a first  reconnects after the backoff, or after the
//	frame that is not a welcome                answer's Retry-After in seconds when longer
//	                                           (429 for a device in policy backoff after a
//	                                           1008, 503 over the edge's connect rate)
//	TokenFunc error                            reconnects after the backoff, unless it wraps
//	                                           ErrUnauthorized or ErrForbidden: final
//	ctx done                                   closes with 1000, returns nil
//
// Messages stored for the device while it was offline (store-and-forward)
// arrive right after the welcome, each with its seq. The client keeps the
// highest seq as its resume cursor (Client.Cursor) and sends it as ?after= on
// every reconnect, so that the edge writes only the later ones; an app that
// persists the cursor passes it back as Config.After after a restart. A
// stored message written again (the connection was cut before the edge
// removed it) keeps its id and is dropped as a duplicate.
//
// While the client is not connected, Send, Ack and Hello return
// ErrNotConnected; a Send waiting for its receipt when the connection drops
// returns ErrNotConnected too. Nothing is queued for the next connection,
// except the latest Hello, which the client sends after every welcome.
//
// # Endpoints
//
// A deployment with several regions gives each device the URL of its
// nearest region's edges as Config.URL and the others as
// Config.FallbackURLs, in order (or one DNS name that fails over, as
// Config.URL alone). The client stays on the preferred endpoint while it
// works and moves on only for the next attempt, with the backoff above
// between attempts and the same final cases on every endpoint. A
// Retry-After is honoured when the next attempt goes to the endpoint that
// sent it (a 429 keeps the endpoint); a 503's Retry-After does not delay the
// move to the next endpoint:
//
//	attempt ended with                         next attempt dials
//	-----------------------------------------  ---------------------------------------------
//	dial failed: refused, DNS, TLS, timeout,   the next endpoint in the list, after the last
//	HTTP 5xx, no welcome                       the first again
//	HTTP 401, 403, 429 or another 4xx          the same endpoint: it works, and its answer
//	                                           is about this device
//	connection lost                            the preferred endpoint (the same one when
//	                                           connected to it): its dial failing moves on
//	reconnect frame (drain, lifetime), 4001,   the same endpoint
//	TokenFunc error
//
// Connected to a fallback, the client checks after Config.FallbackRetry
// (default 10 minutes, Ably's fallbackRetryTimeout; plus up to 20% of random
// jitter, so that a region's devices spread out) whether the preferred
// endpoint answers HTTP (POST /v1/acks without a token, refused with 401:
// no side effects). If it does, the client closes the fallback connection
// with 1000 and dials the preferred one at once (OnState gets
// StateDisconnected with nil); if not, it checks again FallbackRetry later.
// Client.Endpoint returns the endpoint in use, as configured.
//
// Package herald (the Go device SDK) imports protocol only; it must not import
// any server package: it speaks the wire contract, as any device does.
package herald
