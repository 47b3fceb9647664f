# `make bench` (docs/performance.md): builds bench/bench.c against the tree's static library with -O2, runs
# it, and writes $(B)/bench.json plus the policies it generates ($(B)/bench-policy-N.yaml).
# docs/performance.md explains the method and holds the results. Never part of `make check`.
# `make bench-callgrind` counts instructions per decision (10, 1000, 100000 rules), per resolve
# and per extraction, under valgrind: numbers that repeat on a busy machine.
# Included from the top Makefile after STLIB, ALL_CFLAGS, DEPS_LIBS and B are defined.

BENCH_BIN := $(B)/bench/bench
BENCH_JSON := $(B)/bench.json
BENCH_ARGS ?=

.PHONY: bench bench-callgrind

# -O2 after ALL_CFLAGS keeps the benchmark's own loops optimized whatever OPTFLAGS says; the
# library itself is built with OPTFLAGS (-O2 -g by default), as it ships.
$(BENCH_BIN): bench/bench.c $(STLIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O2 -pthread -o $@ bench/bench.c $(STLIB) $(DEPS_LIBS)

bench: $(BENCH_BIN)
	$(BENCH_BIN) $(BENCH_ARGS) $(BENCH_JSON)

bench-callgrind: $(BENCH_BIN)
	bench/callgrind.sh $(BENCH_BIN) $(B)
