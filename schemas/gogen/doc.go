// Package gogen translates the JSON Schemas of message types into Go types,
// one struct (or named type) per message type, for backends that send them
// with clients/go/sender: `herald schema go` is its command, and
// clients/go/msgtypes holds the built-in types it generated.
//
// The translation covers what payload schemas use: objects with properties
// (a struct; a required property is a plain field, an optional one a pointer
// or a nil slice or map, left out when empty), objects of
// additionalProperties only (a map), arrays (a slice), strings, integers
// (int64), numbers (float64), booleans, string enums (a named string type
// with a constant per value), nullable types (a pointer) and local $refs (a
// named type). What Go cannot say (a oneOf or anyOf of shapes, a schema of
// no type) is a json.RawMessage, noted in the field's comment; formats,
// ranges, lengths and if/then/else are left to the server, which validates
// every payload against the schema itself.
//
// Every generated type has a HeraldType method naming its message type, so
// that sender.Push and sender.Send take the type from the payload.
package gogen
