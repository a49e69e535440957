package protocol

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of the metadata a device sets of itself (a hello frame's device, or a
// REST PUT): the same at the edge, which checks a hello before anything of it
// reaches a sibling or a store, and in every device list store.
const (
	// MaxPlatformLen is the longest platform, in bytes.
	MaxPlatformLen = 32
	// MaxNameLen is the longest device name, in bytes.
	MaxNameLen = 128
	// MaxAppVersionLen is the longest app version, in bytes.
	MaxAppVersionLen = 64
	// MaxCapabilities is the most capabilities a device may declare.
	MaxCapabilities = 32
	// MaxCapabilityLen is the longest capability, in bytes.
	MaxCapabilityLen = 64
)

// TextProblem says what keeps s from being stored as device metadata, "" if
// nothing: it must fit in max bytes and be storable as Postgres text and in
// jsonb (valid UTF-8 without NUL).
func TextProblem(s string, max int) string {
	switch {
	case len(s) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL byte"
	}
	return ""
}

// DeviceInfoProblem checks device metadata against the limits above. It
// returns the JSON name of the first offending field and what is wrong with it,
// or two empty strings when info is valid (nil is valid). The reason never
// quotes the value.
func DeviceInfoProblem(info *DeviceInfo) (field, reason string) {
	if info == nil {
		return "", ""
	}
	for _, f := range [...]struct {
		name, v string
		max     int
	}{
		{"platform", info.Platform, MaxPlatformLen},
		{"name", info.Name, MaxNameLen},
		{"app_version", info.AppVersion, MaxAppVersionLen},
	} {
		if p := TextProblem(f.v, f.max); p != "" {
			return f.name, p
		}
	}
	if len(info.Capabilities) > MaxCapabilities {
		return "capabilities", fmt.Sprintf("%d entries, at most %d allowed", len(info.Capabilities), MaxCapabilities)
	}
	for i, c := range info.Capabilities {
		p := TextProblem(c, MaxCapabilityLen)
		if c == "" {
			p = "empty"
		}
		if p != "" {
			return "capabilities", fmt.Sprintf("entry %d %s", i, p)
		}
	}
	return "", ""
}
