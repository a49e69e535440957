package edge

import (
	"context"
	"log/slog"
)

// sessionLog is the slog.Handler of a session's logger. It adds the connection's
// attributes (account, device, session, remote) to a record when one is logged.
// Logger.With would have the server's handler format them up front, for every
// connection, and keep the result: a few hundred bytes of each idle connection
// with the JSON handler, for lines most connections never log.
type sessionLog struct {
	ss     *session
	remote string
	h      slog.Handler // the server's
}

var _ slog.Handler = (*sessionLog)(nil)

func (l *sessionLog) attrs() []slog.Attr {
	return []slog.Attr{slog.String("account", l.ss.account), slog.String("device", l.ss.device),
		slog.String("session", l.ss.id), slog.String("remote", l.remote)}
}

// Enabled asks the server's handler.
func (l *sessionLog) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

// Handle adds the connection's attributes to r, after r's own.
func (l *sessionLog) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(l.attrs()...)
	return l.h.Handle(ctx, r)
}

// WithAttrs returns the server's handler with the connection's attributes and as.
func (l *sessionLog) WithAttrs(as []slog.Attr) slog.Handler {
	return l.h.WithAttrs(append(l.attrs(), as...))
}

// WithGroup returns the server's handler with the connection's attributes, then
// the group.
func (l *sessionLog) WithGroup(name string) slog.Handler {
	return l.h.WithAttrs(l.attrs()).WithGroup(name)
}
