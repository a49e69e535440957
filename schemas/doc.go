// Package schemas holds Herald's built-in message types: one JSON Schema (draft
// 2020-12) document per type, named <type>.json, whose top-level "x-herald" object is
// the type's policy. protocol.LoadTypes reads them from FS, beside a configured
// directory of app-defined types.
package schemas

import "embed"

// FS holds the built-in schema files at its root, ready for protocol.LoadTypes.
//
//go:embed *.json
var FS embed.FS
