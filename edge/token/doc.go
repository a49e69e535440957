// Package token mints and verifies device tokens: JWTs that carry a device's account
// and id. The edge verifies a token before it upgrades a connection; `herald token`
// and backends mint them.
//
// Every key is pinned to one algorithm by its type: an HS256 secret verifies HS256
// only, an Ed25519 public key EdDSA only, an RSA public key RS256 only. A token's
// alg must be its key's, so "none" and algorithm confusion (an HS256 token "signed"
// with an RSA public key's bytes) cannot pass. Keys carry key ids ("kid") for
// rotation: a token naming a kid is checked against that key only, and refused
// when no key has it; a token without kid is checked against the keys of its alg.
// Keys come from configuration and, optionally, from a JWKS file (RFC 7517) that
// is re-read when it changes.
//
// Package token imports protocol (the id rule) and golang-jwt; it must not import
// edge or anything else of Herald's: the edge, herald token and bench use it.
package token
