package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/registry"
)

// DeviceAnswer is the answer of GET /admin/v1/devices/{account}/{device}.
type DeviceAnswer struct {
	Account string `json:"account"`
	Device  string `json:"device"`
	// Connected reports a live registration on a live edge.
	Connected bool `json:"connected"`
	// Edge, Session and Since are the registry's record (Since in Unix
	// milliseconds); empty when the device is offline.
	Edge    string `json:"edge,omitempty"`
	Session string `json:"session,omitempty"`
	Since   int64  `json:"since,omitempty"`
	// Region is the answering node's region, "" in one region.
	Region string `json:"region,omitempty"`
	// ConnectedIn is the other region that holds the device, when this one
	// does not (Connected is then true, and Edge, Session and Live empty:
	// that region's console knows them).
	ConnectedIn string `json:"connected_in,omitempty"`
	// Live is the edge's own account of the session: lifetime left,
	// protocol, send queue. Nil when offline or when the edge could not be
	// asked (LiveError says why).
	Live      *Session `json:"live,omitempty"`
	LiveError string   `json:"live_error,omitempty"`
	// Listed is the device's entry in its account's list, with last_seen;
	// nil when the device is not listed.
	Listed    *devicelist.Device `json:"listed,omitempty"`
	ListError string             `json:"list_error,omitempty"`
	// Pending counts the messages waiting in the device's inbox, nil without
	// an inbox.
	Pending      *int   `json:"pending,omitempty"`
	PendingBytes *int64 `json:"pending_bytes,omitempty"`
	InboxError   string `json:"inbox_error,omitempty"`
}

// device answers GET /admin/v1/devices/{account}/{device}.
func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	account, device, ok := ids(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	out := DeviceAnswer{Account: account, Device: device, Region: s.cfg.Region}
	e, err := s.cfg.Locator.Lookup(ctx, account, device)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		if s.cfg.Regions != nil {
			if region, _ := s.cfg.Regions.Locate(ctx, account, device); region != "" {
				out.Connected, out.ConnectedIn = true, region
			}
		}
	case err != nil:
		s.unavailable(w, "the registry", err)
		return
	default:
		out.Connected, out.Edge, out.Session, out.Since = true, e.Edge, e.Session, e.Since.UnixMilli()
		s.liveSession(ctx, &out)
	}
	if s.cfg.Devices != nil {
		d, err := s.cfg.Devices.Get(ctx, account, device)
		switch {
		case errors.Is(err, devicelist.ErrNotFound):
		case err != nil:
			out.ListError = err.Error()
		default:
			out.Listed = &d
		}
	}
	if s.cfg.Inbox != nil {
		st, err := s.cfg.Inbox.Stats(ctx, account, device)
		if err != nil {
			out.InboxError = err.Error()
		} else {
			out.Pending, out.PendingBytes = &st.Messages, &st.Bytes
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// liveSession fills the session facts of the device's edge, this one or
// another over its internal listener.
func (s *Server) liveSession(ctx context.Context, out *DeviceAnswer) {
	if s.cfg.Local != nil && out.Edge == s.cfg.Local.ID() {
		if ss, ok := s.localSession(out.Account, out.Device); ok {
			out.Live = &ss
		} else {
			out.LiveError = "the edge holds no session of the device (it just ended)"
		}
		return
	}
	if s.cfg.Peers == nil {
		out.LiveError = "no cluster key configured to ask edge " + out.Edge
		return
	}
	addr, err := s.cfg.Locator.EdgeAddr(ctx, out.Edge)
	if err != nil {
		out.LiveError = "no internal address of edge " + out.Edge + ": " + err.Error()
		return
	}
	var ss Session
	switch err := s.cfg.Peers.do(ctx, http.MethodGet, addr, sessionPath(out.Account, out.Device), &ss); {
	case errors.Is(err, errNoSession):
		out.LiveError = "the edge holds no session of the device (it just ended)"
	case err != nil:
		out.LiveError = "edge " + out.Edge + ": " + err.Error()
	default:
		out.Live = &ss
	}
}

// disconnect answers POST /admin/v1/devices/{account}/{device}/disconnect:
// the device's connection is closed wherever it is, with 4003 (removed), as
// when it is deleted from its account's list. A device that is not
// connected answers 404.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	account, device, ok := ids(w, r)
	if !ok {
		return
	}
	if s.cfg.Disconnector == nil {
		protocol503(w, "disconnecting devices needs the edge or api role")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	e, err := s.cfg.Locator.Lookup(ctx, account, device)
	if errors.Is(err, registry.ErrNotFound) {
		protocolNotFound(w, "device "+account+"/"+device+" is not connected")
		return
	}
	if err != nil {
		s.unavailable(w, "the registry", err)
		return
	}
	if err := s.cfg.Disconnector.Disconnect(ctx, account, device); err != nil {
		s.unavailable(w, "the device's edge", err)
		return
	}
	s.cfg.Logger.Info("admin: device disconnected", "account", account, "device", device, "edge", e.Edge)
	writeJSON(w, http.StatusOK, map[string]string{"account": account, "device": device, "edge": e.Edge, "session": e.Session, "status": "disconnected"})
}
