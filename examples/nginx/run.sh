#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the NGINX example in the foreground (see README.md): https://127.0.0.1:9443.
#
#   examples/nginx/run.sh                          # ports 9443 (mTLS) and 9081 (upstream)
#   PORT=10443 UPSTREAM_PORT=10081 examples/nginx/run.sh
#
# It builds nothing: run `make nginx-module` (or `make B=... nginx-module`) first. It lays out
# $B/nginx-example (the module, the test certificates from tests/certs/gen-certs.sh, the
# policy, nginx.conf, logs/) and runs the distribution's nginx on it (NGINX_BIN=). The tests
# set MTLSAUTHZ_EXAMPLE_DIR, MTLSAUTHZ_EXAMPLE_CERTS (existing certificates) and
# MTLSAUTHZ_NGINX_MODULE.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
PORT=${PORT:-9443}
UPSTREAM_PORT=${UPSTREAM_PORT:-9081}
RUN=${MTLSAUTHZ_EXAMPLE_DIR:-$B/nginx-example}
MODULE=${MTLSAUTHZ_NGINX_MODULE:-$B/nginx/ngx_http_mtlsauthz_module.so}
# nginx reads inherited listening sockets from the NGINX environment variable.
unset NGINX

if [ ! -f "$MODULE" ]; then
    echo "run.sh: $MODULE not found: run make nginx-module first" >&2
    exit 1
fi
mkdir -p "$RUN/logs" "$RUN/tmp"
if [ -n "${MTLSAUTHZ_EXAMPLE_CERTS:-}" ]; then
    ln -sfn "$MTLSAUTHZ_EXAMPLE_CERTS" "$RUN/certs"
elif [ ! -f "$RUN/certs/builder-chain.pem" ]; then
    "$TOP/tests/certs/gen-certs.sh" "$RUN/certs" >/dev/null 2>&1 ||
        { echo "run.sh: generating certificates into $RUN/certs failed" >&2; exit 1; }
fi
# Workers run unprivileged when nginx starts as root; they only need the prefix.
chmod 755 "$RUN" "$RUN/logs" "$RUN/tmp"
ln -sf "$MODULE" "$RUN/ngx_http_mtlsauthz_module.so"
ln -sf "$TOP/examples/policy.yaml" "$RUN/policy.yaml"
sed -e "s/127\.0\.0\.1:9443/127.0.0.1:$PORT/" -e "s/127\.0\.0\.1:9081/127.0.0.1:$UPSTREAM_PORT/g" \
    "$TOP/examples/nginx/nginx.conf" > "$RUN/nginx.conf"

echo "run.sh: https://127.0.0.1:$PORT (certificates in $RUN/certs, logs in $RUN/logs)" >&2
exec "$NGINX_BIN" -p "$RUN/" -e "$RUN/logs/error.log" -c "$RUN/nginx.conf" -g "daemon off;"
