#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz check --policy P --cert CERT [--chain CHAIN] --op OP [--explain] [--format text|json]`
# (README.md, "The command-line tool"): exit 0 allow, 1 deny, 2 error with one line on stderr;
# the JSON document {"decision", "rule", "reason", "dry_run"}; --explain's account; methods are
# case-sensitive.
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

cat >"$TMP/policy.yaml" <<'EOF'
version: 1
sensitive: ["host:**", "POST /containers/*/exec"]
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
    eku: [clientAuth]
  - name: ops
    o: [Example Corp]
    ou: [ops, sre]
  - name: tenant
    spiffe: ["spiffe://prod.example.com/tenant/{tenant}/*"]
rules:
  - id: build
    effect: allow
    principals: [builder]
    operations: ["images:build", "images:push"]
  - id: tenant-data
    effect: allow
    principals: [tenant]
    operations: ["GET /tenants/{tenant}/**"]
  - id: list
    effect: allow
    principals: [ops]
    operations: ["GET /containers"]
  - id: healthz
    effect: allow
    principals: ["*"]
    operations: ["GET /healthz"]
  - id: no-host
    effect: deny
    principals: ["*"]
    operations: ["host:**"]
  - id: watch-push
    effect: deny
    mode: dry-run
    principals: [builder]
    operations: ["images:push"]
  - id: "quote\"d"
    effect: deny
    mode: dry-run
    principals: [builder]
    operations: ["images:push"]
EOF

# check_json CERT OP WANT_EXIT WANT_JSON: stdout is exactly WANT_JSON, stderr empty. The policy
# is $POLICY.
POLICY=$TMP/policy.yaml
check_json() {
    "$CLI" check --policy "$POLICY" --cert "$CERTS/$1.pem" --op "$2" --format json \
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

# check_text CERT OP WANT_EXIT WANT_FIRST_LINE
check_text() {
    "$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/$1.pem" --op "$2" \
        >"$TMP/out" 2>"$TMP/err"
    rc=$?
    first=$(head -n 1 "$TMP/out")
    if [ $rc -ne "$3" ]; then
        bad "check $1 '$2' (text): exit $rc, want $3 ($(cat "$TMP/err"))"
    elif [ "$first" != "$4" ]; then
        bad "check $1 '$2' (text): first line '$first', want '$4'"
    else
        ok
    fi
}

# check_error WHY ARGS...: exit 2, nothing on stdout, one stderr line containing WHY.
check_error() {
    why=$1
    shift
    "$CLI" check "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    lines=$(wc -l <"$TMP/err")
    if [ $rc -ne 2 ]; then
        bad "check $*: exit $rc, want 2"
    elif [ -s "$TMP/out" ]; then
        bad "check $*: printed '$(cat "$TMP/out")' on error"
    elif [ "$lines" -ne 1 ]; then
        bad "check $*: $lines stderr lines, want 1: $(cat "$TMP/err")"
    elif ! grep -q -- "$why" "$TMP/err"; then
        bad "check $*: stderr '$(cat "$TMP/err")' lacks '$why'"
    else
        ok
    fi
}

# ---- decisions and the JSON shape ----
check_json builder "images:build" 0 \
    '{"decision": "allow", "rule": "build", "reason": "allowed", "dry_run": []}'
check_json builder "images:push" 0 \
    '{"decision": "allow", "rule": "build", "reason": "allowed", "dry_run": ["watch-push", "quote\"d"]}'
check_json builder "host:/var/run/docker.sock" 1 \
    '{"decision": "deny", "rule": "no-host", "reason": "denied", "dry_run": []}'
check_json builder "GET /containers" 1 \
    '{"decision": "deny", "rule": null, "reason": "no_match", "dry_run": []}'
check_json builder-noeku "images:build" 1 \
    '{"decision": "deny", "rule": null, "reason": "no_match", "dry_run": []}'
check_json ops "GET /containers" 0 \
    '{"decision": "allow", "rule": "list", "reason": "allowed", "dry_run": []}'
check_json sre "GET /containers" 0 \
    '{"decision": "allow", "rule": "list", "reason": "allowed", "dry_run": []}'
check_json plain "GET /healthz" 0 \
    '{"decision": "allow", "rule": "healthz", "reason": "allowed", "dry_run": []}'
check_json tenant-acme "GET /tenants/acme/x" 0 \
    '{"decision": "allow", "rule": "tenant-data", "reason": "allowed", "dry_run": []}'
check_json tenant-acme "GET /tenants/globex/x" 1 \
    '{"decision": "deny", "rule": null, "reason": "no_match", "dry_run": []}'
check_json tenant-globex "GET /tenants/globex/x/y" 0 \
    '{"decision": "allow", "rule": "tenant-data", "reason": "allowed", "dry_run": []}'
# Rejected identities are denied everything, even what "*" allows.
check_json nul-cn "GET /healthz" 1 \
    '{"decision": "deny", "rule": null, "reason": "identity_rejected", "dry_run": []}'
check_json spiffe-two-uri "GET /healthz" 1 \
    '{"decision": "deny", "rule": null, "reason": "identity_rejected", "dry_run": []}'
for cert in utf8-dns utf8-email utf8-uri latin1-dns wrong-leaf-cert-sign wrong-leaf-crl-sign \
    wrong-leaf-no-digital-signature spiffe-no-ku; do
    check_json "$cert" "GET /healthz" 1 \
        '{"decision": "deny", "rule": null, "reason": "identity_rejected", "dry_run": []}'
done
check_json spiffe-ku-two-bytes "GET /healthz" 0 \
    '{"decision": "allow", "rule": "healthz", "reason": "allowed", "dry_run": []}'

# ---- text form ----
check_text builder "images:build" 0 "allow (rule build, reason allowed)"
check_text builder "host:x" 1 "deny (rule no-host, reason denied)"
check_text plain "nothing" 1 "deny (rule none, reason no_match)"
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op "images:push" \
    >"$TMP/out" 2>&1
if grep -q "dry-run: watch-push" "$TMP/out"; then ok; else bad "text dry-run line: $(cat "$TMP/out")"; fi

# DER and a chain are accepted as well.
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/builder.der" --op "images:build" \
    --format json >/dev/null 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "check with a DER certificate: exit $rc"; fi
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" \
    --chain "$CERTS/int.pem" --op "images:build" >/dev/null 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "check with --chain: exit $rc"; fi

# ---- --explain ----
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/tenant-acme.pem" \
    --op "GET /tenants/globex/x" --explain >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -ne 1 ]; then
    bad "--explain: exit $rc, want 1"
elif ! grep -q "match tenant (binds tenant=acme)" "$TMP/out"; then
    bad "--explain: no 'match tenant' line: $(cat "$TMP/out")"
elif ! grep -q "builder: key 'spiffe' did not match" "$TMP/out"; then
    bad "--explain: no failing key for builder: $(cat "$TMP/out")"
elif ! grep -q "tenant-data (allow): the operation's captures do not agree" "$TMP/out"; then
    bad "--explain: no capture explanation: $(cat "$TMP/out")"
elif ! grep -q "decision: deny (rule none, reason no_match)" "$TMP/out"; then
    bad "--explain: no decision line: $(cat "$TMP/out")"
else
    ok
fi
# With JSON, stdout is one JSON document, the account with the decision's members (its
# fields are asserted in cli_json.sh), and stderr is empty.
"$CLI" check --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op "images:build" \
    --explain --format json >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -ne 0 ] || [ -s "$TMP/err" ] || ! python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["decision"], d["rule"], d["reason"]) == ("allow", "build", "allowed"), d
' "$TMP/out"; then
    bad "--explain --format json: exit $rc, stdout '$(cat "$TMP/out")'"
else
    ok
fi

# ---- a `*` in a dn pattern stays inside one RDN ----
# cn-injection has no OU; its CN "mallory,OU=ops" prints as CN=mallory\,OU=ops,O=Example Corp.
cat >"$TMP/dn.yaml" <<'EOF'
version: 1
principals:
  - name: ops-member
    dn: ["CN=*,OU=ops,O=Example Corp"]
rules:
  - id: ops-only
    effect: allow
    principals: [ops-member]
    operations: ["GET /containers"]
EOF
for c in ops:0 cn-injection:1; do
    "$CLI" check --policy "$TMP/dn.yaml" --cert "$CERTS/${c%%:*}.pem" --op "GET /containers" \
        >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq "${c##*:}" ]; then ok; else bad "dn '*' check ${c%%:*}: exit $rc ($(cat "$TMP/out"))"; fi
done

# ---- errors: exit 2, one line ----
check_error "operation" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" \
    --op "$(head -c 9000 /dev/zero | tr '\0' a)"
check_error "required" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem"
check_error "--op is empty" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op ""
check_error "unknown argument" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" \
    --op x --bogus
check_error "format" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op x \
    --format xml
check_error "needs a value" --policy "$TMP/policy.yaml" --cert "$CERTS/builder.pem" --op
check_error "nonexistent" --policy "$TMP/nonexistent.yaml" --cert "$CERTS/builder.pem" --op x
check_error "" --policy "$TMP/policy.yaml" --cert "$CERTS/nonexistent.pem" --op x
check_error "" --policy "$TMP/policy.yaml" --cert "$CERTS/garbage.pem" --op x
cat >"$TMP/bad.yaml" <<'EOF'
version: 1
rules:
  - id: r
    effect: allow
    principals: [ghost]
    operations: [x]
EOF
check_error "undefined principal 'ghost'" --policy "$TMP/bad.yaml" \
    --cert "$CERTS/builder.pem" --op x

# ---- lowercase methods ----
# Methods are case-sensitive: an identity allowed `GET /x` is not allowed `get /x` (exit 1,
# reason no_match), while a `*` method covers `get` in an allow and in a deny alike. The
# policy's patterns use uppercase or `*` methods only (a lowercase one is a load error).
cat >"$TMP/methods.yaml" <<'YAML'
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

POLICY=$TMP/methods.yaml
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
"$CLI" check --policy "$POLICY" --cert "$CERTS/builder.pem" --op "get /x" \
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
