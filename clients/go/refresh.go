package herald

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// DefaultRefreshBefore is how long before its token expires a connection is
// refreshed (Config.RefreshBefore).
const DefaultRefreshBefore = time.Minute

// refreshTimeout bounds one refresh: the token from TokenFunc and the edge's
// answer.
const refreshTimeout = 10 * time.Second

// tokenExpiry reads the exp claim of a JWT without checking it (the edge
// does): zero when the token has none or is no JWT.
func tokenExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Exp == nil {
		return time.Time{}
	}
	return time.Unix(int64(*claims.Exp), 0)
}

// refreshAt is when a connection whose token expires at exp is refreshed:
// RefreshBefore earlier, or half way to exp when that is sooner; zero for
// never (no TokenFunc, refreshes off, or a token without exp).
func (c *Client) refreshAt(exp, now time.Time) time.Time {
	if c.cfg.TokenFunc == nil || c.cfg.RefreshBefore < 0 || exp.IsZero() {
		return time.Time{}
	}
	left := exp.Sub(now)
	before := c.cfg.RefreshBefore
	if before == 0 {
		before = DefaultRefreshBefore
	}
	if before > left/2 {
		before = left / 2
	}
	return exp.Add(-before)
}

// errRefreshRefused is the error of a refresh the edge refused.
var errRefreshRefused = errors.New("herald: token refresh refused")

// refresh gets a new token from TokenFunc and sends it on cn in a refresh
// frame, and returns its expiry once the edge answered refreshed. A refused
// refresh leaves the connection's old expiry: it closes with 4001 then, and
// the client reconnects with a fresh token as before.
func (c *Client) refresh(ctx context.Context, cn *conn) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	tok, err := c.cfg.TokenFunc(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("herald: token for a refresh: %w", err)
	}
	id := protocol.NewID()
	ch, err := cn.expect(id, false)
	if err != nil {
		return time.Time{}, err
	}
	defer cn.forget(id)
	if err := cn.writeFrame(ctx, &protocol.Refresh{ID: id, Token: tok}, c.cfg.SendTimeout); err != nil {
		return time.Time{}, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return time.Time{}, fmt.Errorf("%w: %w", errRefreshRefused, r.err)
		}
		if r.refreshed == nil {
			return time.Time{}, fmt.Errorf("%w: answered with a receipt", errRefreshRefused)
		}
		if r.refreshed.Exp == 0 {
			return time.Time{}, nil
		}
		return time.Unix(r.refreshed.Exp, 0), nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("herald: token refresh: no answer in time: %w", ctx.Err())
	}
}
