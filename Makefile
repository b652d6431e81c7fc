# sluice: `make` builds everything, `make run` serves the default config,
# `make test` runs every test, `make bench` runs the benchmarks
# (`make bench-quick`: the load tables in under two minutes), `make certs`
# makes a local CA and a certificate for localhost (build/certs) and
# `make run-https` serves HTTPS with them.
GO       ?= go
BUILD    := $(CURDIR)/build
MODULES  := $(BUILD)/modules
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: all sluice modules rust-modules run run-rust run-https certs test test-go test-go-nocgo test-rust bench bench-quick conformance fuzz image soak clean

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

run-https: all certs
	cd $(CURDIR) && $(BUILD)/sluice run -c testdata/configs/https.yaml

# A throwaway CA (build/certs/ca.crt) and an ECDSA P-256 certificate it
# signed for localhost and 127.0.0.1 (localhost.crt, localhost.key). Kept
# once made; `make clean` removes them.
CERTS := $(BUILD)/certs
certs: $(CERTS)/localhost.crt

$(CERTS)/localhost.crt:
	@mkdir -p $(CERTS)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=sluice local CA" -keyout $(CERTS)/ca.key -out $(CERTS)/ca.crt 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout $(CERTS)/localhost.key -out $(CERTS)/localhost.csr 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n' > $(CERTS)/localhost.ext
	openssl x509 -req -in $(CERTS)/localhost.csr -CA $(CERTS)/ca.crt -CAkey $(CERTS)/ca.key -CAcreateserial \
		-days 825 -extfile $(CERTS)/localhost.ext -out $(CERTS)/localhost.crt 2>/dev/null
	@rm -f $(CERTS)/localhost.csr $(CERTS)/localhost.ext $(CERTS)/ca.srl
	@echo "made $(CERTS)/ca.crt and $(CERTS)/localhost.{crt,key}"

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

# Load benchmarks print req/s and the proxy's CPU per request side by side
# with nginx and haproxy (bench/README.md explains them and how to profile).
bench: all
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./host/...
	bash bench/run.sh
	bash bench/tcp.sh
	bash bench/tls.sh
	bash bench/concurrency.sh
	bash bench/grpc.sh

bench-quick: all
	QUICK=1 bash bench/run.sh
	QUICK=1 bash bench/tcp.sh
	QUICK=1 bash bench/tls.sh

# The soak run (bench/soak): mixed and misbehaving traffic through module
# filters for SOAK (10 minutes by default; SOAK=60s for a quick run) while
# upstreams are killed and restarted; fails on a crash or a leak trend.
# SOAK_FLAGS passes more (e.g. -reload 30s: rewrite the config and SIGHUP every 30 s).
# Not part of `make test`.
SOAK       ?= 10m
SOAK_FLAGS ?=
soak: all
	$(GO) run ./bench/soak -bin $(BUILD)/sluice -modules $(MODULES) -duration $(SOAK) $(SOAK_FLAGS)

# Every native fuzz target, each for FUZZTIME (a short CI budget by
# default; see bench/fuzz.sh and docs/operations.md for longer runs).
# `make test` only replays the seed corpora (testdata/fuzz/ and f.Add).
FUZZTIME ?= 10s
FUZZ     ?= .
fuzz: modules
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ='$(FUZZ)' bash bench/fuzz.sh

# The container image (deploy/Dockerfile) with docker, or podman. Both
# need a running engine; without one this says so and fails.
IMAGE ?= sluice:$(VERSION)
image:
	@engine=""; \
	for e in docker podman; do \
		if command -v $$e >/dev/null 2>&1; then \
			if $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
			echo "make image: $$e is installed but cannot reach its engine ($$e info fails)"; \
		fi; \
	done; \
	if [ -z "$$engine" ]; then \
		echo "make image: no usable container engine (docker or podman): install one or start its daemon" >&2; \
		exit 1; \
	fi; \
	echo "$$engine build -f deploy/Dockerfile -t $(IMAGE)"; \
	$$engine build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf $(BUILD)
