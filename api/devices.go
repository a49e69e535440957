package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

// DeviceStore is the device list the API manages.
type DeviceStore interface {
	Put(ctx context.Context, d devicelist.Device) (devicelist.Device, bool, error)
	List(ctx context.Context, account string) ([]devicelist.Device, error)
	Delete(ctx context.Context, account, device string) (bool, error)
}

// Presence tells whether a device is connected, and in which region.
type Presence interface {
	// Where reports whether the device is connected, and in which region
	// ("" in a deployment of one region).
	Where(ctx context.Context, account, device string) (region string, online bool, err error)
}

// Changes announces a change of an account's device list to every cache of it,
// and disconnects removed devices.
type Changes interface {
	BumpAccount(ctx context.Context, account string) error
	Disconnect(ctx context.Context, account, device string) error
}

// DeviceView is a device in GET /v1/accounts/{account}/devices.
type DeviceView struct {
	devicelist.Device
	Online bool `json:"online"`
	// Region is the region the device is connected in, in a deployment of
	// regions (herald serve --region); absent otherwise and while offline.
	Region string `json:"region,omitempty"`
}

// DeviceRequest is the body of PUT /v1/accounts/{account}/devices/{device}: the
// device's metadata, as a hello frame carries it, plus free-form attributes.
type DeviceRequest struct {
	Platform     string            `json:"platform"`
	Name         string            `json:"name"`
	AppVersion   string            `json:"app_version"`
	Capabilities []string          `json:"capabilities"`
	Attributes   map[string]string `json:"attributes"`
}

func (s *Server) deviceRoutes(r chi.Router) {
	r.Get("/v1/accounts/{account}/devices", s.listDevices)
	r.Put("/v1/accounts/{account}/devices/{device}", s.putDevice)
	r.Delete("/v1/accounts/{account}/devices/{device}", s.deleteDevice)
}

// deviceProblem maps a device-list failure to a problem.
func deviceProblem(err error) *protocol.Problem {
	var ie *devicelist.InvalidError
	switch {
	case errors.As(err, &ie):
		return protocol.NewProblem(protocol.CodeBadRequest, ie.Error())
	case errors.Is(err, devicelist.ErrNotFound):
		return protocol.NewProblem(protocol.CodeNotFound, "no such device")
	default:
		return protocol.NewProblem(protocol.CodeUnavailable, "the device list is unavailable right now; retry")
	}
}

// pathIDs reads the account and, when device is true, the device of a device
// route's path, and checks them by the id rule (protocol.ValidID) before they
// reach a store, a log line or an answer; an invalid one is answered 400 without
// quoting it, and ok is false.
func pathIDs(w http.ResponseWriter, r *http.Request, device bool) (acct, dev string, ok bool) {
	acct = chi.URLParam(r, "account")
	if p := protocol.IDProblem(acct); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "invalid account id: "+p).Write(w)
		return "", "", false
	}
	if !device {
		return acct, "", true
	}
	dev = chi.URLParam(r, "device")
	if p := protocol.IDProblem(dev); p != "" {
		protocol.NewProblem(protocol.CodeBadRequest, "invalid device id: "+p).Write(w)
		return "", "", false
	}
	return acct, dev, true
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	account, _, ok := pathIDs(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	devs, err := s.cfg.Devices.List(ctx, account)
	if err != nil {
		s.cfg.Logger.Warn("listing devices failed", "account", account, "err", err)
		deviceProblem(err).Write(w)
		return
	}
	out := struct {
		Account string       `json:"account"`
		Devices []DeviceView `json:"devices"`
	}{Account: account, Devices: make([]DeviceView, 0, len(devs))}
	for _, d := range devs {
		v := DeviceView{Device: d}
		if s.cfg.Presence != nil {
			v.Region, v.Online, _ = s.cfg.Presence.Where(ctx, account, d.ID) // unknown counts as offline
		}
		out.Devices = append(out.Devices, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putDevice(w http.ResponseWriter, r *http.Request) {
	account, device, ok := pathIDs(w, r, true)
	if !ok {
		return
	}
	var req DeviceRequest
	if !s.decodeJSON(w, r, &req, deviceFields) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	d, created, err := s.cfg.Devices.Put(ctx, devicelist.Device{
		Account: account, ID: device, Platform: req.Platform, Name: req.Name, AppVersion: req.AppVersion,
		Capabilities: req.Capabilities, Attributes: req.Attributes,
	})
	if err != nil {
		deviceProblem(err).Write(w)
		return
	}
	s.changed(ctx, account)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, d)
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	account, device, ok := pathIDs(w, r, true)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	ok, err := s.cfg.Devices.Delete(ctx, account, device)
	if err != nil {
		deviceProblem(err).Write(w)
		return
	}
	if !ok {
		protocol.NewProblem(protocol.CodeNotFound, fmt.Sprintf("account %q has no device %q", account, device)).Write(w)
		return
	}
	s.changed(ctx, account)
	if s.cfg.Changes != nil {
		if err := s.cfg.Changes.Disconnect(ctx, account, device); err != nil {
			s.cfg.Logger.Warn("disconnecting a removed device failed", "account", account, "device", device, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// changed bumps the account's device-list version so every cache reloads it.
func (s *Server) changed(ctx context.Context, account string) {
	if s.cfg.Changes == nil {
		return
	}
	if err := s.cfg.Changes.BumpAccount(ctx, account); err != nil {
		s.cfg.Logger.Warn("announcing a device-list change failed", "account", account, "err", err)
	}
}
