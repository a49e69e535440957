package devicelist

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Device is one device of an account, as FCM's registration or Pushy's device list would keep it.
//
// Times are in UTC with microsecond precision, the precision Postgres keeps, so
// that both stores return the same values. Empty Capabilities and Attributes
// come back nil.
type Device struct {
	Account      string            `json:"account"`
	ID           string            `json:"id"`
	Platform     string            `json:"platform,omitempty"`
	Name         string            `json:"name,omitempty"`
	AppVersion   string            `json:"app_version,omitempty"`
	Capabilities []string          `json:"capabilities,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
	LastSeen     time.Time         `json:"last_seen,omitzero"` // zero if never connected
}

// ErrNotFound means the account has no device with that id; callers answer 404.
var ErrNotFound = errors.New("devicelist: device not found")

// ErrUnavailable is wrapped by every failure to reach the store (connection
// refused or lost, a timeout, a cancelled context, an exhausted server), so that
// callers answer "unavailable" and never mistake it for a missing device. The
// error also wraps its cause.
var ErrUnavailable = errors.New("devicelist: unavailable")

// InvalidError reports a bad account/device id or metadata; callers answer 400.
// Field is the JSON name of the offending field of [Device].
type InvalidError struct{ Field, Reason string }

// Error names the field and says what is wrong with it.
func (e *InvalidError) Error() string {
	return "devicelist: invalid " + e.Field + ": " + e.Reason
}

// Limits on ids and metadata, the same in every store, so that one device row
// stays small and a device list fits in one response.
const (
	// MaxIDLen is the longest account or device id, in bytes.
	MaxIDLen = protocol.MaxIDLen
	// MaxCapabilities is the most capabilities a device may declare.
	MaxCapabilities = protocol.MaxCapabilities
	// MaxCapabilityLen is the longest capability, in bytes.
	MaxCapabilityLen = protocol.MaxCapabilityLen
	// MaxAttributes is the most attributes a device may carry.
	MaxAttributes = 32
	// MaxAttributeKeyLen is the longest attribute key, in bytes.
	MaxAttributeKeyLen = 64
	// MaxAttributeValueLen is the longest attribute value, in bytes.
	MaxAttributeValueLen = 256
	// MaxNameLen is the longest device name, in bytes.
	MaxNameLen = protocol.MaxNameLen
	// MaxPlatformLen is the longest platform, in bytes.
	MaxPlatformLen = protocol.MaxPlatformLen
	// MaxAppVersionLen is the longest app version, in bytes.
	MaxAppVersionLen = protocol.MaxAppVersionLen
)

// ValidID reports whether s is a valid account or device id: the rule is
// protocol.ValidID, 1..128 bytes of [A-Za-z0-9._:@-].
func ValidID(s string) bool { return protocol.ValidID(s) }

// checkID returns an InvalidError naming field unless id is valid.
func checkID(field, id string) error {
	if ValidID(id) {
		return nil
	}
	if id == "" {
		return &InvalidError{Field: field, Reason: "empty"}
	}
	if len(id) > MaxIDLen {
		return &InvalidError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	}
	return &InvalidError{Field: field, Reason: fmt.Sprintf("%q has characters other than A-Z a-z 0-9 . _ : @ -", id)}
}

// checkIDs checks an account id and, unless device is omitted, a device id.
func checkIDs(account, device string) error {
	if err := checkID("account", account); err != nil {
		return err
	}
	return checkID("id", device)
}

// textProblem says what keeps s from being stored, "" if nothing
// (protocol.TextProblem).
func textProblem(s string, max int) string { return protocol.TextProblem(s, max) }

// checkInfo checks the metadata a device may set of itself, in a PUT or a
// hello frame, by protocol.DeviceInfoProblem's rule.
func checkInfo(platform, name, appVersion string, capabilities []string) error {
	field, reason := protocol.DeviceInfoProblem(&protocol.DeviceInfo{Platform: platform, Name: name, AppVersion: appVersion, Capabilities: capabilities})
	if field != "" {
		return &InvalidError{Field: field, Reason: reason}
	}
	return nil
}

// checkDevice validates everything of d that Put stores.
func checkDevice(d *Device) error {
	if err := checkIDs(d.Account, d.ID); err != nil {
		return err
	}
	if err := checkInfo(d.Platform, d.Name, d.AppVersion, d.Capabilities); err != nil {
		return err
	}
	if len(d.Attributes) > MaxAttributes {
		return &InvalidError{Field: "attributes", Reason: fmt.Sprintf("%d entries, at most %d allowed", len(d.Attributes), MaxAttributes)}
	}
	valid := true
	for k, v := range d.Attributes {
		if k == "" || textProblem(k, MaxAttributeKeyLen) != "" || textProblem(v, MaxAttributeValueLen) != "" {
			valid = false
			break
		}
	}
	if valid {
		return nil
	}
	// Sorted, so that a device with several bad attributes always reports the same one.
	for _, k := range slices.Sorted(maps.Keys(d.Attributes)) {
		if k == "" {
			return &InvalidError{Field: "attributes", Reason: "empty key"}
		}
		if p := textProblem(k, MaxAttributeKeyLen); p != "" {
			return &InvalidError{Field: "attributes", Reason: fmt.Sprintf("key %.64q %s", k, p)}
		}
		if p := textProblem(d.Attributes[k], MaxAttributeValueLen); p != "" {
			return &InvalidError{Field: "attributes", Reason: fmt.Sprintf("value of %q %s", k, p)}
		}
	}
	return nil
}

// checkHello validates the metadata of a hello frame; nil is valid.
func checkHello(info *protocol.DeviceInfo) error {
	if info == nil {
		return nil
	}
	return checkInfo(info.Platform, info.Name, info.AppVersion, info.Capabilities)
}

// normalize returns d's metadata as a store keeps it: copies of the slice and
// map that the caller cannot change afterwards, nil when empty.
func normalize(d Device) Device {
	d.Capabilities = cloneCapabilities(d.Capabilities)
	d.Attributes = cloneAttributes(d.Attributes)
	return d
}

// cloneCapabilities copies c, returning nil for an empty list.
func cloneCapabilities(c []string) []string {
	if len(c) == 0 {
		return nil
	}
	return slices.Clone(c)
}

// cloneAttributes copies a, returning nil for an empty map.
func cloneAttributes(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	return maps.Clone(a)
}

// timestamp returns t as both stores keep it: UTC, microsecond precision (what
// Postgres' timestamptz holds), no monotonic clock reading.
func timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// unavailable wraps a failure to reach the store in ErrUnavailable and its
// cause, naming the operation.
func unavailable(op string, err error) error {
	return fmt.Errorf("devicelist: %s: %w: %w", op, ErrUnavailable, err)
}
