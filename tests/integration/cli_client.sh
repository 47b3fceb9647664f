#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The CLI is a client of the public API (docs/internals.md, "File map"): its sources compile
# with include/ alone, and the binary links libmtlsauthz.so and calls only what the library
# exports (lib/libmtlsauthz.sym), with none of the library linked into it.
# Environment: MTLSAUTHZ_CLI.
set -u
CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok   $1"
}
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    [ -s "$TMP/why" ] && sed 's/^/    /' "$TMP/why"
}

# Every source of lib/cli/ compiles with the public headers only: no -Ilib, and nothing of
# OpenSSL or libcyaml on the include path.
: >"$TMP/why"
for f in "$TOP"/lib/cli/*.c; do
    if ! "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror -I"$TOP/include" -fsyntax-only \
        "$f" 2>>"$TMP/why"; then
        echo "    ^ $(basename "$f")" >>"$TMP/why"
    fi
done
if [ -s "$TMP/why" ]; then bad "lib/cli/*.c compile with -Iinclude alone"; else ok "lib/cli/*.c compile with -Iinclude alone"; fi

# Its quoted includes are its own headers or public ones.
grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$TOP"/lib/cli/*.c "$TOP"/lib/cli/*.h |
    grep -v '"mtlsauthz/[a-z_]*\.h"' | while IFS= read -r hit; do
    name=$(printf '%s\n' "$hit" | sed 's/^[^"]*"\([^"]*\)".*/\1/')
    case $name in
    */*) echo "$hit" ;;
    *) [ -f "$TOP/lib/cli/$name" ] || echo "$hit" ;;
    esac
done >"$TMP/why"
if [ -s "$TMP/why" ]; then bad "lib/cli includes only its own and public headers"; else ok "lib/cli includes only its own and public headers"; fi

# The binary needs the shared library by its soname...
readelf -d "$CLI" >"$TMP/dyn" 2>"$TMP/why"
if grep -q 'NEEDED.*\[libmtlsauthz\.so\.0\]' "$TMP/dyn"; then
    ok "the CLI needs libmtlsauthz.so.0"
else
    cp "$TMP/dyn" "$TMP/why"
    bad "the CLI needs libmtlsauthz.so.0"
fi
# ... holds none of it...
nm --defined-only "$CLI" 2>/dev/null | awk '{print $NF}' | grep '^mtlsauthz_' >"$TMP/why"
if [ -s "$TMP/why" ]; then bad "the CLI defines no mtlsauthz_ symbol (the library is not linked in)"; else ok "the CLI defines no mtlsauthz_ symbol (the library is not linked in)"; fi
# ... and calls only exported functions.
nm -D --undefined-only "$CLI" | awk '{print $NF}' | sed 's/@.*//' | grep '^mtlsauthz' | sort -u >"$TMP/used"
grep -v '^#' "$TOP/lib/libmtlsauthz.sym" | sed '/^$/d' | sort -u >"$TMP/exported"
comm -23 "$TMP/used" "$TMP/exported" >"$TMP/why"
if [ -s "$TMP/why" ] || [ ! -s "$TMP/used" ]; then
    bad "the CLI calls only functions listed in lib/libmtlsauthz.sym"
else
    ok "the CLI calls only functions listed in lib/libmtlsauthz.sym ($(wc -l <"$TMP/used") of them)"
fi
# It runs against the library beside it (its RUNPATH), not one found elsewhere.
lib=$(ldd "$CLI" | awk '$1 == "libmtlsauthz.so.0" {print $3}')
want=$(cd "$(dirname "$CLI")/../lib" 2>/dev/null && pwd)/libmtlsauthz.so.0
if [ -n "$lib" ] && [ "$(readlink -f "$lib")" = "$(readlink -f "$want")" ]; then
    ok "the CLI loads $want"
else
    echo "loads '$lib'" >"$TMP/why"
    bad "the CLI loads $want"
fi

echo "cli_client: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
