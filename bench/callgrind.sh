#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make bench-callgrind`: instructions per operation under valgrind --tool=callgrind. Unlike
# wall-clock times, these counts repeat exactly on a busy or shared machine, so they show how
# the cost of a decision grows with the policy, and where it goes.
#
# usage: bench/callgrind.sh BENCH_BINARY OUT_DIR
# Env: CALLGRIND_ITERATIONS: decisions per run (default 20000); peer_new runs use a tenth of
# that, extraction runs a hundredth.
set -eu
bin=$1
dir=$2
n=${CALLGRIND_ITERATIONS:-20000}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "bench-callgrind: valgrind is not installed" >&2
    exit 1
fi

# With valgrind's client requests compiled in, only the measured loop is instrumented.
instr=yes
[ "$("$bin" --callgrind-client-requests)" = yes ] && instr=no

# run WHAT RULES COUNT: prints "WHAT RULES COUNT Ir Ir/op", keeps the profile, and leaves Ir/op
# in $irop.
run() {
    out=$dir/callgrind.$1.$2.out
    if ! valgrind --tool=callgrind --instr-atstart=$instr --toggle-collect="bench_$1_loop" \
        --callgrind-out-file="$out" "$bin" --callgrind "$1" "$2" "$3" "$dir" \
        >"$out.log" 2>&1; then
        cat "$out.log" >&2
        exit 1
    fi
    ir=$(awk '/^totals:/ { t = $2 } END { print t + 0 }' "$out")
    awk -v w="$1" -v r="$2" -v c="$3" -v ir="$ir" \
        'BEGIN { printf "%-14s %8s %8s %14s %12.0f\n", w, r, c, ir, ir / c }'
    irop=$(awk -v ir="$ir" -v c="$3" 'BEGIN { printf "%.0f", ir / c }')
}

printf '%-14s %8s %8s %14s %12s\n' loop rules count instructions 'Ir/op'
run decide 10 "$n"
run decide 1000 "$n"
run decide 100000 "$n"
run peer 10 $((n / 10))
run peer 100000 $((n / 10))
run extract 10 $((n / 100))
der_irop=$irop
run extract_x509 10 $((n / 100))
x509_irop=$irop
run baseline 10 $((n / 100))
awk -v x="$x509_irop" -v d="$der_irop" \
    'BEGIN { printf "extract_x509 / extract: %.2fx in instructions (the per-connection identity from an X509 against the DER walker)\n", x / d }'
echo
echo "Where a decision goes at 100000 rules (self cost, top functions):"
callgrind_annotate "$dir/callgrind.decide.100000.out" 2>/dev/null | sed -n '/^Ir/,$p' | head -14
echo
echo "Profiles: $dir/callgrind.*.out (callgrind_annotate FILE)"
