// Package testenv gives tests private access to the real Postgres and Redis that
// `make test` starts (see scripts/services.sh and docs/testing.md).
//
// Tests talk to real servers rather than mocks because mocks drift from how
// Postgres and Redis really behave. Each test gets its own database and its own
// Redis key prefix, so tests and packages can run in parallel against one pair of
// servers and leave nothing behind.
//
// The servers are found through [PostgresEnv] and [RedisEnv]. When a variable is
// unset or its server unreachable, a test is skipped on a developer machine and
// fails when the environment variable CI is "true", so CI never passes by
// skipping.
//
// Package testenv imports nothing of Herald's (it runs the herald binary and
// real servers): tests of any package may use it, production code never does.
package testenv
