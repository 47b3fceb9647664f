#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install DESTDIR=...` installs a usable library: a tiny C program compiled with
# `pkg-config --cflags --libs mtlsauthz` against the installed tree (shared and static) runs,
# and the installed CLI runs on the installed shared library (found through its RUNPATH,
# $ORIGIN/../lib, so the tree may move) and runs the example policy's tests.
# Environment: B (the build directory), MTLSAUTHZ_TEST_CERTS (certificates of
# tests/certs/gen-certs.sh; generated here when unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
prefix=/usr/local
make --no-print-directory install B="${B:-build}" DESTDIR="$dest" PREFIX="$prefix" >/dev/null

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

for f in include/mtlsauthz/mtlsauthz.h include/mtlsauthz/openssl.h lib/libmtlsauthz.a \
    lib/libmtlsauthz.so lib/libmtlsauthz.so.0 lib/pkgconfig/mtlsauthz.pc bin/mtlsauthz; do
    if [ -e "$dest$prefix/$f" ]; then ok "installed $f"; else bad "installed $f"; fi
done
if [ "$(readlink "$dest$prefix/lib/libmtlsauthz.so.0")" = "libmtlsauthz.so.0.1.0" ] &&
    readelf -d "$dest$prefix/lib/libmtlsauthz.so.0.1.0" | grep 'SONAME.*libmtlsauthz.so.0]' >/dev/null; then
    ok "soname libmtlsauthz.so.0"
else
    bad "soname libmtlsauthz.so.0"
fi

cat >"$dest/tiny.c" <<'C'
#include <mtlsauthz/mtlsauthz.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char yaml[] = "version: 1\n"
                               "rules:\n"
                               "  - id: health\n"
                               "    effect: allow\n"
                               "    principals: ['*']\n"
                               "    operations: ['GET /healthz']\n";
    char op[64];
    size_t op_len;
    mtlsauthz_error err = {0};
    mtlsauthz_policy *p = NULL;
    mtlsauthz_decision d;
    if (mtlsauthz_http_operation(op, sizeof(op), &op_len, "GET", 3, "/healthz/", 9, &err) != 0) {
        fprintf(stderr, "http-op: %s\n", err.message);
        return 1;
    }
    if (mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err) != 0) {
        fprintf(stderr, "load: %s\n", err.message);
        return 1;
    }
    /* No identity: always denied. */
    if (mtlsauthz_policy_decide(&d, p, NULL, op, op_len, &err) != 0 || d.allowed) {
        return 1;
    }
    printf("%s %s %s\n", mtlsauthz_version(), op, mtlsauthz_reason_string(d.reason));
    mtlsauthz_policy_free(p);
    return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR="$dest$prefix/lib/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig:/usr/lib/pkgconfig"
cflags=$(pkg-config --cflags mtlsauthz)
libs=$(pkg-config --libs mtlsauthz)
static_libs=$(pkg-config --static --libs mtlsauthz)
want="0.1.0 GET /healthz no_identity"

# shellcheck disable=SC2086
if cc -std=c99 -Wall -Werror $cflags -o "$dest/tiny" "$dest/tiny.c" $libs &&
    out=$(LD_LIBRARY_PATH="$dest$prefix/lib" "$dest/tiny") && [ "$out" = "$want" ]; then
    ok "shared: tiny program built with pkg-config runs"
else
    bad "shared: tiny program built with pkg-config runs (got '${out:-}')"
fi
# shellcheck disable=SC2086
if cc -std=c99 -Wall -Werror $cflags -o "$dest/tiny-static" "$dest/tiny.c" \
    "$dest$prefix/lib/libmtlsauthz.a" ${static_libs//-lmtlsauthz/} &&
    out=$("$dest/tiny-static") && [ "$out" = "$want" ]; then
    ok "static: tiny program built with pkg-config --static runs"
else
    bad "static: tiny program built with pkg-config --static runs (got '${out:-}')"
fi
if ldd "$dest/tiny-static" | grep libmtlsauthz >/dev/null; then
    bad "static build does not need libmtlsauthz.so"
else
    ok "static build does not need libmtlsauthz.so"
fi
# ---- the installed CLI, on the installed library ----

cli=$dest$prefix/bin/mtlsauthz
if "$cli" --version | grep '^mtlsauthz 0.1.0$' >/dev/null; then
    ok "installed CLI runs"
else
    bad "installed CLI runs"
fi
if readelf -d "$cli" | grep 'NEEDED.*\[libmtlsauthz\.so\.0\]' >/dev/null &&
    readelf -d "$cli" | grep 'RUNPATH.*\[\$ORIGIN/\.\./lib\]' >/dev/null; then
    ok "installed CLI needs libmtlsauthz.so.0 from \$ORIGIN/../lib"
else
    bad "installed CLI needs libmtlsauthz.so.0 from \$ORIGIN/../lib"
fi
# uses LIBDIR: which libmtlsauthz.so.0 a binary loads, resolved.
uses() { readlink -f "$(ldd "$1" | awk '$1 == "libmtlsauthz.so.0" {print $3}')"; }
if [ "$(uses "$cli")" = "$(readlink -f "$dest$prefix/lib/libmtlsauthz.so.0")" ]; then
    ok "installed CLI loads the installed library"
else
    bad "installed CLI loads the installed library (it loads '$(uses "$cli")')"
fi

certs=${MTLSAUTHZ_TEST_CERTS:-}
if [ -z "$certs" ]; then
    certs=$dest/certs
    tests/certs/gen-certs.sh "$certs" >/dev/null
fi
if out=$("$cli" test --certs "$certs" examples/policy.yaml examples/policy-tests.yaml) &&
    printf '%s\n' "$out" | grep '^examples/policy-tests.yaml: 14 passed, 0 failed$' >/dev/null; then
    ok "installed CLI runs the example policy's tests"
else
    bad "installed CLI runs the example policy's tests (got '${out:-}')"
fi
printf -- '- {identity: {cn: [x]}, op: POST /images/build, expect: allow}\n' >"$dest/fail.yaml"
rc=0
"$cli" test examples/policy.yaml "$dest/fail.yaml" >"$dest/out" 2>&1 || rc=$?
if [ "$rc" -eq 1 ] && grep -q '^FAIL POST /images/build: expected allow, got deny' "$dest/out"; then
    ok "installed CLI fails a failing test file (exit 1)"
else
    bad "installed CLI fails a failing test file (exit $rc: $(cat "$dest/out"))"
fi
# The installed tree can move: the CLI finds the library relative to itself.
cp -a "$dest$prefix" "$dest/moved"
if "$dest/moved/bin/mtlsauthz" --version >/dev/null &&
    [ "$(uses "$dest/moved/bin/mtlsauthz")" = "$(readlink -f "$dest/moved/lib/libmtlsauthz.so.0")" ]; then
    ok "a moved install's CLI loads the library beside it"
else
    bad "a moved install's CLI loads the library beside it"
fi
# Another LIBDIR: the installed CLI's RUNPATH follows it.
make --no-print-directory install B="${B:-build}" DESTDIR="$dest/lib64" PREFIX="$prefix" \
    LIBDIR="$prefix/lib64" >/dev/null
if readelf -d "$dest/lib64$prefix/bin/mtlsauthz" | grep 'RUNPATH.*\[\$ORIGIN/\.\./lib64\]' >/dev/null &&
    [ "$(uses "$dest/lib64$prefix/bin/mtlsauthz")" = "$(readlink -f "$dest/lib64$prefix/lib64/libmtlsauthz.so.0")" ]; then
    ok "LIBDIR=$prefix/lib64: the installed CLI loads the library from there"
else
    bad "LIBDIR=$prefix/lib64: the installed CLI loads the library from there"
fi
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
