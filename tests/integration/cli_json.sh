#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Machine-readable output and option handling of `mtlsauthz lint` and `mtlsauthz check`:
# `lint --format json`, GNU-style lint lines, `check --explain --format json`, the compared
# values in `check --explain`, `--help`, options in any order, unknown options. JSON is parsed
# with python3 and its fields asserted exactly.
# Environment: MTLSAUTHZ_CLI, MTLSAUTHZ_TEST_CERTS.
set -u
CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0
SLOPPY=$TOP/examples/demo/sloppy-policy.yaml
POLICY=$TOP/examples/policy.yaml

# run WANT_RC command...: runs it with stdout in $TMP/out and stderr in $TMP/err; returns 1
# (after reporting) when the exit status is not WANT_RC.
run() {
    want=$1
    shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"
        sed 's/^/    /' "$TMP/out" "$TMP/err"
        fail=$((fail + 1))
        return 1
    fi
    return 0
}

# json NAME WANT_RC PYTHON -- command...: runs the command, then PYTHON with `d` the JSON
# document on stdout (which must be all of stdout) and `out`, `err` the raw outputs.
json() {
    name=$1 want=$2 code=$3
    shift 4
    run "$want" "$@" || return
    if python3 - "$TMP/out" "$TMP/err" "$code" <<'PY'; then
import json, sys
out = open(sys.argv[1], encoding="utf-8").read()
err = open(sys.argv[2], encoding="utf-8").read()
d = json.loads(out)
exec(sys.argv[3])
PY
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        sed 's/^/    /' "$TMP/out" "$TMP/err"
        fail=$((fail + 1))
    fi
}

# text NAME WANT_RC PYTHON -- command...: the same with stdout as text (`out`, `err`).
text() {
    name=$1 want=$2 code=$3
    shift 4
    run "$want" "$@" || return
    if python3 - "$TMP/out" "$TMP/err" "$code" <<'PY'; then
import sys
out = open(sys.argv[1], encoding="utf-8").read()
err = open(sys.argv[2], encoding="utf-8").read()
exec(sys.argv[3])
PY
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        sed 's/^/    /' "$TMP/out" "$TMP/err"
        fail=$((fail + 1))
    fi
}

# ---- lint --format json ----
export SLOPPY POLICY
SLOPPY_FINDINGS='[
    ("unused-principal", None, "old-team", 8, 11),
    ("sensitive-grant", "debug-exec", None, 14, 9),
    ("sensitive-grant", "admin-containers", None, 19, 9),
    ("shadowed-rule", "read-images", None, 24, 9),
]'
LINT_JSON="
import os
assert err == '', err
assert set(d) == {'file', 'count', 'findings'}, d
assert d['file'] == os.environ['SLOPPY'], d['file']
assert d['count'] == 4 == len(d['findings']), d
got = [(f['kind'], f['rule'], f['principal'], f['line'], f['column']) for f in d['findings']]
assert got == $SLOPPY_FINDINGS, got
for f in d['findings']:
    assert set(f) == {'kind', 'rule', 'principal', 'line', 'column', 'message'}, f
assert d['findings'][0]['message'] == \"principal 'old-team': no rule names it\", d
assert d['findings'][3]['message'] == (\"rule 'read-images': every operation it allows is \"
    \"denied to the same principals by rule 'no-images'\"), d
assert d['findings'][1]['message'].startswith('rule \\'debug-exec\\': allows \"POST /containers/**\" to principal'), d
"
json "lint --format json" 1 "$LINT_JSON" -- "$CLI" lint --format json "$SLOPPY"
json "lint POLICY --format json (options after the file)" 1 "$LINT_JSON" -- \
    "$CLI" lint "$SLOPPY" --format json
json "lint --format json, clean" 0 "
import os
assert d == {'file': os.environ['POLICY'], 'count': 0, 'findings': []}, d
" -- "$CLI" lint --format json "$POLICY"
printf 'version: 1\nrules: []\n' >"$TMP/invalid.yaml"
text "lint --format json, invalid policy" 2 "
assert out == '', out
assert len(err.splitlines()) == 1, err
" -- "$CLI" lint --format json "$TMP/invalid.yaml"
text "lint --format xml" 2 "
assert out == '' and len(err.splitlines()) == 1, err
assert \"--format must be text or json, not 'xml'\" in err, err
" -- "$CLI" lint --format xml "$SLOPPY"
text "lint --format without a value" 2 "
assert len(err.splitlines()) == 1 and 'usage: mtlsauthz lint' in err, err
" -- "$CLI" lint "$SLOPPY" --format

# ---- lint text: GNU-style lines, the path once per line, then the count ----
text "lint text is FILE:LINE:COL: warning: kind: message" 1 "
import os
p = os.environ['SLOPPY']
lines = out.splitlines()
assert len(lines) == 5, lines
assert lines[0] == p + \":8:11: warning: unused-principal: principal 'old-team': no rule names it\", lines[0]
assert lines[1].startswith(p + \":14:9: warning: sensitive-grant: rule 'debug-exec': allows \"), lines[1]
assert lines[2].startswith(p + \":19:9: warning: sensitive-grant: rule 'admin-containers': \"), lines[2]
assert lines[3] == (p + \":24:9: warning: shadowed-rule: rule 'read-images': every operation it \"
    \"allows is denied to the same principals by rule 'no-images'\"), lines[3]
assert lines[4] == p + ': 4 findings', lines[4]
assert all(l.count(p) == 1 for l in lines), lines
assert err == '', err
" -- "$CLI" lint "$SLOPPY"

# ---- lint options ----
text "lint --help" 0 "
assert out.startswith('usage: mtlsauthz lint [--format text|json] POLICY\n'), out
assert '--format json' in out and err == '', (out, err)
" -- "$CLI" lint --help
text "lint -h after a file" 0 "
assert out.startswith('usage: mtlsauthz lint'), out
" -- "$CLI" lint "$SLOPPY" -h
text "lint unknown option" 2 "
assert out == '' and len(err.splitlines()) == 1, err
assert \"unknown option '--colour'\" in err and 'usage: mtlsauthz lint [--format text|json] POLICY' in err, err
" -- "$CLI" lint --colour "$SLOPPY"
text "lint two files" 2 "
assert len(err.splitlines()) == 1 and 'one POLICY at a time' in err, err
" -- "$CLI" lint "$SLOPPY" "$POLICY"
text "lint without a file" 2 "
assert len(err.splitlines()) == 1 and 'no POLICY given' in err, err
" -- "$CLI" lint --format text
cp "$POLICY" "$TMP/-dash.yaml"
(cd "$TMP" && "$CLI" lint -- -dash.yaml >"$TMP/dash.out" 2>&1)
if [ $? -eq 0 ] && grep -q '^-dash.yaml: no findings$' "$TMP/dash.out"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL lint -- -dash.yaml: $(cat "$TMP/dash.out")"
fi

# ---- check --explain --format json ----
# builder asks for its logs: no rule grants it; ops does not match on `ou`.
EXPLAIN_JSON="
assert err == '', err
assert (d['decision'], d['rule'], d['reason'], d['dry_run'], d['dry_run_count']) == ('deny', None, 'no_match', [], 0), d
assert (d['operation'], d['identity'], d['rejected']) == ('GET /containers/abc/logs', 'accepted', None), d
assert d['principals'] == [
    {'name': 'builder', 'line': 28, 'column': 11, 'matched': True, 'why': None, 'bindings': None},
    {'name': 'ops', 'line': 32, 'column': 11, 'matched': False, 'why': 'key', 'key': 'ou',
     'values': [], 'values_total': 0, 'patterns': ['ops', 'sre'], 'patterns_total': 2},
], d['principals']
rules = [(r['id'], r['line'], r['column'], r['effect'], r['mode'], r['matched'], r['why']) for r in d['rules']]
assert rules == [
    ('health', 38, 9, 'allow', 'enforce', False, 'no_operation'),
    ('build-images', 44, 9, 'allow', 'enforce', False, 'no_operation'),
    ('ops-read', 50, 9, 'allow', 'enforce', False, 'no_principal'),
    ('no-container-escape', 56, 9, 'deny', 'enforce', False, 'no_operation'),
    ('watch-logs', 62, 9, 'deny', 'dry-run', False, 'no_principal'),
], rules
"
json "check --explain --format json" 1 "$EXPLAIN_JSON" -- \
    "$CLI" check --policy "$POLICY" --cert "$CERTS/builder.pem" --op "GET /containers/abc/logs" \
    --explain --format json
json "check --explain --format json, options in another order" 1 "$EXPLAIN_JSON" -- \
    "$CLI" check --format json --op "GET /containers/abc/logs" --explain --cert \
    "$CERTS/builder.pem" --policy "$POLICY"
# sre (OU=sre, OU=oncall) reads logs: allowed, and the dry-run deny reports.
json "check --explain --format json, allowed with a dry-run match" 0 "
assert (d['decision'], d['rule'], d['reason'], d['dry_run'], d['dry_run_count']) == ('allow', 'ops-read', 'allowed', ['watch-logs'], 1), d
p = {x['name']: x for x in d['principals']}
assert p['ops'] == {'name': 'ops', 'line': 32, 'column': 11, 'matched': True, 'why': None, 'bindings': None}, p
assert p['builder']['why'] == 'key' and p['builder']['key'] == 'spiffe' and p['builder']['values'] == [], p
r = {x['id']: x for x in d['rules']}
assert r['ops-read']['matched'] is True and r['watch-logs']['matched'] is True, r
assert r['health']['why'] == 'no_operation', r
" -- "$CLI" check --explain --format json --policy "$POLICY" --cert "$CERTS/sre.pem" \
    --op "GET /containers/abc/logs"
# Without --explain, the JSON stays the decision alone, on one line.
json "check --format json without --explain" 0 "
assert d == {'decision': 'allow', 'rule': 'ops-read', 'reason': 'allowed', 'dry_run': ['watch-logs']}, d
assert len(out.splitlines()) == 1, out
" -- "$CLI" check --op "GET /containers/abc/logs" --format json --cert "$CERTS/sre.pem" \
    --policy "$POLICY"
json "check --explain --format json, rejected identity" 1 "
assert (d['decision'], d['reason'], d['identity'], d['principals'], d['rules']) == ('deny', 'identity_rejected', 'rejected', [], []), d
assert d['rejected'] == 'NUL byte in subject CN', d
" -- "$CLI" check --policy "$POLICY" --cert "$CERTS/nul-cn.pem" --op "GET /healthz" --explain \
    --format json

# ---- check --explain text: the values a failing key compared ----
text "check --explain shows the compared values" 0 "
lines = out.splitlines()
i = lines.index(\"  no    builder: key 'spiffe' did not match\")
assert lines[i + 1] == '        spiffe: the identity has none', lines
assert lines[i + 2] == \"        patterns: 'spiffe://prod.example.com/ci/builder'\", lines
assert lines[i + 3] == '  match ops', lines
assert lines[lines.index('  match ops') + 1] == 'rules:', lines
" -- "$CLI" check --policy "$POLICY" --cert "$CERTS/sre.pem" --op "GET /containers" --explain
cat >"$TMP/ou.yaml" <<'EOF'
version: 1
principals:
  - name: ci
    dn: ["CN=ci-builder,O=Acme"]
  - name: platform
    ou: [platform]
rules:
  - {id: r, effect: allow, principals: [ci, platform], operations: [x]}
EOF
text "check --explain shows the DN and every OU" 1 "
assert \"  no    ci: key 'dn' did not match\n        dn is 'CN=bob,OU=oncall,OU=sre,O=Example Corp'\n        patterns: 'CN=ci-builder,O=Acme'\n\" in out, out
assert \"        ou has 'sre', 'oncall'\n        patterns: 'platform'\n\" in out, out
" -- "$CLI" check --explain --policy "$TMP/ou.yaml" --cert "$CERTS/sre.pem" --op x

# ---- check options ----
text "check --help" 0 "
assert out.startswith('usage: mtlsauthz check --policy P --cert CERT'), out
assert '--explain' in out and err == '', (out, err)
" -- "$CLI" check --help
text "check --help among other options" 0 "
assert out.startswith('usage: mtlsauthz check'), out
" -- "$CLI" check --policy "$POLICY" --help --op x
text "check unknown option" 2 "
assert out == '' and len(err.splitlines()) == 1, err
assert \"unknown argument '--verbose'\" in err and 'usage: mtlsauthz check --policy P' in err, err
" -- "$CLI" check --verbose --policy "$POLICY" --cert "$CERTS/sre.pem" --op x
text "check without --op" 2 "
assert len(err.splitlines()) == 1 and 'are required (usage: mtlsauthz check' in err, err
" -- "$CLI" check --policy "$POLICY" --cert "$CERTS/sre.pem"

echo "cli_json: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
