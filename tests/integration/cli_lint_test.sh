#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz lint` (0 clean, 1 findings, 2 invalid) and `mtlsauthz test` (0 all pass, 1 a case
# failed, 2 error), on the bundled example policy and on policies written here.
# Environment: MTLSAUTHZ_CLI, MTLSAUTHZ_TEST_CERTS.
set -u
CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0

# expect NAME WANT_RC [grep-pattern-in-stdout] -- command...
expect() {
    name=$1 want=$2 pattern=$3
    shift 4
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail=$((fail + 1))
        echo "FAIL $name: exit $rc, want $want"
        sed 's/^/    /' "$TMP/out" "$TMP/err"
        return
    fi
    if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$TMP/out" "$TMP/err"; then
        fail=$((fail + 1))
        echo "FAIL $name: output lacks '$pattern'"
        sed 's/^/    /' "$TMP/out" "$TMP/err"
        return
    fi
    if [ "$want" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        fail=$((fail + 1))
        echo "FAIL $name: want exactly one line on stderr"
        return
    fi
    pass=$((pass + 1))
}

# ---- lint ----
expect "lint clean example" 0 "no findings" -- "$CLI" lint "$TOP/examples/policy.yaml"
expect "lint sloppy policy" 1 "4 findings" -- "$CLI" lint "$TOP/examples/demo/sloppy-policy.yaml"
expect "lint names the sensitive grant" 1 "sloppy-policy.yaml:14:9: warning: sensitive-grant: rule 'debug-exec'" -- \
    "$CLI" lint "$TOP/examples/demo/sloppy-policy.yaml"
expect "lint names the wildcard grant" 1 "sloppy-policy.yaml:19:9: warning: sensitive-grant: rule 'admin-containers'" -- \
    "$CLI" lint "$TOP/examples/demo/sloppy-policy.yaml"
expect "lint names the unused principal" 1 "sloppy-policy.yaml:8:11: warning: unused-principal: principal 'old-team'" -- \
    "$CLI" lint "$TOP/examples/demo/sloppy-policy.yaml"
expect "lint names the shadowed rule" 1 "sloppy-policy.yaml:24:9: warning: shadowed-rule: rule 'read-images'" -- \
    "$CLI" lint "$TOP/examples/demo/sloppy-policy.yaml"
printf 'version: 1\nrules: []\n' >"$TMP/invalid.yaml"
expect "lint invalid policy" 2 "" -- "$CLI" lint "$TMP/invalid.yaml"
expect "lint missing file" 2 "" -- "$CLI" lint "$TMP/nope.yaml"
expect "lint usage" 2 "usage" -- "$CLI" lint

# An operation that can never match, in the deny rule of a policy that allows admins every
# container operation: each is a load error (exit 2) naming the pattern and its line.
escape_policy() {
    cat >"$TMP/escape.yaml" <<EOF
version: 1
$1
principals:
  - name: admins
    ou: [admins]
rules:
  - id: admin-containers
    effect: allow
    principals: [admins]
    operations: ["* /containers/**"]
  - id: no-container-escape
    effect: deny
    principals: ["*"]
    operations: ["$2"]
EOF
}
escape_policy "" "POST /containers/*/exec/"
expect "lint refuses a trailing slash" 2 "escape.yaml:14:18: error: .*trailing '/'" -- \
    "$CLI" lint "$TMP/escape.yaml"
escape_policy "" "post /containers/*/attach"
expect "lint refuses a lowercase method" 2 "escape.yaml:14:18: error: .*write POST$" -- \
    "$CLI" lint "$TMP/escape.yaml"
escape_policy "protocol: http" "/host/**"
expect "lint refuses a path without a method under protocol http" 2 \
    "escape.yaml:14:18: error: .*operation '/host/\*\*': a path without a method" -- \
    "$CLI" lint "$TMP/escape.yaml"
escape_policy "protocol: http" "[a-z]+"
expect "lint refuses a regex under protocol http" 2 "not an HTTP operation pattern" -- \
    "$CLI" lint "$TMP/escape.yaml"
escape_policy "" "/host/**"
expect "lint reports a path without a method" 1 \
    "escape.yaml:11:9: warning: path-without-method: rule 'no-container-escape', operation \"/host/\*\*\"" -- \
    "$CLI" lint "$TMP/escape.yaml"
escape_policy "" "POST /containers/*/attach"
echo 'sensitive: ["POST /containers/*/exec"]' >>"$TMP/escape.yaml"
expect "lint reports a wildcard grant of a sensitive operation" 1 \
    "sensitive-grant: rule 'admin-containers': allows \"\* /containers/\*\*\", whose wildcard" \
    -- "$CLI" lint "$TMP/escape.yaml"
escape_policy "" "POST /containers/*/exec"
echo 'sensitive: ["POST /containers/*/exec"]' >>"$TMP/escape.yaml"
expect "lint: a deny takes the sensitive operation back" 0 "no findings" -- \
    "$CLI" lint "$TMP/escape.yaml"
# A principal name with a newline would break lint's one finding per line.
cat >"$TMP/newline.yaml" <<'EOF'
version: 1
principals:
  - name: "old\nteam"
    cn: [x]
rules:
  - {id: r, effect: allow, principals: ["*"], operations: [x]}
EOF
expect "lint refuses a control character in a name" 2 "newline.yaml:3:11: error: .*control character" \
    -- "$CLI" lint "$TMP/newline.yaml"

# ---- test ----
expect "test example passes" 0 "14 passed, 0 failed" -- \
    "$CLI" test --certs "$CERTS" "$TOP/examples/policy.yaml" "$TOP/examples/policy-tests.yaml"
cp "$CERTS/builder.pem" "$CERTS/plain.pem" "$TMP/"
cat >"$TMP/tests.yaml" <<'YAML'
- name: right decision, wrong rule
  cert: builder.pem
  op: GET /healthz
  expect: allow
  rule: build-images
- name: wrong decision
  cert: plain.pem
  op: POST /images/build
  expect: allow
- name: right
  cert: plain.pem
  op: GET /healthz
  expect: allow
  rule: health
YAML
# Without --certs, certificate paths are relative to the tests file.
expect "test reports failures" 1 "1 passed, 2 failed" -- \
    "$CLI" test "$TOP/examples/policy.yaml" "$TMP/tests.yaml"
expect "test says which rule decided" 1 "FAIL right decision, wrong rule: allowed as expected, but by rule health, not build-images" -- \
    "$CLI" test "$TOP/examples/policy.yaml" "$TMP/tests.yaml"
expect "test says what it got" 1 "FAIL wrong decision: expected allow, got deny (reason no_match" -- \
    "$CLI" test "$TOP/examples/policy.yaml" "$TMP/tests.yaml"
printf -- '- cert: missing.pem\n  op: GET /healthz\n  expect: allow\n' >"$TMP/missing.yaml"
expect "test with a missing certificate fails that case" 1 "FAIL GET /healthz: cannot use the certificate: .*missing.pem" -- \
    "$CLI" test "$TOP/examples/policy.yaml" "$TMP/missing.yaml"
printf -- '- cert: plain.pem\n  op: GET /healthz\n  expect: maybe\n' >"$TMP/badexpect.yaml"
expect "test with a bad expect value is an error" 2 "" -- \
    "$CLI" test "$TOP/examples/policy.yaml" "$TMP/badexpect.yaml"
expect "test with an invalid policy is an error" 2 "" -- \
    "$CLI" test "$TMP/invalid.yaml" "$TMP/tests.yaml"
expect "test usage" 2 "usage" -- "$CLI" test "$TOP/examples/policy.yaml"

echo "cli_lint_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
