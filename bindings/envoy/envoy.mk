# The Envoy ext_authz server (bindings/envoy/README.md): `make envoy` builds
# build/bin/mtlsauthz-envoy; `make check-envoy` checks gofmt, vets and tests the module (and the
# example configurations in examples/envoy) against this tree's build; `make bench-envoy` runs
# the Check latency benchmark. Needs Go >= 1.24 and the Go module proxy (go-control-plane,
# grpc, the Prometheus client; istio.io/api and sigs.k8s.io/yaml for the tests only).
# Included from the top Makefile after bindings/go/go.mk, whose GO, GO_ENV and GO_TEST_CERTS it
# uses.

ENVOY_BIN := $(B)/bin/mtlsauthz-envoy
ENVOY_SRCS := $(wildcard bindings/envoy/*.go bindings/envoy/cmd/mtlsauthz-envoy/*.go) \
              bindings/envoy/go.mod bindings/envoy/go.sum $(wildcard bindings/go/*.go) \
              $(wildcard bindings/go/mtlsauthzprom/*.go)

.PHONY: envoy check-envoy bench-envoy

envoy: $(ENVOY_BIN)

$(ENVOY_BIN): $(SHLIB) $(PC_UNINSTALLED) $(ENVOY_SRCS)
	@command -v $(GO) >/dev/null || { echo "envoy: '$(GO)' not found; install Go >= 1.24" >&2; exit 1; }
	@mkdir -p $(dir $@)
	cd bindings/envoy && $(GO_ENV) $(GO) build -o $(GO_BUILD_DIR)/bin/mtlsauthz-envoy ./cmd/mtlsauthz-envoy

check-envoy: all $(ENVOY_BIN) $(GO_TEST_CERTS)/.stamp
	@unformatted=$$(gofmt -l bindings/envoy); \
	    if [ -n "$$unformatted" ]; then echo "check-envoy: not gofmt'd: $$unformatted" >&2; exit 1; fi
	cd bindings/envoy && $(GO_ENV) $(GO) vet ./...
	cd bindings/envoy && $(GO_ENV) MTLSAUTHZ_ENVOY_BIN=$(GO_BUILD_DIR)/bin/mtlsauthz-envoy \
	    $(GO) test $(GO_TEST_FLAGS) ./...

# Check latency over loopback gRPC, against a no-op server in the same run (p50, p99 and the
# ratio of the p50s; the target is at most 1.3), and the server's own work per Check. Never
# part of check. The load average is printed first: the numbers mean little on a busy machine.
bench-envoy: all $(GO_TEST_CERTS)/.stamp
	@echo "load average: $$(cut -d' ' -f1-3 /proc/loadavg) on $$(nproc) CPUs"
	cd bindings/envoy && $(GO_ENV) $(GO) test -run '^$$' -bench 'BenchmarkCheckLatency|BenchmarkServerCheck' \
	    -benchtime 20000x -benchmem -count 3 .
