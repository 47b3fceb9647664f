#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per request that MtlsAuthz::Rack adds, in-process, under callgrind: the same
# count on a busy machine as on an idle one (docs/performance.md, "Whole requests").
# middleware_cost.rb makes N calls of the bare app, or of the middleware in front of it, with
# a Puma-shaped env; each is run for N1 and N2 calls and the difference, divided by N2 - N1,
# is the cost of one call without Ruby's start-up.
#
#   bench/http/rack/instructions.sh [LIB [CERT]]
#
# LIB defaults to build/lib/libmtlsauthz.so.0, CERT to build/test-certs/builder.pem.
# Environment: N1 (1000), N2 (11000).
set -euo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
lib=${1:-$top/build/lib/libmtlsauthz.so.0}
cert=${2:-$top/build/test-certs/builder.pem}
n1=${N1:-1000}
n2=${N2:-11000}
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
[ -r "$lib" ] || { echo "instructions.sh: no library at $lib (run make)" >&2; exit 1; }
[ -r "$cert" ] || { echo "instructions.sh: no certificate at $cert (run make test-certs)" >&2; exit 1; }

# count WHAT N: the instructions of a run of N calls.
count() {
    MTLSAUTHZ_LIB=$lib valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        ruby "$top/bench/http/rack/middleware_cost.rb" "$cert" "$2" "$1" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A per
for what in app middleware; do
    a=$(count "$what" "$n1")
    b=$(count "$what" "$n2")
    [ -n "$a" ] && [ -n "$b" ] || { echo "instructions.sh: callgrind gave no count" >&2; exit 1; }
    per[$what]=$(((b - a) / (n2 - n1)))
    printf '%-32s %8d instructions/call\n' "$what + fresh env" "${per[$what]}"
done
printf '%-32s %8d instructions/request\n' "MtlsAuthz::Rack" "$((per[middleware] - per[app]))"
