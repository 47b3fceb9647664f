#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Policy load errors as the CLI prints them (docs/policy.md, "Errors"): one line on stderr,
# GNU style, FILE:LINE:COL: error: message, at the YAML node at fault, with the path once, from
# `check`, `lint` and `test` alike. Each case changes one line of a valid Docker-API-like policy
# (10 endpoints, 4 roles), so the position asserted is that line's offending node.
#
# Environment: MTLSAUTHZ_CLI (the mtlsauthz binary), MTLSAUTHZ_TEST_CERTS (gen-certs.sh output).
set -u

CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
cd "$TMP" || exit 2

pass=0
fail=0

# expect_error NAME WANT -- command...: the command exits 2, prints nothing on stdout, and
# prints exactly the one line WANT on stderr.
expect_error() {
    name=$1 want=$2
    shift 3
    "$@" >out 2>err
    rc=$?
    got=$(cat err)
    if [ "$rc" -eq 2 ] && [ "$got" = "$want" ] && [ ! -s out ] && [ "$(wc -l <err)" -eq 1 ]; then
        pass=$((pass + 1))
        return
    fi
    fail=$((fail + 1))
    echo "FAIL $name (exit $rc)"
    echo "    want: $want"
    sed 's/^/    got:  /' err out
}

# The valid policy. Line numbers matter: each variant below replaces one line.
cat >base.yaml <<'EOF'
# A Docker-API-like service: 10 endpoints, 4 roles.
# Every case in cli_errors.sh edits one line of this file.
#
version: 1
protocol: http
sensitive:
  - "POST /containers/*/exec"
  - "DELETE /containers/*"
principals:
  - name: admin
    ou: [platform-admins]
    eku: [clientAuth]
  - name: ci
    spiffe: ["spiffe://prod.example.com/ci/*"]
    ip: [10.0.0.0/8]
  - name: viewer
    o: [Example Corp]
    ou: [engineering]
  - name: monitor
    dns: ["*.monitoring.example.com"]
rules:
  - id: read-only
    effect: allow
    principals: [viewer, monitor]
    operations:
      - "GET /containers/json"
      - "GET /images/json"
      - "GET /_ping"
  - id: ci-build
    effect: allow
    principals: [ci]
    operations: ["POST /build", "POST /images/*/push"]
  - id: containers-inspect
    effect: allow
    principals: [admin, viewer]
    operations: ["GET /containers/*/json", "GET /containers/*/logs"]
    mode: enforce
  - id: containers-delete
    effect: allow
    principals: [admin]
    operations: ["DELETE /containers/*"]
  - id: no-exec
    effect: deny
    principals: ["*"]
    operations: ["POST /containers/*/exec"]
EOF

cat >tests.yaml <<'EOF'
- name: admin may delete
  cert: admin.pem
  op: "DELETE /containers/abc"
  expect: allow
EOF

# variant NAME LINE TEXT: base.yaml with line LINE replaced by TEXT (byte for byte: through
# the environment, since awk -v would expand YAML's own escapes), as NAME.yaml.
variant() {
    LINE_TEXT=$3 awk -v n="$2" 'NR == n { print ENVIRON["LINE_TEXT"]; next } { print }' \
        base.yaml >"$1.yaml"
}

# The base policy is valid, or every case below would test nothing.
if "$CLI" lint base.yaml >out 2>err; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL the base policy does not lint clean"
    sed 's/^/    /' out err
fi

# ---- the mistakes of docs/policy.md, "Errors" ----

# An unknown key at the key itself (libcyaml alone said 38:9, the value before it).
variant efect 39 "    efect: allow"
expect_error "unknown key at the key, with did-you-mean" \
    "efect.yaml:39:5: error: unknown key 'efect' in rule 'containers-delete'; did you mean 'effect'?" \
    -- "$CLI" lint efect.yaml
# A top-level key (libcyaml alone pointed inside `sensitive`).
variant pricipals 9 "pricipals:"
expect_error "top-level unknown key at column 1" \
    "pricipals.yaml:9:1: error: unknown key 'pricipals' at the top level; did you mean 'principals'?" \
    -- "$CLI" lint pricipals.yaml
# Nothing close: the known keys.
variant when 37 "    when: always"
expect_error "unknown key with nothing close lists the known keys" \
    "when.yaml:37:5: error: unknown key 'when' in rule 'containers-inspect' (known keys: id, effect, mode, principals, operations)" \
    -- "$CLI" lint when.yaml
# An undefined principal at the reference in the rule.
variant admins 40 "    principals: [admins]"
expect_error "undefined principal at the reference, with did-you-mean" \
    "admins.yaml:40:18: error: rule 'containers-delete': undefined principal 'admins'; did you mean 'admin'?" \
    -- "$CLI" lint admins.yaml
variant deployers 35 "    principals: [admin, deployers]"
expect_error "undefined principal with nothing close lists the principals" \
    "deployers.yaml:35:25: error: rule 'containers-inspect': undefined principal 'deployers' (defined: admin, ci, viewer, monitor)" \
    -- "$CLI" lint deployers.yaml
# A bad pattern at the pattern's scalar.
variant pattern 41 '    operations: ["DELETE /containers/***"]'
expect_error "bad pattern at its scalar" \
    "pattern.yaml:41:18: error: rule 'containers-delete', operation 'DELETE /containers/***': '***' is ambiguous (use * or **) at byte 19" \
    -- "$CLI" lint pattern.yaml
# A Chi-style capture no principal binds.
variant capture 41 '    operations: ["GET /containers/json", "DELETE /containers/{id}"]'
expect_error "unbound capture, with the * hint" \
    "capture.yaml:41:42: error: rule 'containers-delete', operation 'DELETE /containers/{id}': capture {id} is not bound by any of the rule's principals; to match any one segment without binding it, write *" \
    -- "$CLI" lint capture.yaml
# A duplicate id at the second one.
variant dupid 38 "  - id: ci-build"
expect_error "duplicate rule id at the second one" \
    "dupid.yaml:38:9: error: duplicate rule id 'ci-build' (rules #2 and #4)" \
    -- "$CLI" lint dupid.yaml
# Selector values at their entry.
variant spiffe 14 '    spiffe: ["spiffe://Prod.example.com/ci/*"]'
expect_error "bad SPIFFE ID at its entry" \
    "spiffe.yaml:14:14: error: principal 'ci', key 'spiffe', entry 'spiffe://Prod.example.com/ci/*': the trust domain must be lowercase (SPIFFE ID spec)" \
    -- "$CLI" lint spiffe.yaml
variant ip 15 "    ip: [10.0.0.0/8, 10.1.0.1/16]"
expect_error "bad IP block at its entry" \
    "ip.yaml:15:22: error: principal 'ci', key 'ip', entry '10.1.0.1/16': host bits set after the prefix length" \
    -- "$CLI" lint ip.yaml
variant eku 12 "    eku: [clientauth]"
expect_error "bad EKU at its entry" \
    "eku.yaml:12:11: error: principal 'admin', key 'eku', entry 'clientauth': not a known extended key usage (clientAuth, serverAuth, codeSigning, emailProtection, timeStamping, OCSPSigning) or a dotted OID" \
    -- "$CLI" lint eku.yaml
# A tab in the indentation.
variant tab 18 "$(printf '\tou: [engineering]')"
expect_error "a tab is named" \
    "tab.yaml:18:1: error: tabs cannot indent YAML; use spaces" \
    -- "$CLI" lint tab.yaml
# A line indented off its block.
variant indent 18 "   ou: [engineering]"
expect_error "a bad indent names its block" \
    "indent.yaml:18:4: error: this line is indented differently from the list 'principals' at line 10: its entries start with '-' at column 3, and the keys of its last entry at column 5; indent it like the lines it belongs with, with spaces" \
    -- "$CLI" lint indent.yaml

# ---- the path once, from check, lint and test ----

want="efect.yaml:39:5: error: unknown key 'efect' in rule 'containers-delete'; did you mean 'effect'?"
expect_error "lint prints the path once" "$want" -- "$CLI" lint efect.yaml
expect_error "check prints the path once" "$want" -- \
    "$CLI" check --policy efect.yaml --cert "$CERTS/builder.pem" --op "GET /_ping"
expect_error "test prints the path once" "$want" -- "$CLI" test efect.yaml tests.yaml
# A path with directories is printed as given.
mkdir -p sub/dir
cp efect.yaml sub/dir/p.yaml
expect_error "a path with directories" \
    "sub/dir/p.yaml:39:5: error: unknown key 'efect' in rule 'containers-delete'; did you mean 'effect'?" \
    -- "$CLI" lint sub/dir/p.yaml
# Without a position: FILE: error: message.
expect_error "a missing policy" "nope.yaml: error: No such file or directory" -- \
    "$CLI" lint nope.yaml
: >empty.yaml
expect_error "an empty policy" "empty.yaml: error: empty policy (the input is blank)" -- \
    "$CLI" check --policy empty.yaml --cert "$CERTS/builder.pem" --op x
# A test file's own load error, the same way.
cat >badtests.yaml <<'EOF'
- name: admin may delete
  cert: admin.pem
  op: "DELETE /containers/abc"
  expct: allow
EOF
expect_error "a test file's load error" \
    "badtests.yaml:4:3: error: unknown key 'expct' in test case 'admin may delete'; did you mean 'expect'?" \
    -- "$CLI" test base.yaml badtests.yaml
expect_error "a missing test file" "nope-tests.yaml: error: No such file or directory" -- \
    "$CLI" test base.yaml nope-tests.yaml

# ---- one per kind of schema error ----

variant missing 34 "    # no effect"
expect_error "missing key at its mapping" \
    "missing.yaml:33:5: error: missing key 'effect' in rule 'containers-inspect'" \
    -- "$CLI" lint missing.yaml
variant type 35 "    principals: admin"
expect_error "wrong type at the value" \
    "type.yaml:35:17: error: 'principals' must be a list, not a scalar" \
    -- "$CLI" lint type.yaml
variant enum 39 "    effect: alow"
expect_error "bad enum value at the value, with did-you-mean" \
    "enum.yaml:39:13: error: invalid value 'alow' for 'effect' in rule 'containers-delete' (expected allow or deny); did you mean 'allow'?" \
    -- "$CLI" lint enum.yaml
variant mode 37 "    mode: dryrun"
expect_error "bad mode, with did-you-mean" \
    "mode.yaml:37:11: error: invalid value 'dryrun' for 'mode' in rule 'containers-inspect' (expected enforce or dry-run); did you mean 'dry-run'?" \
    -- "$CLI" lint mode.yaml
variant protocol 5 "protocol: HTTP"
expect_error "bad protocol, with did-you-mean" \
    "protocol.yaml:5:11: error: invalid value 'HTTP' for 'protocol' (expected http or any); did you mean 'http'?" \
    -- "$CLI" lint protocol.yaml
variant dupkey 37 "    effect: deny"
expect_error "duplicate key at the second one" \
    "dupkey.yaml:37:5: error: duplicate key 'effect' in rule 'containers-inspect'; a key may appear once in a mapping" \
    -- "$CLI" lint dupkey.yaml
variant emptylist 18 "    ou: []"
expect_error "empty list at the list" \
    "emptylist.yaml:18:9: error: empty list for key 'ou'; a list needs at least one entry" \
    -- "$CLI" lint emptylist.yaml
variant version 4 "version: 2"
expect_error "a future version at its value" \
    "version.yaml:4:10: error: unsupported policy version 2 (this library reads version 1)" \
    -- "$CLI" lint version.yaml

# ---- one per kind of semantic error ----

variant dupname 16 "  - name: ci"
expect_error "duplicate principal name at the second one" \
    "dupname.yaml:16:11: error: duplicate principal name 'ci' (principals #2 and #3)" \
    -- "$CLI" lint dupname.yaml
variant reserved 19 '  - name: "*"'
expect_error "the reserved name at the name" \
    "reserved.yaml:19:11: error: principal #4: the name '*' is reserved (it means any verified identity in a rule)" \
    -- "$CLI" lint reserved.yaml
variant control 19 '  - name: "moni\ttor"'
expect_error "a control character in a name at the name" \
    "control.yaml:19:11: error: principal #4 'moni\\x09tor': control character at byte 4; names and ids are printable text (no newline, tab, NUL, DEL or U+0080 to U+009F)" \
    -- "$CLI" lint control.yaml
variant ctrlid 29 '  - id: "ci\nbuild"'
expect_error "a control character in a rule id at the id" \
    "ctrlid.yaml:29:9: error: rule #2: the id 'ci\\x0abuild': control character at byte 2; names and ids are printable text (no newline, tab, NUL, DEL or U+0080 to U+009F)" \
    -- "$CLI" lint ctrlid.yaml
cat >noselector.yaml <<'EOF'
version: 1
principals:
  - name: nobody
rules:
  - {id: r, effect: allow, principals: [nobody], operations: ["GET /x"]}
EOF
expect_error "an empty selector at the name" \
    "noselector.yaml:3:11: error: principal 'nobody': empty selector (it needs at least one key besides name)" \
    -- "$CLI" lint noselector.yaml
variant serial 17 '    serial: ["0A"]'
expect_error "serial hex at the entry" \
    "serial.yaml:17:14: error: principal 'viewer', key 'serial', entry '0A': serial must be lowercase hex" \
    -- "$CLI" lint serial.yaml
variant sha 17 "    sha256: [abc]"
expect_error "sha256 hex at the entry" \
    "sha.yaml:17:14: error: principal 'viewer', key 'sha256', entry 'abc': sha256 must be exactly 64 hex digits" \
    -- "$CLI" lint sha.yaml
variant nomethod 32 '    operations: ["POST /build", "/images/*/push"]'
expect_error "protocol http: a path without a method" \
    "nomethod.yaml:32:33: error: rule 'ci-build', operation '/images/*/push': a path without a method: with 'protocol: http' an operation is 'METHOD /path'; write '* /...' for every method, or name one (GET, POST, ...)" \
    -- "$CLI" lint nomethod.yaml
variant trailing 45 '    operations: ["POST /containers/*/exec/"]'
expect_error "an operation that can never match" \
    "trailing.yaml:45:18: error: rule 'no-exec', operation 'POST /containers/*/exec/': trailing '/': the canonical operation removes it, so this matches no request; remove it (the pattern then matches the path with or without it)" \
    -- "$CLI" lint trailing.yaml
variant sensitive 8 '  - "delete /containers/*"'
expect_error "a sensitive pattern at its entry" \
    "sensitive.yaml:8:5: error: sensitive pattern 'delete /containers/*': methods are case-sensitive, and routers serve the uppercase ones, so this never matches the requests it means; write DELETE" \
    -- "$CLI" lint sensitive.yaml

echo "cli_errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
