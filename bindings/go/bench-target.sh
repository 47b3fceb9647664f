#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The Go binding's performance target (docs/performance.md, "Go binding"), checked on the
# output of `go test -bench . -benchmem -count N` (make bench-go runs it on its own output):
#
#   bindings/go/bench-target.sh BENCH-OUTPUT
#
# For each decision of BenchmarkAuthorize (allow, deny, no_match, dry_run), the median over
# the runs of Authorize's ns/op must be at most max(80, 1.5 x (CgoCall + PeerDecideC)): the
# medians of the same output's empty cgo call and of the same decision looped in C. It also
# reports Authorize's allocations per call (the target is 0), and Authorize on the policies of
# the `make bench` workload (BenchmarkAuthorizeBenchPolicy) when they ran. Exit status 1 when
# a target is missed, 2 when the output lacks a benchmark.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BENCH-OUTPUT" >&2; exit 2; }
awk '
function median(name,    n, i, j, t, a) {
    n = cnt[name]
    if (n == 0) return -1
    for (i = 1; i <= n; i++) a[i] = val[name, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) {
        if ($(i + 1) == "ns/op") { cnt[name]++; val[name, cnt[name]] = $i }
        if ($(i + 1) == "allocs/op" && $i > maxalloc[name]) maxalloc[name] = $i
    }
}
END {
    status = 0
    cgo = median("BenchmarkCgoCall")
    if (cgo < 0) { print "bench-target: no BenchmarkCgoCall in the output"; exit 2 }
    printf "Go binding target: Authorize median <= max(80, 1.5 x (CgoCall + PeerDecideC)), %d runs\n", cnt["BenchmarkCgoCall"]
    printf "  CgoCall median %.1f ns\n", cgo
    split("allow deny no_match dry_run", cases, " ")
    for (k = 1; k <= 4; k++) {
        c = cases[k]; a = "BenchmarkAuthorize/" c; d = "BenchmarkPeerDecideC/" c
        ma = median(a); md = median(d)
        if (ma < 0 || md < 0) { printf "  %-8s missing %s or %s\n", c, a, d; status = 2; continue }
        bound = 1.5 * (cgo + md); if (bound < 80) bound = 80
        ok = (ma <= bound ? "ok" : "MISSED")
        if (ma > bound && status == 0) status = 1
        al = maxalloc[a] + 0
        if (al > 0 && status == 0) status = 1
        printf "  %-8s Authorize %6.1f ns, PeerDecideC %5.1f ns, bound %6.1f ns: %s; %d allocs/op%s\n", c, ma, md, bound, ok, al, (al > 0 ? " (MISSED, want 0)" : "")
    }
    split("10 1000 100000", sizes, " ")
    for (k = 1; k <= 3; k++) {
        name = "BenchmarkAuthorizeBenchPolicy/rules=" sizes[k]
        if (cnt[name]) printf "  Authorize on the make bench workload, %6d rules: median %.1f ns, %d allocs/op\n", sizes[k], median(name), maxalloc[name]
    }
    exit status
}' "$1"
