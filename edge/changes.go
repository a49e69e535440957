package edge

import "context"

// Changes tells the cluster about a changed device list, as the REST API's
// device endpoints change it: the edges' cached lists of the account reload
// (Versions), and a removed device is disconnected (Router), in this region
// and, through their gateways, in the others (Router.Regions).
type Changes struct {
	Versions Versions
	Router   *Router
}

// BumpAccount makes every edge reload its cached list of account's devices,
// and queues the news for the other regions' gateways, which do the same there.
func (c Changes) BumpAccount(ctx context.Context, account string) error {
	if err := c.Versions.BumpAccount(ctx, account); err != nil {
		return err
	}
	if c.Router.Regions != nil {
		c.Router.Regions.Changed(account, "")
	}
	return nil
}

// Disconnect closes a removed device's connection wherever it is, and queues
// the news for the other regions' gateways, which close it there.
func (c Changes) Disconnect(ctx context.Context, account, device string) error {
	if c.Router.Regions != nil {
		c.Router.Regions.Changed(account, device)
	}
	return c.Router.Disconnect(ctx, account, device)
}
