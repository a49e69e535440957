// Package link is the wire of the links between edges: the frames one edge sends
// another (Msg, Replace, Presence, Nudge, and the receipt that answers a msg), their
// hand-written encoders (AppendMsg, AppendReceipt, into pooled buffers from
// GetFrame), the one decoder that reads every frame that arrives on a link
// (Scanner: Kind, then the reader of that kind), and Conn, one end of a link: a
// WebSocket whose text messages carry one or more newline-separated frames, with
// a bounded send queue that never blocks and a writer that joins what has queued
// into one message.
//
// A cross-edge push goes through here twice: the sending edge encodes the msg and
// queues it on its Conn, the receiving edge's Conn reads it and the Scanner
// decodes it; the receipt comes back the same way. Every call on that path is a
// direct call on a concrete type: the package declares no interface.
//
// Goroutines: Conn.Run reads on its caller's goroutine and owns one writer
// goroutine, which it stops and waits for before it returns. Send and SendPooled
// may be called from any goroutine; a Scanner belongs to the goroutine that reads
// the link.
//
// What a frame means on the edge (delivering a msg to a session, closing a
// replaced session, presence news) is not here: the dialling side (edge.Links)
// and the accepting side (edge.Server's link handler and its jobs) live in
// package edge, next to the sessions they act on. This package must not import
// edge, registry or any other Herald package but protocol; the wire contract of
// a link is docs/design.md, "Edge links".
package link
