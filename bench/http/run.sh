#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Whole requests (docs/performance.md, "Whole requests"): requests per second over real mTLS
# keep-alive connections, middleware on versus off, for three stacks:
#
#   go     net/http + Chi (bench/http/go), mtlsauthz.Middleware or nothing
#   puma   Puma 5, single mode, 4 threads, a minimal Rack app (bench/http/rack), with
#          `use MtlsAuthz::Rack` or without
#   nginx  one nginx worker, "mtlsauthz on" or "mtlsauthz off" (bindings/nginx/bench/load.sh,
#          the script of `make bench-nginx`, one mode at a time)
#
# Each round runs every stack once in each mode, back to back (a pair), the order of the pair
# alternating from round to round (odd rounds on first). The server runs on CPU 1 and the load
# generator (mtls-load: keep-alive HTTP/1.1 GET /healthz, the "builder" client certificate) on
# CPU 0. Per run: requests per second after a one-second warm-up, and the server's CPU time
# (utime + stime of its process from /proc, for nginx its worker) over every request the
# run sent, warm-up included. Per stack: the medians, the median of the per-round ratios on/off
# (the target: at least 0.97, at most 3% fewer requests per second with the middleware on) and
# the median CPU per request. Prints a table (Markdown, for docs/performance.md) and writes the
# JSON file. Numbers, no asserts: the exit status says only whether every run worked (every
# response 200, and the middleware really on or off, checked before each run).
#
#   bench/http/run.sh            (make bench-http builds everything and runs this)
#
# Environment: B (build; the tree's build directory: lib/, test-certs/, nginx/, bench-http/),
# ROUNDS (5), SECONDS_PER_RUN (10), CONNECTIONS (4), STACKS ("go puma nginx"), JSON
# ($B/bench-http.json), NGINX_BIN (/usr/sbin/nginx), PUMA (puma), PUMA_THREADS (4: Puma's
# fixed thread pool).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B="$top/$B" ;; esac
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-10}
conns=${CONNECTIONS:-4}
stacks=${STACKS:-go puma nginx}
json=${JSON:-$B/bench-http.json}
puma=${PUMA:-puma}
certs=$B/test-certs
load=$B/nginx/mtls-load
go_server=$B/bench-http/bench-http-go
module=$B/nginx/ngx_http_mtlsauthz_module.so
shlib=$B/lib/libmtlsauthz.so.0
policy=$top/examples/policy.yaml
client=builder

die() {
    echo "bench-http: $*" >&2
    exit 1
}

[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$rounds'"
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "SECONDS_PER_RUN must be a positive integer, not '$secs'"
[[ $conns =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, not '$conns'"
for s in $stacks; do
    case $s in go | puma | nginx) ;; *) die "unknown stack '$s' (go, puma, nginx)" ;; esac
done
need=("$certs/$client-chain.pem" "$load")
for s in $stacks; do
    case $s in
    go) need+=("$go_server") ;;
    puma) need+=("$shlib") ;;
    nginx) need+=("$module") ;;
    esac
done
for f in "${need[@]}"; do
    [ -e "$f" ] || die "$f is missing: run 'make bench-http'"
done
command -v python3 >/dev/null || die "python3 is missing: scripts/install-deps demo"
command -v curl >/dev/null || die "curl is missing: scripts/install-deps ruby"

pin_server=() pin_load=() pinned=false
if [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c 1)
    pin_load=(taskset -c 0)
    pinned=true
fi

T=$(mktemp -d /tmp/mtlsauthz-bench-http.XXXXXX)
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server; rm -rf "$T"' EXIT

# start_server STACK MODE: starts it on CPU 1, sets server_pid and port.
start_server() {
    local stack=$1 mode=$2 log=$T/server.log pattern
    : >"$log"
    case $stack in
    go)
        "${pin_server[@]}" "$go_server" -certs "$certs" -policy "$policy" \
            -middleware="$([ "$mode" = on ] && echo true || echo false)" \
            -listen 127.0.0.1:0 >"$log" 2>&1 &
        pattern='s/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'
        ;;
    puma)
        MTLSAUTHZ_BENCH_CERTS=$certs MTLSAUTHZ_BENCH_MIDDLEWARE=$mode MTLSAUTHZ_POLICY=$policy \
            MTLSAUTHZ_LIB=$shlib PORT=0 \
            "${pin_server[@]}" "$puma" -C "$top/bench/http/rack/puma.rb" >"$log" 2>&1 &
        pattern='s|.*Listening on ssl://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p'
        ;;
    esac
    server_pid=$!
    port=""
    for _ in $(seq 600); do
        port=$(sed -n "$pattern" "$log" | head -n 1)
        [ -z "$port" ] || return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    die "$stack ($mode) did not start"
}

# check_mode STACK MODE: the middleware is what MODE says. The policy lets only ops
# GET /containers: the builder gets 403 with the middleware, 200 from the app without it.
check_mode() {
    local stack=$1 mode=$2 want code
    want=$([ "$mode" = on ] && echo 403 || echo 200)
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$certs/ca.pem" \
        --cert "$certs/$client-chain.pem" --key "$certs/$client.key" \
        "https://127.0.0.1:$port/containers" || true)
    [ "$code" = "$want" ] || die "$stack ($mode): GET /containers answered '$code', not $want"
}

# cpu_ticks PID: utime + stime, in clock ticks (the fields after the command name, which may
# hold spaces).
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

hz=$(getconf CLK_TCK)

# run_one STACK MODE: one measured run; appends a line to $T/runs.tsv.
run_one() {
    local stack=$1 mode=$2 out rps total us la
    la=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$stack" = nginx ]; then
        out=$(ROUNDS=1 MODES=$mode SECONDS_PER_RUN=$secs CONNECTIONS=$conns CLIENT=$client \
            "$top/bindings/nginx/bench/load.sh" "$module" "$certs" "$load")
        out=$(sed -n "s/^round 1, module $mode: //p" <<<"$out")
        us=$(sed -n 's/.*; worker CPU \([0-9.]*\) us\/request$/\1/p' <<<"$out")
        out=${out%; worker CPU*}
    else
        start_server "$stack" "$mode"
        check_mode "$stack" "$mode"
        local c0 c1
        c0=$(cpu_ticks "$server_pid")
        out=$("${pin_load[@]}" "$load" 127.0.0.1 "$port" /healthz "$certs/$client-chain.pem" \
            "$certs/$client.key" "$certs/ca.pem" "$conns" "$secs") ||
            { cat "$T/server.log" >&2; die "$stack ($mode): mtls-load failed: $out"; }
        c1=$(cpu_ticks "$server_pid")
        stop_server
        total=$(sed -n 's/.*total \([0-9]*\).*/\1/p' <<<"$out")
        us=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$total" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    fi
    rps=$(sed -n 's/^requests\/s \([0-9]*\) .*/\1/p' <<<"$out")
    total=$(sed -n 's/.*total \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$rps" ] && [ -n "$total" ] && [ -n "$us" ] || die "$stack ($mode): cannot read '$out'"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$stack" "$mode" "$rps" "$total" "$us" \
        "$la" >>"$T/runs.tsv"
    printf 'round %s, %-5s %-3s: %s; server CPU %s us/request; load average %s\n' "$round" \
        "$stack" "$mode" "$out" "$us" "$la"
}

commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$top" status --porcelain 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-http: commit $commit, $started, $(nproc) CPUs, load average $load_before"
echo "bench-http: $rounds rounds x {${stacks// /,}} x {on,off}, $secs s per run (+1 s warm-up)," \
    "$conns keep-alive connections, client certificate '$client'," \
    "$([ "$pinned" = true ] && echo 'server on CPU 1, load on CPU 0' || echo 'not pinned (one CPU)')"
: >"$T/runs.tsv"
for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for stack in $stacks; do
        for mode in $order; do
            run_one "$stack" "$mode"
        done
    done
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$T/runs.tsv" "$json" "$commit" "$started" "$finished" "$load_before" "$load_after" \
    "$rounds" "$secs" "$conns" "$pinned" "$(nproc)" "$stacks" <<'EOF'
import json, os, statistics, sys

(runs_path, json_path, commit, started, finished, load_before, load_after, rounds, secs,
 conns, pinned, ncpu, stacks) = sys.argv[1:]
TARGET = 0.97
runs = {}
for line in open(runs_path):
    rnd, stack, mode, rps, total, us, la = line.rstrip("\n").split("\t")
    runs.setdefault(stack, {}).setdefault(int(rnd), {})[mode] = {
        "rps": int(rps), "requests_total": int(total), "cpu_us_per_request": float(us),
        "load_average_1min": float(la)}

med = statistics.median
result = {
    "commit": commit, "started": started, "finished": finished,
    "load_average_before": load_before, "load_average_after": load_after,
    "cpus": int(ncpu), "pinned": pinned == "true", "rounds": int(rounds),
    "seconds_per_run": int(secs), "connections": int(conns), "target_ratio": TARGET,
    "stacks": {},
}
for stack in stacks.split():
    per = runs[stack]
    rows = []
    for rnd in sorted(per):
        on, off = per[rnd]["on"], per[rnd]["off"]
        rows.append({"round": rnd, "first": "on" if rnd % 2 else "off", "on": on, "off": off,
                     "ratio": on["rps"] / off["rps"],
                     "cpu_ratio": on["cpu_us_per_request"] / off["cpu_us_per_request"]})
    s = {
        "rounds": rows,
        "median_rps_on": med(r["on"]["rps"] for r in rows),
        "median_rps_off": med(r["off"]["rps"] for r in rows),
        "median_ratio": med(r["ratio"] for r in rows),
        "min_ratio": min(r["ratio"] for r in rows),
        "max_ratio": max(r["ratio"] for r in rows),
        "median_cpu_us_on": med(r["on"]["cpu_us_per_request"] for r in rows),
        "median_cpu_us_off": med(r["off"]["cpu_us_per_request"] for r in rows),
        "median_cpu_ratio": med(r["cpu_ratio"] for r in rows),
    }
    s["median_cpu_us_added"] = s["median_cpu_us_on"] - s["median_cpu_us_off"]
    s["target_holds"] = s["median_ratio"] >= TARGET
    result["stacks"][stack] = s

with open(json_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

name = {"go": "Go net/http + Chi",
        "puma": f"Puma 5 + Rack (-w 0, {os.environ.get('PUMA_THREADS', '4')} threads)",
        "nginx": "nginx, 1 worker"}
print()
print(f"commit {commit}; {started} to {finished}; load average {load_before} before, "
      f"{load_after} after; {ncpu} CPUs")
print()
print("| stack | round | first | rps on | rps off | on/off | CPU us/req on | off | load (1 min) on, off |")
print("|---|---|---|---|---|---|---|---|---|")
for stack, s in result["stacks"].items():
    for r in s["rounds"]:
        print(f"| {stack} | {r['round']} | {r['first']} | {r['on']['rps']} | {r['off']['rps']} | "
              f"{r['ratio']:.3f} | {r['on']['cpu_us_per_request']:.2f} | "
              f"{r['off']['cpu_us_per_request']:.2f} | {r['on']['load_average_1min']:.2f}, "
              f"{r['off']['load_average_1min']:.2f} |")
print()
print("| stack | median rps on | median rps off | median on/off (range) | CPU us/request on | off "
      "| on − off (median on/off) | ≤3% fewer rps |")
print("|---|---|---|---|---|---|---|---|")
for stack, s in result["stacks"].items():
    print(f"| {name[stack]} | {s['median_rps_on']:.0f} | {s['median_rps_off']:.0f} | "
          f"{s['median_ratio']:.3f} ({s['min_ratio']:.3f}-{s['max_ratio']:.3f}) | "
          f"{s['median_cpu_us_on']:.2f} | {s['median_cpu_us_off']:.2f} | "
          f"{s['median_cpu_us_added']:+.2f} ({(s['median_cpu_ratio'] - 1) * 100:+.1f}%) | "
          f"{'holds' if s['target_holds'] else 'does not hold'} |")
print()
# The benchmark itself keeps both CPUs busy, so only the load before it says whether the
# machine was quiet.
if float(load_before.split()[0]) > 0.5:
    print(f"bench-http: the machine was not quiet (load average {load_before} before the first "
          "run): other work shares the CPUs, and requests per second move with it")
print(f"bench-http: wrote {json_path}")
EOF
