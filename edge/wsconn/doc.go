// Package wsconn is the idle-cheap transport under a device WebSocket: the
// hijacked connection (Conn) that coder/websocket reads and writes through, the
// epoll Poller that parks idle connections, and the few WebSocket frame rules
// (RFC 6455, section 5.2) that both need.
//
// It owns what an idle connection costs below the session: bufio buffers of 16
// bytes, read buffers borrowed from a pool only while bytes are in flight, frames
// gathered into one write, keepalive pings written and pongs taken out of the
// stream without coder/websocket (Conn.Ping, Conn.PingSent), whole text frames
// written straight to the socket by the delivering goroutine
// (Conn.TryWriteText, Conn.FinishTorn), and parking: a connection with nothing
// to read for a second between two messages ends its reader goroutine (Read
// returns ErrParked) and the Poller asks the connection's Owner to start a new
// one when bytes arrive. docs/design.md, "What an idle connection costs", has the
// measured breakdown.
//
// Goroutines: the Poller's Run loop, started and waited for by its owner (the
// edge server); everything else runs on the caller's goroutine. Locks: Conn's
// pmu (the read side's hand-over between the reader and the poller) before the
// Poller's fdMu (arming); the Poller's mu and Conn's wmu (the outgoing stream)
// are taken with no other lock held.
//
// The package knows nothing of sessions, devices, messages or links: it must not
// import edge or any other Herald package (protocol included); the session it
// serves is the one-method Owner. The session code calls the concrete *Conn, so
// no call on the delivery path goes through an interface.
package wsconn
