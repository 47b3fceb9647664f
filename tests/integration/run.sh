#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every tests/integration/cli_*.sh; fails if any of them fails.
# Needs MTLSAUTHZ_CLI and MTLSAUTHZ_TEST_CERTS in the environment (make check-cli sets them).
set -u
dir=$(cd "$(dirname "$0")" && pwd)
failed=""
ran=0
for t in "$dir"/cli_*.sh; do
    [ -e "$t" ] || continue
    ran=$((ran + 1))
    echo "== $(basename "$t")"
    if [ -x "$t" ]; then
        "$t"
    else
        sh "$t"
    fi
    if [ $? -ne 0 ]; then
        failed="$failed $(basename "$t")"
    fi
done
if [ $ran -eq 0 ]; then
    echo "no integration tests found in $dir" >&2
    exit 1
fi
if [ -n "$failed" ]; then
    echo "integration tests failed:$failed" >&2
    exit 1
fi
echo "all $ran integration test scripts passed"
