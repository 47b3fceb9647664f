#!/bin/sh
# `mtlsauthz check` with lowercase HTTP methods: methods are case-sensitive, so an identity
# allowed `GET /x` is not allowed `get /x` (exit 1, reason no_match), while a `*` method
# covers `get` in an allow and in a deny alike. The policy's patterns use uppercase or `*`
# methods only.
#
# Environment: MTLSAUTHZ_CLI (the mtlsauthz binary), MTLSAUTHZ_TEST_CERTS (gen-certs.sh output).
set -u

CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

cat >"$TMP/policy.yaml" <<'YAML'
version: 1
protocol: http
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: get-x
    effect: allow
    principals: [builder]
    operations: ["GET /x"]
  - id: get-z-or-below
    effect: allow
    principals: [builder]
    operations: ["GET /z", "POST /z/*"]
  - id: any-y
    effect: allow
    principals: [builder]
    operations: ["* /y"]
  - id: no-y-secret
    effect: deny
    principals: ["*"]
    operations: ["* /y/secret"]
  - id: all-y
    effect: allow
    principals: [builder]
    operations: ["* /y/**"]
YAML

# check_json CERT OP WANT_EXIT WANT_JSON: stdout is exactly WANT_JSON, stderr empty.
check_json() {
    "$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/$1.pem" --op "$2" --format json \
        >"$TMP/out" 2>"$TMP/err"
    rc=$?
    printf '%s\n' "$4" >"$TMP/want"
    if [ $rc -ne "$3" ]; then
        bad "check $1 '$2': exit $rc, want $3 ($(cat "$TMP/err"))"
    elif ! cmp -s "$TMP/out" "$TMP/want"; then
        bad "check $1 '$2': printed '$(cat "$TMP/out")', want '$4'"
    elif [ -s "$TMP/err" ]; then
        bad "check $1 '$2': unexpected stderr '$(cat "$TMP/err")'"
    else
        ok
    fi
}

no_match='{"decision": "deny", "rule": null, "reason": "no_match", "dry_run": []}'

check_json builder "GET /x" 0 \
    '{"decision": "allow", "rule": "get-x", "reason": "allowed", "dry_run": []}'
check_json builder "get /x" 1 "$no_match"
check_json builder "Get /x" 1 "$no_match"
check_json builder "gET /x" 1 "$no_match"
# The same through a rule whose operations are matched one by one, since one is a wildcard.
check_json builder "GET /z" 0 \
    '{"decision": "allow", "rule": "get-z-or-below", "reason": "allowed", "dry_run": []}'
check_json builder "get /z" 1 "$no_match"
check_json builder "POST /z/a" 0 \
    '{"decision": "allow", "rule": "get-z-or-below", "reason": "allowed", "dry_run": []}'
check_json builder "post /z/a" 1 "$no_match"
check_json builder "get /y" 0 \
    '{"decision": "allow", "rule": "any-y", "reason": "allowed", "dry_run": []}'
check_json builder "get /y/public" 0 \
    '{"decision": "allow", "rule": "all-y", "reason": "allowed", "dry_run": []}'
check_json builder "get /y/secret" 1 \
    '{"decision": "deny", "rule": "no-y-secret", "reason": "denied", "dry_run": []}'

# The text form says the same.
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op "get /x" \
    >"$TMP/out" 2>"$TMP/err"
rc=$?
first=$(head -n 1 "$TMP/out")
if [ $rc -ne 1 ] || [ "$first" != "deny (rule none, reason no_match)" ]; then
    bad "check builder 'get /x' (text): exit $rc, first line '$first'"
else
    ok
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
