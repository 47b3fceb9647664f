#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz test` (docs/policy.md, "Policy tests"): inline identities, `request:` cases,
# `expect: error`, `dry_run`, the explanation under a FAIL line, a missing certificate failing
# only its case, `--format json`, and the option handling (--help, any order, unknown options)
# of `test`, `identity` and `http-op`. Also runs the docs' examples.
# Environment: MTLSAUTHZ_CLI, MTLSAUTHZ_TEST_CERTS; needs python3.
set -u
CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
POLICY="$TOP/examples/policy.yaml"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0

bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    sed 's/^/    /' "$TMP/out" "$TMP/err"
}

# run WANT_RC NAME -- command...: runs it, output in $TMP/out and $TMP/err; 1 if the exit
# status is WANT_RC (an error, exit 2, must be one line on stderr and nothing on stdout).
run() {
    want=$1 name=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        bad "$name: exit $rc, want $want"
        return 1
    fi
    if [ "$want" -eq 2 ] && { [ "$(wc -l <"$TMP/err")" -ne 1 ] || [ -s "$TMP/out" ]; }; then
        bad "$name: an error must be one line on stderr and nothing on stdout"
        return 1
    fi
    return 0
}

# has NAME FILE PATTERN...: every grep pattern occurs in FILE (out or err).
has() {
    name=$1 file=$TMP/$2
    shift 2
    for p in "$@"; do
        if ! grep -q -- "$p" "$file"; then
            bad "$name: $(basename "$file") lacks '$p'"
            return
        fi
    done
    pass=$((pass + 1))
}

# expect NAME WANT_RC FILE PATTERN... -- command...
expect() {
    name=$1 want=$2 file=$3
    shift 3
    n=0
    while [ "$1" != "--" ]; do
        n=$((n + 1))
        eval "p$n=\$1"
        shift
    done
    shift
    run "$want" "$name" -- "$@" || return
    i=1
    while [ $i -le $n ]; do
        eval "p=\$p$i"
        if ! grep -q -- "$p" "$TMP/$file"; then
            bad "$name: $file lacks '$p'"
            return
        fi
        i=$((i + 1))
    done
    pass=$((pass + 1))
}

# ---- no certificate on disk: a directory with only the policy and the tests ----

mkdir "$TMP/alone"
cp "$POLICY" "$TMP/alone/policy.yaml"
cat >"$TMP/alone/tests.yaml" <<'YAML'
- name: inline builder builds
  identity:
    spiffe: spiffe://prod.example.com/ci/builder
    eku: [clientAuth]
  op: POST /images/build
  expect: allow
  rule: build-images
- name: inline builder without clientAuth is not the builder
  identity: {spiffe: "spiffe://prod.example.com/ci/builder"}
  op: POST /images/build
  expect: deny
- name: inline ops reads containers
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  request: GET /containers/?all=1
  expect: allow
  rule: ops-read
- name: inline ops may not exec
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  request: POST /containers/abc/exec
  expect: deny
  rule: no-container-escape
YAML
(cd "$TMP/alone" && "$CLI" test policy.yaml tests.yaml) >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -ne 0 ] || [ "$(ls -A "$TMP/alone" | wc -l)" -ne 2 ]; then
    bad "inline cases with no certificate on disk: exit $rc, files: $(ls -A "$TMP/alone" | tr '\n' ' ')"
else
    has "inline cases with no certificate on disk" out "tests.yaml: 4 passed, 0 failed" \
        "PASS inline builder builds: allow (allowed by build-images)" \
        "PASS inline builder without clientAuth is not the builder: deny (no_match)" \
        "PASS inline ops reads containers: allow (allowed by ops-read; operation 'GET /containers')" \
        "PASS inline ops may not exec: deny (denied by no-container-escape; operation 'POST /containers/abc/exec')"
fi

# ---- inline identities decide as the certificate they describe ----

cat >"$TMP/twins.yaml" <<'YAML'
- name: cert builder
  cert: builder.pem
  op: POST /images/build
  expect: allow
- name: inline builder
  identity: {cn: [builder], o: [Example Corp], spiffe: "spiffe://prod.example.com/ci/builder", eku: [clientAuth]}
  op: POST /images/build
  expect: allow
- name: cert uppercase trust domain
  cert: spiffe-upper-td.pem
  op: GET /healthz
  expect: deny
- name: inline uppercase trust domain
  identity: {cn: [spiffe-upper-td], spiffe: "spiffe://Prod.Example.com/ns/x", eku: [clientAuth]}
  op: GET /healthz
  expect: deny
- name: inline two URI SANs
  identity: {spiffe: "spiffe://prod.example.com/ci/builder", uri: ["https://example.com/a"], eku: [clientAuth]}
  op: GET /healthz
  expect: deny
- name: inline non-ASCII DNS SAN
  identity: {dns: ["bücher.example.com"]}
  op: GET /healthz
  expect: deny
YAML
expect "an invalid SPIFFE ID is denied as the certificate is" 0 out \
    "PASS cert builder: allow (allowed by build-images)" \
    "PASS inline builder: allow (allowed by build-images)" \
    "PASS cert uppercase trust domain: deny (identity_rejected)" \
    "PASS inline uppercase trust domain: deny (identity_rejected)" \
    "PASS inline two URI SANs: deny (identity_rejected)" \
    "PASS inline non-ASCII DNS SAN: deny (identity_rejected)" -- \
    "$CLI" test --certs "$CERTS" "$POLICY" "$TMP/twins.yaml"
# The same rejection cannot be made to pass as an allow; the explanation says why.
printf -- '- name: hopeful\n  identity: {spiffe: "spiffe://prod.example.com/ci/../builder", eku: [clientAuth]}\n  op: POST /images/build\n  expect: allow\n' >"$TMP/hopeful.yaml"
expect "a rejected inline identity cannot pass as an allow" 1 out \
    "FAIL hopeful: expected allow, got deny (reason identity_rejected, rule none)" \
    "^    identity: rejected (invalid SPIFFE ID: '.' or '..' path segment)" -- \
    "$CLI" test "$POLICY" "$TMP/hopeful.yaml"

# ---- test-file errors: exit 2, one line naming the case or the key ----

tf() {
    name=$1 pattern=$2
    printf '%s\n' "$3" >"$TMP/bad.yaml"
    expect "$name" 2 err "$pattern" -- "$CLI" test "$POLICY" "$TMP/bad.yaml"
}
tf "unknown inline key" "bad.yaml:1:23: error: unknown key 'dn' in the block 'identity' (known keys: spiffe, cn, o, ou, dns, ...)" \
    '- identity: {cn: [x], dn: ["CN=x"]}
  op: x
  expect: deny'
tf "unknown inline key issuer" "bad.yaml:1:14: error: unknown key 'issuer' in the block 'identity'" \
    '- identity: {issuer: ["CN=x"]}
  op: x
  expect: deny'
tf "cert and identity" "bad.yaml:2:3: error: case 2 'both': give either 'cert' or 'identity', not both" \
    '- {identity: {cn: [x]}, op: x, expect: deny}
- name: both
  cert: a.pem
  identity: {cn: [x]}
  op: x
  expect: deny'
tf "neither cert nor identity" "case 1: missing key 'cert' or 'identity'" \
    '- {op: x, expect: deny}'
tf "chain without cert" "'chain' goes with 'cert'" \
    '- {identity: {cn: [x]}, chain: int.pem, op: x, expect: deny}'
tf "op and request" "give either 'op' or 'request', not both" \
    '- {identity: {cn: [x]}, op: GET /x, request: GET /x, expect: deny}'
tf "neither op nor request" "missing key 'op' or 'request'" \
    '- {identity: {cn: [x]}, expect: deny}'
tf "a request without a target" "'request' must be 'METHOD TARGET' with one space" \
    '- {identity: {cn: [x]}, request: GET, expect: deny}'
tf "a request with two spaces" "'request' must be 'METHOD TARGET'" \
    '- {identity: {cn: [x]}, request: "GET /a b", expect: deny}'
tf "rule with expect error" "'rule' and 'dry_run' cannot go with 'expect: error'" \
    '- {identity: {cn: [x]}, request: GET /x, expect: error, rule: health}'
tf "dry_run with expect error" "'rule' and 'dry_run' cannot go with 'expect: error'" \
    '- {identity: {cn: [x]}, request: GET /x, expect: error, dry_run: [watch-logs]}'
tf "dry_run twice" "'dry_run' lists 'watch-logs' twice" \
    '- {identity: {cn: [x]}, op: x, expect: deny, dry_run: [watch-logs, watch-logs]}'
tf "a bad expect names error" "bad.yaml:1:40: error: invalid value 'maybe' for 'expect' in a test case (expected allow, deny or error)" \
    '- {identity: {cn: [x]}, op: x, expect: maybe}'
tf "an IP block is not an address" "case 1 'cidr': identity: ip '10.0.0.0/8' is a block" \
    '- {name: cidr, identity: {ip: [10.0.0.0/8]}, op: x, expect: deny}'
tf "a case name with a line break stays on one line" "case 1 'two?lines': identity: ip 'x'" \
    '- {name: "two\nlines", identity: {ip: [x]}, op: x, expect: deny}'
tf "a bad IP address" "identity: ip '1.2.3' is not a valid IPv4 address" \
    '- {identity: {ip: [1.2.3]}, op: x, expect: deny}'
tf "an EKU misspelt" "identity: eku 'clientauth' is not a known extended key usage" \
    '- {identity: {eku: [clientauth]}, op: x, expect: deny}'
tf "a non-spiffe URI under spiffe" "identity: spiffe 'https://example.com/x' is not a spiffe:// URI" \
    '- {identity: {spiffe: "https://example.com/x"}, op: x, expect: deny}'
tf "an uppercase serial" "identity: serial 'C0FFEE' is not lowercase hex" \
    '- {identity: {serial: C0FFEE}, op: x, expect: deny}'
tf "a NUL byte in an inline value" "NUL byte" \
    '- {identity: {cn: ["admin\0.evil.com"]}, op: x, expect: deny}'
# A bad inline value far down stops the run before any case runs.
printf -- '- {identity: {cn: [x]}, op: GET /healthz, expect: allow}\n- {identity: {ip: [nope]}, op: x, expect: deny}\n' >"$TMP/late.yaml"
expect "a bad inline identity is found before any case runs" 2 err "case 2: identity: ip 'nope'" -- \
    "$CLI" test "$POLICY" "$TMP/late.yaml"

# ---- request: canonicalized as the bindings do it ----

cat >"$TMP/requests.yaml" <<'YAML'
- name: HEAD is GET
  identity: {cn: [x]}
  request: HEAD /healthz
  expect: allow
  rule: health
- name: query and trailing slash
  identity: {cn: [x]}
  request: GET /healthz/?verbose=1&x=%2F
  expect: allow
  rule: health
- name: percent-encoding is decoded
  identity: {cn: [x]}
  request: GET /%68ealth%7A
  expect: allow
  rule: health
- name: an encoded slash is refused
  identity: {cn: [x]}
  request: GET /containers%2Fabc
  expect: error
- name: a dot segment is refused
  identity: {cn: [x]}
  request: GET /containers/../host
  expect: error
- name: a relative target is refused
  identity: {cn: [x]}
  request: GET healthz
  expect: error
YAML
expect "request: canonicalization" 0 out \
    "PASS HEAD is GET: allow (allowed by health; operation 'GET /healthz')" \
    "PASS query and trailing slash: allow (allowed by health; operation 'GET /healthz')" \
    "PASS percent-encoding is decoded: allow (allowed by health; operation 'GET /healthz')" \
    "PASS an encoded slash is refused: error (HTTP request refused: encoded '/' in path)" \
    "PASS a dot segment is refused: error (HTTP request refused: dot segment in path)" \
    "PASS a relative target is refused: error (HTTP request refused: path is not absolute)" \
    "6 passed, 0 failed" -- \
    "$CLI" test "$POLICY" "$TMP/requests.yaml"
# The canonical operation is http-op's.
expect "http-op agrees" 0 out "^GET /healthz$" -- "$CLI" http-op HEAD "/health%7A/?q=1"

cat >"$TMP/error-cases.yaml" <<'YAML'
- name: error expected but decided
  identity: {cn: [x]}
  request: GET /healthz
  expect: error
- name: refused but allow expected
  identity: {cn: [x]}
  request: GET /a//b
  expect: allow
- name: refused but deny expected
  identity: {cn: [x]}
  request: GET /a//b
  expect: deny
YAML
expect "expect: error fails either way round" 1 out \
    "FAIL error expected but decided: expected error, got allow (reason allowed, rule health): operation 'GET /healthz' was decided" \
    "FAIL refused but allow expected: expected allow, got error (HTTP request refused: empty segment in path)" \
    "FAIL refused but deny expected: expected deny, got error (HTTP request refused: empty segment in path)" \
    "0 passed, 3 failed" -- \
    "$CLI" test "$POLICY" "$TMP/error-cases.yaml"

# ---- dry_run ----

cat >"$TMP/dry.yaml" <<'YAML'
- name: logs match watch-logs
  identity: {o: [Example Corp], ou: [ops]}
  op: GET /containers/abc/logs
  expect: allow
  dry_run: [watch-logs]
- name: a cert case asserts it too
  cert: ops.pem
  op: GET /containers/abc/logs
  expect: allow
  rule: ops-read
  dry_run: [watch-logs]
YAML
expect "dry_run passes" 0 out \
    "PASS logs match watch-logs: allow (allowed by ops-read; dry-run: watch-logs)" \
    "2 passed, 0 failed" -- \
    "$CLI" test --certs "$CERTS" "$POLICY" "$TMP/dry.yaml"
cat >"$TMP/dry-fail.yaml" <<'YAML'
- name: wrong dry-run id
  identity: {o: [Example Corp], ou: [ops]}
  op: GET /containers/abc/logs
  expect: allow
  dry_run: [watch-exec]
- name: no dry-run match
  identity: {o: [Example Corp], ou: [ops]}
  op: GET /containers
  expect: allow
  dry_run: [watch-logs]
- name: one too many
  identity: {o: [Example Corp], ou: [ops]}
  op: GET /containers/abc/logs
  expect: allow
  dry_run: [watch-logs, health]
YAML
expect "dry_run fails" 1 out \
    "FAIL wrong dry-run id: allowed as expected, but dry-run matched watch-logs, not watch-exec" \
    "FAIL no dry-run match: allowed as expected, but dry-run matched none, not watch-logs" \
    "FAIL one too many: allowed as expected, but dry-run matched watch-logs, not watch-logs, health" \
    "0 passed, 3 failed" -- \
    "$CLI" test "$POLICY" "$TMP/dry-fail.yaml"

# ---- the explanation under a FAIL line ----

printf -- '- name: ops may exec\n  identity: {cn: [alice], o: [Example Corp], ou: [ops]}\n  op: POST /containers/abc/exec\n  expect: allow\n- {identity: {cn: [x]}, op: GET /healthz, expect: allow}\n' >"$TMP/explain.yaml"
expect "a failed case is explained under its FAIL line" 1 out \
    "FAIL ops may exec: expected allow, got deny (reason denied, rule no-container-escape)" \
    "^    operation: POST /containers/abc/exec$" \
    "^    identity: accepted$" \
    "^      match ops$" \
    "^      match no-container-escape (deny)$" \
    "^    decision: deny (rule no-container-escape, reason denied)$" -- \
    "$CLI" test "$POLICY" "$TMP/explain.yaml"
# Only under the failed case: indented lines follow the FAIL line up to the passing case's line,
# and nothing is indented after that.
if ! awk 'NR == 1 { ok = /^FAIL ops may exec/; next }
          /^PASS GET \/healthz/ { passed = NR; next }
          /^    / { if (passed) ok = 0; else n++; next }
          !passed { ok = 0 }
          END { exit !(ok && passed && n >= 3) }' "$TMP/out"; then
    bad "the explanation is indented under its own FAIL line only"
else
    pass=$((pass + 1))
fi

# ---- a missing certificate fails only its case ----

cat >"$TMP/missing.yaml" <<'YAML'
- name: before
  identity: {cn: [x]}
  op: GET /healthz
  expect: allow
- name: no such certificate
  cert: no-such.pem
  op: GET /healthz
  expect: allow
- name: not a certificate
  cert: missing.yaml
  op: GET /healthz
  expect: error
- name: after
  cert: plain.pem
  op: GET /healthz
  expect: allow
YAML
cp "$CERTS/plain.pem" "$TMP/"
expect "a missing certificate fails only its case" 1 out \
    "PASS before: allow" \
    "FAIL no such certificate: cannot use the certificate: .*no-such.pem: No such file or directory" \
    "FAIL not a certificate: cannot use the certificate: .*missing.yaml" \
    "PASS after: allow" \
    "2 passed, 2 failed" -- \
    "$CLI" test "$POLICY" "$TMP/missing.yaml"

# ---- --format json ----

run 1 "json output" -- "$CLI" test --format json --certs "$TMP" "$POLICY" "$TMP/missing.yaml" &&
    if python3 -m json.tool "$TMP/out" >/dev/null && python3 - "$TMP/out" <<'PY'; then
import json, sys
doc = json.load(open(sys.argv[1]))
assert sorted(doc) == ["cases", "policy", "tests", "totals"], sorted(doc)
assert doc["totals"] == {"cases": 4, "passed": 2, "failed": 2}, doc["totals"]
keys = ["name", "operation", "expected", "got", "pass", "rule", "reason", "dry_run", "error",
        "failure", "explanation"]
for c in doc["cases"]:
    assert list(c) == keys, list(c)
before, missing, notcert, after = doc["cases"]
assert before == {"name": "before", "operation": "GET /healthz", "expected": "allow",
                  "got": "allow", "pass": True, "rule": "health", "reason": "allowed",
                  "dry_run": [], "error": None, "failure": None, "explanation": None}, before
assert missing["got"] is None and missing["pass"] is False and missing["operation"] is None
assert missing["rule"] is None and missing["reason"] is None
assert "no-such.pem: No such file or directory" in missing["error"], missing
assert missing["failure"].startswith("cannot use the certificate: "), missing
assert missing["explanation"] == missing["failure"], missing
assert notcert["expected"] == "error" and notcert["got"] is None and not notcert["pass"]
assert after["pass"] and after["got"] == "allow"
PY
        pass=$((pass + 1))
    else
        bad "json output: fields"
    fi

run 1 "json output of decisions" -- "$CLI" test "$POLICY" --format=json "$TMP/dry-fail.yaml" &&
    if python3 - "$TMP/out" <<'PY'; then
import json, sys
doc = json.load(open(sys.argv[1]))
c = doc["cases"][0]
assert c["name"] == "wrong dry-run id" and c["got"] == "allow" and c["pass"] is False, c
assert c["rule"] == "ops-read" and c["reason"] == "allowed", c
assert c["dry_run"] == ["watch-logs"], c
assert c["failure"] == "allowed as expected, but dry-run matched watch-logs, not watch-exec", c
assert c["explanation"].startswith("operation: GET /containers/abc/logs\n"), c
assert "match watch-logs (deny, dry-run): would have denied" in c["explanation"], c
assert doc["cases"][1]["dry_run"] == [], doc["cases"][1]
PY
        pass=$((pass + 1))
    else
        bad "json output of decisions: fields"
    fi

run 0 "json output of requests" -- "$CLI" test --format json "$POLICY" "$TMP/requests.yaml" &&
    if python3 - "$TMP/out" <<'PY'; then
import json, sys
doc = json.load(open(sys.argv[1]))
ops = [(c["operation"], c["got"], c["pass"], c["error"]) for c in doc["cases"]]
assert ops[:3] == [("GET /healthz", "allow", True, None)] * 3, ops
assert ops[3] == (None, "error", True, "HTTP request refused: encoded '/' in path"), ops
assert all(c["expected"] == "error" for c in doc["cases"][3:]), doc
assert all(c["explanation"] is None and c["failure"] is None for c in doc["cases"]), doc
PY
        pass=$((pass + 1))
    else
        bad "json output of requests: fields"
    fi

# Strings are escaped: quotes, backslashes, control characters; UTF-8 kept.
cat >"$TMP/names.yaml" <<'YAML'
- name: "quote \" backslash \\ tab \t newline \n bell \a del \x7f é Ω"
  identity: {cn: [x]}
  op: GET /healthz
  expect: allow
YAML
run 0 "json escapes names" -- "$CLI" test --format json "$POLICY" "$TMP/names.yaml" &&
    if python3 - "$TMP/out" <<'PY'; then
import json, sys
raw = open(sys.argv[1], "rb").read()
assert all(b >= 0x20 or b == 0x0a for b in raw), "a raw control byte in the JSON"
assert b"\x7f" not in raw
name = json.loads(raw)["cases"][0]["name"]
assert name == 'quote " backslash \\ tab \t newline \n bell \a del \x7f \u00e9 \u03a9', repr(name)
PY
        pass=$((pass + 1))
    else
        bad "json escapes names"
    fi
# ... and so does the text form, for a terminal.
expect "text escapes names" 0 out \
    'PASS quote " backslash \\\\ tab \\x09 newline \\x0a bell \\x07 del \\x7f é Ω: allow' -- \
    "$CLI" test "$POLICY" "$TMP/names.yaml"

expect "bad --format" 2 err "must be text or json, not 'yaml'" -- \
    "$CLI" test --format yaml "$POLICY" "$TMP/requests.yaml"
expect "--format without a value" 2 err "--format needs a value" -- \
    "$CLI" test "$POLICY" "$TMP/requests.yaml" --format
# An error in JSON mode prints nothing on stdout (run checks it).
printf -- '- {identity: {dn: [x]}, op: x, expect: deny}\n' >"$TMP/bad.yaml"
expect "an error with --format json prints no document" 2 err "unknown key 'dn'" -- \
    "$CLI" test --format json "$POLICY" "$TMP/bad.yaml"

# ---- options in any order, --help, unknown options ----

for order in "--certs $CERTS --format json P T" "P --format json T --certs $CERTS" \
    "P T --format=json --certs=$CERTS" "--format json P --certs $CERTS T"; do
    set -- $order
    args=""
    for a in "$@"; do
        case $a in
        P) args="$args $POLICY" ;;
        T) args="$args $TMP/dry.yaml" ;;
        *) args="$args $a" ;;
        esac
    done
    # shellcheck disable=SC2086
    expect "test options in any order: $order" 0 out '"passed": 2' -- "$CLI" test $args
done
expect "-- ends the options" 0 out "2 passed, 0 failed" -- \
    "$CLI" test --certs "$CERTS" -- "$POLICY" "$TMP/dry.yaml"

for cmd in test identity http-op; do
    expect "$cmd --help" 0 out "^usage: mtlsauthz $cmd " -- "$CLI" $cmd --help
    [ -s "$TMP/err" ] && bad "$cmd --help wrote to stderr"
    expect "$cmd -h after arguments" 0 out "^usage: mtlsauthz $cmd " -- "$CLI" $cmd x -h
    expect "help $cmd" 0 out "^usage: mtlsauthz $cmd " -- "$CLI" help $cmd
    expect "$cmd unknown option" 2 err "unknown option '--bogus'; usage: mtlsauthz $cmd " -- \
        "$CLI" $cmd --bogus
done
expect "test --help says the exit codes" 0 out "Exit status: 0 every case passed, 1 a case failed, 2 an error" -- \
    "$CLI" test --help
expect "mtlsauthz --help" 0 out "mtlsauthz test \[--certs DIR\] \[--format text|json\] POLICY TESTS.yaml" \
    "mtlsauthz help \[COMMAND\]" -- "$CLI" --help
expect "help for an unknown command" 2 err "help: unknown command 'nope'" -- "$CLI" help nope
expect "test usage" 2 err "test: needs POLICY and TESTS.yaml; usage: mtlsauthz test" -- \
    "$CLI" test "$POLICY"
expect "test with three files" 2 err "more than POLICY and TESTS.yaml" -- \
    "$CLI" test "$POLICY" "$TMP/dry.yaml" extra
expect "identity options in any order" 0 out '"spiffe_id":"spiffe://prod.example.com/ci/builder"' -- \
    "$CLI" identity "$CERTS/builder.pem" --format json
expect "identity --format=json" 0 out '"spiffe_id"' -- \
    "$CLI" identity --format=json "$CERTS/builder.pem"
expect "identity two files" 2 err "more than one FILE" -- \
    "$CLI" identity "$CERTS/builder.pem" "$CERTS/ops.pem"
expect "http-op after --" 0 out "^GET /x$" -- "$CLI" http-op -- GET /x
expect "http-op arguments" 2 err "needs METHOD and TARGET; usage: mtlsauthz http-op" -- \
    "$CLI" http-op GET
expect "http-op too many arguments" 2 err "more than METHOD and TARGET" -- \
    "$CLI" http-op GET /x /y

# ---- the examples in docs/policy.md, "Policy tests", load and run ----

python3 - "$TOP/docs/policy.md" "$TMP/doc" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## Policy tests"):]
section = section[:section.index("\n## ", 1)]
blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
yamls = [b for lang, b in blocks if lang == "yaml"]
jsons = [b for lang, b in blocks if lang == "json"]
assert len(yamls) == 2 and len(jsons) == 1, (len(yamls), len(jsons))
for i, b in enumerate(yamls):
    open(f"{sys.argv[2]}{i}.yaml", "w").write(b)
open(f"{sys.argv[2]}.json", "w").write(jsons[0])
PY
expect "the docs' first example passes" 0 out "4 passed, 0 failed" -- \
    "$CLI" test --certs "$CERTS" "$POLICY" "$TMP/doc0.yaml"
cp "$TMP/doc1.yaml" "$TMP/tests.yaml"
expect "the docs' failing example fails as shown" 1 out \
    "FAIL ops may exec into a container: expected allow, got deny (reason denied, rule no-container-escape)" \
    "^    decision: deny (rule no-container-escape, reason denied)$" \
    "tests.yaml: 0 passed, 1 failed" -- \
    "$CLI" test "$POLICY" "$TMP/tests.yaml"
run 1 "the docs' JSON" -- "$CLI" test --format json "$POLICY" "$TMP/tests.yaml" &&
    if python3 - "$TMP/out" "$TMP/doc.json" <<'PY'; then
import json, sys
got, doc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
# The explanation is check --explain's text, shown cut short in the docs.
assert doc["cases"][0]["explanation"].endswith("...")
assert got["cases"][0]["explanation"].startswith(doc["cases"][0]["explanation"][:-3])
for d in (got, doc):
    d["cases"][0]["explanation"] = None
    d["policy"] = d["tests"] = None
assert got == doc, (got, doc)
PY
        pass=$((pass + 1))
    else
        bad "the docs' JSON is what the command prints"
    fi

echo "cli_test_cmd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
