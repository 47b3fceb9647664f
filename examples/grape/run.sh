#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the Grape example under Puma with mutual TLS (see README.md).
#
#   examples/grape/run.sh            # https://127.0.0.1:8443, certificates in $B/grape-example
#   PORT=0 examples/grape/run.sh     # any free port (Puma prints which)
#
# It builds nothing: run `make` (or `make B=...`) first. It generates the test certificates
# (tests/certs/gen-certs.sh) into $B/grape-example/certs unless they are already there, and
# loads the tree's library ($B/lib) unless MTLSAUTHZ_LIB is set.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B="$TOP/$B" ;; esac
CERTS=${MTLSAUTHZ_EXAMPLE_CERTS:-$B/grape-example/certs}

if [ ! -f "$CERTS/builder-chain.pem" ]; then
    "$TOP/tests/certs/gen-certs.sh" "$CERTS" >/dev/null 2>&1 ||
        { echo "run.sh: generating certificates into $CERTS failed" >&2; exit 1; }
fi
if [ -z "${MTLSAUTHZ_LIB:-}" ] && [ -e "$B/lib/libmtlsauthz.so.0" ]; then
    MTLSAUTHZ_LIB="$B/lib/libmtlsauthz.so.0"
    export MTLSAUTHZ_LIB
fi
MTLSAUTHZ_EXAMPLE_CERTS=$CERTS
export MTLSAUTHZ_EXAMPLE_CERTS
echo "run.sh: certificates in $CERTS" >&2
exec puma -C "$TOP/examples/grape/puma.rb"
