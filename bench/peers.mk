# SPDX-License-Identifier: Apache-2.0
# `make bench-peers` (docs/performance.md, "Peers"): the `make bench` workload in OPA, cedar-go
# and casbin next to libmtlsauthz through its Go binding, in one Go process (bench/peers). It
# builds the library and bench/bench.c, writes the workload with `bench --dump $(B)`, builds
# bench/peers (its own Go module; go.mod and go.sum pin the peers' versions, fetched through
# the Go module proxy), vets and tests it (bench/peers/peers_test.go: every translation
# against hand-written decisions, and the agreement check against wrong engines) and runs it,
# which writes $(B)/bench-peers.json and prints a table. PEERS_ARGS passes flags (`-rounds`,
# `-budget`, `-min`, `-sample`, `-engines`; see bench/peers/main.go). Never part of
# `make check`. Included from the top Makefile; GO and GO_ENV come from bindings/go/go.mk (the
# cgo build cache keyed on this build directory).

PEERS_BIN := $(B)/bench/peers
PEERS_JSON := $(B)/bench-peers.json
PEERS_ARGS ?=

.PHONY: bench-peers

bench-peers: all $(BENCH_BIN)
	@command -v $(GO) >/dev/null || { echo "bench-peers: '$(GO)' not found; install Go >= 1.26" >&2; exit 1; }
	@unformatted=$$(gofmt -l bench/peers); \
	    if [ -n "$$unformatted" ]; then echo "bench-peers: not gofmt'd: $$unformatted" >&2; exit 1; fi
	cd bench/peers && $(GO_ENV) $(GO) vet ./...
	cd bench/peers && $(GO_ENV) $(GO) test -count=1 ./...
	$(BENCH_BIN) --dump $(B)
	cd bench/peers && $(GO_ENV) $(GO) build -o $(abspath $(PEERS_BIN)) .
	$(PEERS_BIN) $(PEERS_ARGS) $(B) $(PEERS_JSON)
