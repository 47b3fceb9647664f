#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Load check for ngx_http_mtlsauthz_module: requests per second through one mTLS nginx worker
# on loopback, keep-alive, with the module on versus off (loaded, policy compiled, "mtlsauthz
# off"), and without the module loaded at all. Rounds alternate between the modes.
#
# Two figures per run: requests per second (the target), and the nginx worker's CPU time per
# request (utime + stime from /proc, over every request of the run), which is far less
# sensitive to other load on the machine than requests per second.
#
#   bindings/nginx/bench/load.sh MODULE.so CERTS_DIR MTLS_LOAD_BINARY
#   bindings/nginx/bench/load.sh --callgrind MODULE.so CERTS_DIR MTLS_LOAD_BINARY
#
# The second form counts instructions instead (valgrind --tool=callgrind, nginx in one process):
# everything nginx executes for one keep-alive connection of REQUESTS requests (1000, nginx's
# default keepalive_requests; the TLS handshake and the identity read included), divided by
# REQUESTS, and the part spent inside the module's access handler (CALLGRIND_OUT_DIR=DIR keeps
# the profiles, for callgrind_annotate). Instruction counts repeat
# on a busy machine, where requests per second do not.
#
# Environment: SECONDS_PER_RUN (10), ROUNDS (3), CONNECTIONS (4), NGINX_BIN (/usr/sbin/nginx),
# MODES ("off on none": the runs of each round, in order; bench/http/run.sh runs one at a time,
# and the medians are printed only when all three ran),
# REQ_PATH (/healthz), CLIENT (builder), BACKEND (static: the mTLS server serves a small file;
# proxy: it proxy_passes, over keep-alive, to a plain-HTTP server in the same nginx that
# serves the file, as in front of an upstream). On a machine with two or more CPUs the nginx worker is
# pinned to CPU 1 and the load generator to CPU 0.
set -euo pipefail

callgrind=0
if [ "${1:-}" = --callgrind ]; then
    callgrind=1
    shift
fi
module=$(realpath "$1")
certs=$(realpath "$2")
load=$(realpath "$3")
top=$(cd "$(dirname "$0")/../../.." && pwd)
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
unset NGINX
secs=${SECONDS_PER_RUN:-10}
rounds=${ROUNDS:-3}
conns=${CONNECTIONS:-4}
path=${REQ_PATH:-/healthz}
client=${CLIENT:-builder}
backend=${BACKEND:-static}
requests=${REQUESTS:-1000}
modes=${MODES:-off on none}

T=$(mktemp -d /tmp/mtlsauthz-nginx-load.XXXXXX)
chmod 755 "$T"
mkdir -m 755 "$T/tmp" "$T/www"
printf 'ok\n' > "$T/www/healthz"
cp "$top/examples/policy.yaml" "$T/policy.yaml"
read -r port uport < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

pin_nginx="" pin_load=()
if [ "$(nproc)" -ge 2 ]; then
    pin_nginx="worker_cpu_affinity 10;"
    pin_load=(taskset -c 0)
fi

stop() {
    if [ -f "$T/nginx.pid" ]; then
        kill -TERM "$(cat "$T/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$T/nginx.pid" ] || break; sleep 0.1; done
    fi
}
trap 'stop; rm -rf "$T"' EXIT

conf() { # conf MODE
    local load_module="load_module $module;" directives process=""
    [ $callgrind = 0 ] || process="daemon off; master_process off;"
    local content="root $T/www;"
    if [ "$backend" = proxy ]; then
        content="location / { proxy_pass http://backend; proxy_http_version 1.1;"
        content="$content proxy_set_header Connection \"\"; }"
    fi
    case $1 in
    on) directives="mtlsauthz_policy $T/policy.yaml; mtlsauthz on;" ;;
    off) directives="mtlsauthz_policy $T/policy.yaml; mtlsauthz off;" ;;
    none) load_module="" directives="" ;;
    esac
    cat > "$T/nginx.conf" <<EOF
$load_module
$process
worker_processes 1;
$pin_nginx
error_log $T/error.log;
pid $T/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    open_file_cache max=16;
    default_type text/plain;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $certs/server-chain.pem;
        ssl_certificate_key $certs/server.key;
        ssl_client_certificate $certs/ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        $directives
        $content
    }
    upstream backend {
        server 127.0.0.1:$uport;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$uport;
        root $T/www;
    }
}
EOF
}

wait_port() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "load.sh: nginx did not start" >&2
    cat "$T/error.log" >&2
    exit 1
}

if [ $callgrind = 1 ]; then
    command -v valgrind >/dev/null || { echo "load.sh: valgrind is not installed" >&2; exit 1; }
    printf '%-12s %14s %14s %14s\n' module Ir Ir/request "handler Ir/req"
    for mode in none off on; do
        conf "$mode"
        valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$T/cg.$mode" \
            "$nginx_bin" -p "$T/" -e "$T/error.log" -c "$T/nginx.conf" 2>"$T/valgrind.log" &
        vg=$!
        wait_port
        # Warm up on another connection: the worker's caches, the open file cache.
        "$load" 127.0.0.1 "$port" "$path" "$certs/$client-chain.pem" "$certs/$client.key" \
            "$certs/ca.pem" 1 0 20 >/dev/null
        callgrind_control -i on "$vg" >/dev/null 2>&1
        out=$("$load" 127.0.0.1 "$port" "$path" "$certs/$client-chain.pem" "$certs/$client.key" \
            "$certs/ca.pem" 1 0 "$requests")
        callgrind_control -i off "$vg" >/dev/null 2>&1
        # Under valgrind a TERM is now and then lost; repeat it until nginx exits.
        for _ in $(seq 60); do
            kill -TERM "$vg" 2>/dev/null || break
            sleep 1
        done
        wait "$vg" || true
        ir=$(awk '/^totals:/ { print $2 }' "$T/cg.$mode")
        handler=$(callgrind_annotate --inclusive=yes --threshold=100 "$T/cg.$mode" 2>/dev/null |
            awk '/ngx_http_mtlsauthz_handler/ && !h { gsub(",", "", $1); h = $1 } END { print h + 0 }')
        [ -z "${CALLGRIND_OUT_DIR:-}" ] || cp "$T/cg.$mode" "$CALLGRIND_OUT_DIR/callgrind.nginx.$mode.out"
        printf '%-12s %14s %14.0f %14.0f   (%s)\n' "$mode" "$ir" "$((ir / requests))" \
            "$(( ${handler:-0} / requests ))" "$out"
    done
    exit 0
fi

declare -A results cpu
for round in $(seq "$rounds"); do
    for mode in $modes; do
        conf "$mode"
        "$nginx_bin" -p "$T/" -e "$T/error.log" -c "$T/nginx.conf"
        wait_port
        worker=$(ps -o pid= --ppid "$(cat "$T/nginx.pid")" | head -n 1 | tr -d ' ')
        cpu0=$(awk '{print $14 + $15}' "/proc/$worker/stat")
        out=$("${pin_load[@]}" "$load" 127.0.0.1 "$port" "$path" "$certs/$client-chain.pem" \
            "$certs/$client.key" "$certs/ca.pem" "$conns" "$secs")
        cpu1=$(awk '{print $14 + $15}' "/proc/$worker/stat")
        all=$(sed -n 's/.*total \([0-9]*\).*/\1/p' <<<"$out")
        us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$all" \
            'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
        echo "round $round, module $mode: $out; worker CPU $us us/request"
        results[$mode]="${results[$mode]:-} $(awk '{print $2}' <<<"$out")"
        cpu[$mode]="${cpu[$mode]:-} $us"
        stop
    done
done

[ -n "${results[on]:-}" ] && [ -n "${results[off]:-}" ] && [ -n "${results[none]:-}" ] || exit 0
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
on=$(median "${results[on]}")
off=$(median "${results[off]}")
none=$(median "${results[none]}")
echo "median requests/s: not loaded $none, off $off, on $on"
awk -v on="$on" -v off="$off" \
    'BEGIN { printf "requests/s, module on vs off: %+.1f%%\n", (on - off) * 100 / off }'
con=$(median "${cpu[on]}")
coff=$(median "${cpu[off]}")
cnone=$(median "${cpu[none]}")
echo "median worker CPU us/request: not loaded $cnone, off $coff, on $con"
awk -v on="$con" -v off="$coff" \
    'BEGIN { printf "worker CPU per request, module on vs off: %+.1f%%\n", (on - off) * 100 / off }'
