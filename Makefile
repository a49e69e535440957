# Targets for building and testing Herald; see docs/testing.md.
#
# PKGS limits the checks and tests to some packages, e.g.
#   make test PKGS=./scripts/...
# FUZZTIME sets how long `make fuzz` runs each fuzz target.

PKGS ?= ./...
FUZZTIME ?= 30s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

export PKGS FUZZTIME STATICCHECK

.PHONY: all test test-js services-up services-down vet lint fmt fuzz build clean bench faults

all: build

## test: start Postgres and Redis, vet, staticcheck, gofmt check, go test -race, stop; then test-js
test:
	scripts/test.sh

## test-js: the JavaScript SDK's tests and the demo's browser tests (headless Chromium)
test-js:
	scripts/jstest.sh

## services-up: start Postgres and Redis for repeated go test runs; see make services-down
services-up:
	@scripts/services.sh start
	@echo 'load the environment with: eval "$$(scripts/services.sh env)"'

## services-down: stop what services-up started
services-down:
	scripts/services.sh stop

## vet: go vet
vet:
	scripts/check.sh vet

## lint: staticcheck and the gofmt check
lint:
	scripts/check.sh staticcheck gofmt

## fmt: check that the Go files are formatted with gofmt
fmt:
	scripts/check.sh gofmt

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	scripts/fuzz.sh

## build: build bin/herald
build:
	go build -o bin/herald ./cmd/herald

## faults: the full fault-injection suite (scripts/faults) with its figures; a short
## version of each scenario runs in make test. FAULTSFLAGS adds go test flags.
faults:
	scripts/faults.sh

## bench: herald bench suite, the standard load set (herald dev, two serve edges for d2d on
## private Redis and Postgres), each step beside its ceiling; BENCHFLAGS adds flags (--quick)
bench: build
	@if scripts/services.sh status; then echo '==> using services from make services-up'; else \
		trap 'scripts/services.sh stop' EXIT; trap 'exit 130' INT TERM; scripts/services.sh start || exit 1; fi; \
	. ./.services/env; \
	bin/herald bench suite --redis-addr "$$HERALD_TEST_REDIS_ADDR" --postgres-url "$$HERALD_TEST_POSTGRES_URL" $(BENCHFLAGS)

clean:
	rm -rf bin
