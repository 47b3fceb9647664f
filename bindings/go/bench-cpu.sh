#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# CPU time per operation of Go benchmarks, for a machine that other work shares.
#
#   PKG_CONFIG_PATH=.../build/pkgconfig MTLSAUTHZ_TEST_CERTS=DIR bindings/go/bench-cpu.sh [REGEX...]
#
# `go test -bench` reports wall time. On a busy machine that counts the time other processes
# hold the CPU. This script runs each benchmark at a fixed count, N1 and then N2 iterations,
# under `perf stat -e task-clock` (the process's CPU time; hardware counters are not needed),
# with GOMAXPROCS 1. It prints (cpu(N2) - cpu(N1)) / (N2 - N1): the set-up cancels out, and
# what is left is the CPU time of one iteration. It is still inflated when other work evicts
# caches, so take the lowest of the three runs as the best estimate.
set -eu
cd "$(dirname "$0")"
N1=${N1:-1000000}
N2=${N2:-11000000}
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
CGO_ENABLED=1 go test -c -o "$bin" .
[ $# -gt 0 ] || set -- '^BenchmarkAuthorize$/^allow$' '^BenchmarkPeerDecideC$/^allow$' '^BenchmarkCgoCall$'
cpu_ms() {
    perf stat -x, -e task-clock "$bin" -test.run '^$' -test.bench "$1" -test.benchtime "${2}x" \
        -test.cpu 1 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }'
}
for re in "$@"; do
    for run in 1 2 3; do
        a=$(cpu_ms "$re" "$N1")
        b=$(cpu_ms "$re" "$N2")
        awk -v re="$re" -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" \
            'BEGIN { printf "%-40s %7.1f ns CPU/op\n", re, (b - a) * 1e6 / (n2 - n1) }'
    done
done
