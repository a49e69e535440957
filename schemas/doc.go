// Package schemas holds Herald's built-in message types: one JSON Schema (draft
// 2020-12) document per type, named <type>.json, whose top-level "x-herald" object is
// the type's policy. protocol.LoadTypes reads them from FS; [Load] reads them
// beside an app's directory of its own types (herald serve --schemas-dir).
// [WriteGenerated] writes the code that packages tsgen and gogen generate from
// the types (herald schema ts, herald schema go) into an app's tree.
//
// Package schemas imports protocol only, as tsgen and gogen do, which never
// import each other.
package schemas

import "embed"

// FS holds the built-in schema files at its root, ready for protocol.LoadTypes.
//
//go:embed *.json
var FS embed.FS
