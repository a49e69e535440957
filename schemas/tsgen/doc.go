// Package tsgen turns message types' JSON Schemas (draft 2020-12) into one
// TypeScript module: a type per message type and per $ref target, the
// HeraldMessageTypes map that the JavaScript SDK's HeraldClient takes as its type
// parameter, and heraldTypeNames. `herald schema ts` writes it; the SDK's
// clients/js/src/types.gen.ts is its output for the built-in types, and a test here
// keeps that file current.
//
// It owns the translation only: the ordered JSON decoding of a schema, $ref
// resolution inside one document, the TypeScript expression of each keyword and the
// TSDoc that says what a type leaves to the server. Generate never fails: a
// schema or keyword it cannot express becomes unknown (or is left out) with a note,
// because the server validates every payload anyway; the types only move the
// common mistakes to compile time.
//
// It reads no files and no flags (cmd/herald does, and loads the types through
// protocol.LoadTypes) and imports nothing of ours but protocol: never edge, api,
// registry, devicelist, processor or cmd/herald.
package tsgen
