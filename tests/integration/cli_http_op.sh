#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz http-op METHOD TARGET` (docs/policy.md, "HTTP operations"): prints the canonical operation
# and exits 0, or exits 2 with exactly one line on stderr and nothing on stdout.
#
# Environment: MTLSAUTHZ_CLI (the mtlsauthz binary).
set -u

CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_op METHOD TARGET WANT: exit 0, stdout is WANT and a newline, stderr empty.
expect_op() {
    "$CLI" http-op "$1" "$2" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    printf '%s\n' "$3" >"$TMP/want"
    if [ $rc -ne 0 ]; then
        bad "http-op '$1' '$2': exit $rc, want 0 ($(cat "$TMP/err"))"
    elif ! cmp -s "$TMP/out" "$TMP/want"; then
        bad "http-op '$1' '$2': printed '$(cat "$TMP/out")', want '$3'"
    elif [ -s "$TMP/err" ]; then
        bad "http-op '$1' '$2': unexpected stderr '$(cat "$TMP/err")'"
    else
        ok
    fi
}

# expect_refused REASON ARGS...: exit 2, nothing on stdout, one stderr line containing REASON.
expect_refused() {
    why=$1
    shift
    "$CLI" http-op "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    lines=$(wc -l <"$TMP/err")
    if [ $rc -ne 2 ]; then
        bad "http-op $*: exit $rc, want 2"
    elif [ -s "$TMP/out" ]; then
        bad "http-op $*: printed '$(cat "$TMP/out")' on refusal"
    elif [ "$lines" -ne 1 ]; then
        bad "http-op $*: $lines stderr lines, want 1"
    elif ! grep -q -- "$why" "$TMP/err"; then
        bad "http-op $*: stderr '$(cat "$TMP/err")' lacks '$why'"
    else
        ok
    fi
}

# The spec's examples: Grape routes both of these to the exec handler.
expect_op POST /containers/abc/%65xec "POST /containers/abc/exec"
expect_op POST /containers/abc/exec/ "POST /containers/abc/exec"
expect_op GET / "GET /"
expect_op GET '/a?b=/../' "GET /a"
expect_op GET '/%2541' "GET /%41"
expect_op GET '/a%20b' "GET /a b"
expect_op DELETE '/images/x.y/' "DELETE /images/x.y"
# HEAD runs the GET handler, so it is decided as GET; methods are otherwise kept as sent.
expect_op HEAD /containers/x/secrets "GET /containers/x/secrets"
expect_op head /x "head /x"

expect_refused "encoded '/'" GET /a%2Fb
expect_refused "encoded '/'" GET /a%2fb
expect_refused "NUL byte" GET /a%00
expect_refused "control byte" GET /a%0a
expect_refused "dot segment" GET /a/../b
expect_refused "dot segment" GET /./a
expect_refused "dot segment" GET /%2e%2e/etc
expect_refused "dot segment" GET /a/.%2e
expect_refused "empty segment" GET //a
expect_refused "empty segment" GET /a//
expect_refused "not absolute" GET a/b
expect_refused "not absolute" OPTIONS '*'
expect_refused "empty request target" GET ''
expect_refused "fragment" GET '/a#b'
expect_refused "malformed percent-escape" GET /%
expect_refused "malformed percent-escape" GET /%4
expect_refused "malformed percent-escape" GET /%zz
expect_refused "not an HTTP token" 'GE T' /
expect_refused "empty method" '' /

# A target over the 8192-byte limit is an error too (exit 2), not a crash.
long=/$(head -c 9000 /dev/zero | tr '\0' a)
expect_refused "more than the 8192 allowed" GET "$long"

# Wrong usage.
expect_refused "usage" GET
expect_refused "usage" GET / extra
"$CLI" http-op >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 2 ]; then ok; else bad "http-op without arguments: want exit 2"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
