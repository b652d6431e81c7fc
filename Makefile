# sluice: `make` builds everything, `make run` serves the default config,
# `make test` runs every test, `make bench` runs the benchmarks.
GO       ?= go
BUILD    := $(CURDIR)/build
MODULES  := $(BUILD)/modules
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: all sluice modules rust-modules run run-rust test test-go test-go-nocgo test-rust bench conformance clean

all: sluice modules rust-modules

# The release binary is pure Go: purego needs no C toolchain in the host.
sluice:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/sluice ./cmd/sluice

modules:
	$(MAKE) -C testdata/modules OUT=$(MODULES)

# The Rust examples need cargo; without it `make run` still works (the
# default config uses the C module) and only `make run-rust` is unavailable.
rust-modules:
	@if command -v cargo >/dev/null; then $(MAKE) -C sdk-rust OUT=$(MODULES); \
	else echo "cargo not found: skipping the Rust example modules"; fi

run: all
	cd $(CURDIR) && $(BUILD)/sluice run

run-rust: all
	cd $(CURDIR) && $(BUILD)/sluice run -c testdata/configs/rust.yaml

# Both builds must pass the same tests: the race detector needs cgo, the
# release build has none.
test: all test-go test-go-nocgo test-rust

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

test-go-nocgo:
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 15m ./...

test-rust:
	cd sdk-rust && cargo test --offline -q

bench: all
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./host/...
	bash bench/run.sh
	bash bench/concurrency.sh
	bash bench/tcp.sh
	bash bench/grpc.sh

clean:
	rm -rf $(BUILD)
