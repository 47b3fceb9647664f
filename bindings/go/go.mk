# The Go binding (bindings/go/README.md): `make check-go` builds the C library, then checks gofmt, vets and
# tests bindings/go, its metrics module bindings/go/mtlsauthzprom and examples/chi against this
# tree's build through its uninstalled pkg-config file. Then tests/integration/go_module.sh
# runs the README's "Add it to your module" commands, with the `go` on PATH, in a new module
# outside the tree. Needs Go >= 1.23 on PATH (or GO=...;
# the binding itself needs 1.21, the Prometheus client 1.23) and the Go module proxy for Chi
# and the Prometheus client (tests, metrics and the example only). Included from the top Makefile, which defines B and `all`
# (and TEST_CERTS, the certificates of `make check`, which the Go tests reuse).

GO ?= go
# The tests run from their own directories, so every path they get is absolute.
GO_BUILD_DIR = $(abspath $(B))
ifeq ($(TEST_CERTS),)
GO_TEST_CERTS := $(B)/go-certs
$(GO_TEST_CERTS)/.stamp: tests/certs/gen-certs.sh
	rm -rf $(GO_TEST_CERTS)
	tests/certs/gen-certs.sh $(GO_TEST_CERTS) >/dev/null
	touch $@
else
GO_TEST_CERTS := $(TEST_CERTS)
endif
# Go's build cache does not see C libraries or pkg-config files (golang/go#24544): a package
# compiled once against another build directory would keep linking that directory's library.
# CGO_CPPFLAGS is part of its cache key, so a define naming this build directory and the
# public headers' hash makes a change of either rebuild the cgo package. The tests check
# which library they loaded (MTLSAUTHZ_TEST_LIBDIR).
GO_CGO_ID = $(shell { echo '$(GO_BUILD_DIR)'; cat include/mtlsauthz/*.h; } | sha256sum | cut -c1-16)
GO_ENV = PKG_CONFIG_PATH=$(GO_BUILD_DIR)/pkgconfig CGO_ENABLED=1 \
         CGO_CPPFLAGS=-DMTLSAUTHZ_CGO_BUILD_ID=$(GO_CGO_ID) \
         MTLSAUTHZ_TEST_CERTS=$(abspath $(GO_TEST_CERTS)) \
         MTLSAUTHZ_TEST_LIBDIR=$(GO_BUILD_DIR)/lib
# -count=1: go's test cache cannot see the C library change under it.
GO_TEST_FLAGS ?= -race -count=1

.PHONY: check-go bench-go

check-go: all $(GO_TEST_CERTS)/.stamp
	@command -v $(GO) >/dev/null || { echo "check-go: '$(GO)' not found; install Go >= 1.21" >&2; exit 1; }
	@unformatted=$$(gofmt -l bindings/go examples/chi); \
	    if [ -n "$$unformatted" ]; then echo "check-go: not gofmt'd: $$unformatted" >&2; exit 1; fi
	@# A Go module's zip holds only its own directory: each module carries a copy of LICENSE.
	@for l in bindings/go/LICENSE bindings/go/mtlsauthzprom/LICENSE; do \
	    cmp -s LICENSE $$l || { echo "check-go: $$l differs from LICENSE (cp LICENSE $$l)" >&2; exit 1; }; \
	done
	cd bindings/go && $(GO_ENV) $(GO) vet ./...
	cd bindings/go && $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) ./...
	cd bindings/go/mtlsauthzprom && $(GO_ENV) $(GO) vet ./...
	cd bindings/go/mtlsauthzprom && $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) ./...
	cd examples/chi && $(GO_ENV) $(GO) vet ./...
	cd examples/chi && $(GO_ENV) $(GO) build -o $(GO_BUILD_DIR)/bin/chi-example .
	cd examples/chi && $(GO_ENV) $(GO) test $(GO_TEST_FLAGS) ./...
	B=$(B) MTLSAUTHZ_TEST_CERTS=$(abspath $(GO_TEST_CERTS)) tests/integration/go_module.sh

# The Go benchmarks, never part of check: Authorize with a cached identity, the library's
# decision alone, one empty cgo call, the middleware, Authorize on the `make bench` workload's
# policies (10, 1,000 and 100,000 rules, written by the C benchmark's set-up), and requests
# over mTLS; then the target check over the output (bench-target.sh, docs/performance.md,
# "Go binding": it prints, and fails bench-go only on an output it cannot read); then the
# cost of counting (mtlsauthzprom: Observe, and the middleware without and with the
# collector).
GO_BENCH_POLICIES := $(B)/go-bench
$(GO_BENCH_POLICIES)/.stamp: $(BENCH_BIN)
	@mkdir -p $(GO_BENCH_POLICIES)
	for n in 10 1000 100000; do $(BENCH_BIN) --callgrind decide $$n 1 $(GO_BENCH_POLICIES) >/dev/null || exit 1; done
	touch $@

bench-go: all $(GO_TEST_CERTS)/.stamp $(GO_BENCH_POLICIES)/.stamp
	cd bindings/go && $(GO_ENV) MTLSAUTHZ_BENCH_POLICIES=$(abspath $(GO_BENCH_POLICIES)) \
	    $(GO) test -run '^$$' -bench . -benchmem -count 5 ./... > $(GO_BUILD_DIR)/bench-go.txt; \
	    st=$$?; cat $(GO_BUILD_DIR)/bench-go.txt; exit $$st
	bindings/go/bench-target.sh $(B)/bench-go.txt || [ $$? -eq 1 ]
	cd bindings/go/mtlsauthzprom && $(GO_ENV) $(GO) test -run '^$$' -bench . -benchmem -count 5 ./...
