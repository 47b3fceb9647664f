#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The public headers compile on their own as C89 (-pedantic), C11 and C++, with no warnings.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for h in include/mtlsauthz/*.h; do
    name=$(basename "$h")
    printf '#include <mtlsauthz/%s>\n#include <mtlsauthz/%s>\nint mtlsauthz_header_probe;\n' \
        "$name" "$name" >"$tmp/t.c"
    std89=-std=c89
    # openssl.h pulls in OpenSSL's own headers, which are not C89; check ours as C99 there.
    [ "$name" = openssl.h ] && std89=-std=c99
    for mode in "cc $std89 -pedantic" "cc -std=c11 -pedantic" "c++ -x c++ -std=c++11 -pedantic"; do
        # shellcheck disable=SC2086
        if $mode -Wall -Wextra -Werror -Iinclude -c -o /dev/null "$tmp/t.c" 2>"$tmp/err"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL $name as '$mode':"
            cat "$tmp/err"
        fi
    done
done
echo "headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
