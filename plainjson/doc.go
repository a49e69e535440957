// Package plainjson reads JSON text in the plain form that senders' encoders
// write, without reflection: strings without escapes, control characters or
// invalid UTF-8 where the caller keeps them, integers where it wants a
// number, nesting of at most MaxDepth. A Reader reports false for anything
// else, valid JSON or not, and the caller then decodes the text with
// encoding/json, so that what it makes of a text is always what encoding/json
// would; each caller holds its decoder to that with a fuzz test.
//
// encoding/json's reflection and its second pass over a body were the largest
// part of the API's work on a batch of messages (BENCHMARKS.md, issue 21).
package plainjson
