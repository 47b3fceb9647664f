#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ABI hygiene: the shared library exports exactly the symbols listed in lib/libmtlsauthz.sym,
# all named mtlsauthz_* (no mtlsauthz__ internals, nothing from a dependency).
set -euo pipefail
so=$1
list=$2
actual=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDRBVW]$/ {print $3}' | sed 's/@.*//' |
    grep -v '^MTLSAUTHZ_0$' | sort -u)
expected=$(grep -v '^#' "$list" | sed '/^$/d' | sort -u)
fail=0
if bad=$(echo "$actual" | grep -v '^mtlsauthz_[a-z]') && [ -n "$bad" ]; then
    echo "symbols: exported names outside the public API:" >&2
    echo "$bad" >&2
    fail=1
fi
if [ "$actual" != "$expected" ]; then
    echo "symbols: exports differ from $list (- listed, + exported):" >&2
    diff <(echo "$expected") <(echo "$actual") | grep '^[<>]' | sed 's/^</-/; s/^>/+/' >&2 || true
    fail=1
fi
if [ $fail -eq 0 ]; then
    echo "symbols: $(echo "$actual" | wc -l) exported, all listed in $list"
fi
exit $fail
