# SPDX-License-Identifier: Apache-2.0
# `make bench-http` (docs/performance.md, "Whole requests"): requests per second over real mTLS
# keep-alive connections with the middleware on and off, in paired, interleaved rounds, for Go
# net/http + Chi, Puma with a Rack app, and nginx; and the server's CPU time per request. It
# installs what it runs (Puma, nginx, curl: scripts/install-deps ruby nginx), builds the
# library, the Go server (bench/http/go, against this tree's build like check-go), the load
# generator of bench-nginx, the nginx module and the test certificates, then runs
# bench/http/run.sh, which prints a table and writes $(B)/bench-http.json. Numbers, no asserts;
# never part of `make check`. ROUNDS (5), SECONDS_PER_RUN (10), CONNECTIONS (4) and STACKS
# ("go puma nginx") pass through.
# Included from the top Makefile after bindings/go/go.mk and bindings/nginx/nginx.mk (GO,
# GO_ENV, GO_BUILD_DIR, NGINX_MODULE, NGINX_LOAD, NGINX_BIN).

BENCH_HTTP_GO := $(B)/bench-http/bench-http-go

.PHONY: bench-http bench-http-build bench-http-go

# Go's build cache decides what to rebuild (the cgo package's cache key names this build
# directory: GO_ENV in bindings/go/go.mk).
bench-http-go: all
	@command -v $(GO) >/dev/null || { echo "bench-http: '$(GO)' not found; install Go >= 1.21" >&2; exit 1; }
	@unformatted=$$(gofmt -l bench/http/go); \
	    if [ -n "$$unformatted" ]; then echo "bench-http: not gofmt'd: $$unformatted" >&2; exit 1; fi
	cd bench/http/go && $(GO_ENV) $(GO) vet . && $(GO_ENV) $(GO) build -o $(abspath $(BENCH_HTTP_GO)) .

bench-http-build: all bench-http-go nginx-module $(NGINX_LOAD) $(TEST_CERTS)/.stamp

bench-http:
	@scripts/install-deps ruby nginx
	@$(MAKE) --no-print-directory bench-http-build
	B=$(B) NGINX_BIN=$(NGINX_BIN) bench/http/run.sh
