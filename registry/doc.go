// Package registry knows where each device is connected: device -> {edge, session,
// since}. Only the newest connection of a device is registered; unregistering is a
// compare-and-delete on the session, so a stale connection never removes a newer
// registration.
//
// [Memory] keeps the registry in process memory, for `herald dev` and for tests of
// the code that uses it. Consumers declare the small interfaces they need (the edge
// registers and unregisters, the API looks up); the implementations here satisfy
// them.
package registry
