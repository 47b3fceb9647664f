#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/ci.md, run as written: its jq filters and the job scripts of its GitHub Actions and
# GitLab recipes (every step but the package install), in a scratch policy repository, with
# the CLI under test on PATH as `mtlsauthz`. A clean policy, lint findings, failing cases
# (with names that need escaping) and a policy that does not load must each give the
# annotations and reports the page promises, and the job's exit status.
# Needs MTLSAUTHZ_CLI (make check-cli sets it), jq and python3 with PyYAML.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
doc=$top/docs/ci.md
cli=${MTLSAUTHZ_CLI:?set MTLSAUTHZ_CLI to the mtlsauthz binary}
for tool in jq python3; do
    command -v "$tool" >/dev/null || {
        echo "cli_ci: $tool is missing (scripts/install-deps test installs it)" >&2
        exit 1
    }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }

# The fenced block after `<!-- cli_ci.sh: NAME -->` in docs/ci.md.
block() {
    awk -v m="<!-- cli_ci.sh: $1 -->" '
        $0 == m { found = 1; next }
        found == 1 && /^```/ { found = 2; next }
        found == 2 && /^```/ { exit }
        found == 2 { print }' "$doc"
}
# The shell a recipe's job runs, as one script: GitHub's steps (but the install) one at a
# time by name; GitLab's script lines together.
job_script() { # job_script github|gitlab [STEP_NAME]
    python3 - "$1" "${2:-}" "$T/$1.yml" <<'PY'
import sys, yaml
kind, step, path = sys.argv[1:4]
doc = yaml.safe_load(open(path))
if kind == "github":
    steps = doc["jobs"]["policy"]["steps"]
    print(next(s["run"] for s in steps if s.get("name") == step))
else:
    print("\n".join(doc["policy"]["script"]))
PY
}

repo=$T/repo
mkdir -p "$repo/.github" "$repo/ci" "$repo/tests" "$T/bin"
ln -s "$cli" "$T/bin/mtlsauthz"
block github.yml >"$T/github.yml"
block gitlab-ci.yml >"$T/gitlab.yml"
block github.jq >"$repo/.github/mtlsauthz.jq"
block gitlab-codequality.jq >"$repo/ci/mtlsauthz-codequality.jq"
block gitlab-junit.jq >"$repo/ci/mtlsauthz-junit.jq"
for f in "$T/github.yml" "$T/gitlab.yml" "$repo/.github/mtlsauthz.jq" \
    "$repo/ci/mtlsauthz-codequality.jq" "$repo/ci/mtlsauthz-junit.jq"; do
    [ -s "$f" ] || { bad "docs/ci.md has the block for $(basename "$f")"; exit 1; }
done
if python3 -c 'import sys, yaml; [yaml.safe_load(open(f)) for f in sys.argv[1:]]' \
    "$T/github.yml" "$T/gitlab.yml" 2>"$T/err"; then
    ok "docs/ci.md: both recipes are YAML"
else
    bad "docs/ci.md: both recipes are YAML" "$(cat "$T/err")"
    exit 1
fi

# run NAME KIND [STEP]: runs a job script in the repository as the CI would (bash -e, with
# pipefail), leaving its output in $T/NAME.out and its exit status in $T/NAME.rc.
run() {
    local name=$1
    job_script "$2" "${3:-}" >"$T/$name.sh"
    (cd "$repo" && PATH=$T/bin:$PATH bash --noprofile --norc -eo pipefail "$T/$name.sh") \
        >"$T/$name.out" 2>&1
    echo $? >"$T/$name.rc"
}
rc() { cat "$T/$1.rc"; }
annotations() { grep -c '^::' "$T/$1.out"; }

# ---- a clean policy and passing tests ----

cp "$top/examples/policy.yaml" "$repo/policy.yaml"
cat >"$repo/tests/policy-tests.yaml" <<'EOF'
# Cases for policy.yaml.
# The builder, written out instead of read from a certificate.
- name: builder builds images
  identity: {spiffe: "spiffe://prod.example.com/ci/builder", eku: [clientAuth]}
  op: POST /images/build
  expect: allow
- name: "ops: read, at 100%"
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  op: GET /containers
  expect: allow
EOF
run gh-lint github "Lint the policy"
run gh-test github "Run the policy tests"
run gl gitlab
if [ "$(rc gh-lint)$(rc gh-test)$(rc gl)" = 000 ] && [ "$(annotations gh-lint)" = 0 ] &&
    [ "$(annotations gh-test)" = 0 ]; then
    ok "clean: both GitHub steps and the GitLab job pass, with no annotation"
else
    bad "clean: both GitHub steps and the GitLab job pass, with no annotation" \
        "exit $(rc gh-lint) $(rc gh-test) $(rc gl)" "$(cat "$T/gh-lint.out" "$T/gh-test.out" "$T/gl.out")"
fi
if python3 - "$repo" <<'PY'; then
import json, sys, xml.etree.ElementTree as ET
repo = sys.argv[1]
assert json.load(open(repo + "/gl-code-quality-report.json")) == []
suite = ET.parse(repo + "/junit.xml").getroot()
assert suite.get("tests") == "2" and suite.get("failures") == "0", suite.attrib
names = [c.get("name") for c in suite.iter("testcase")]
assert names == ["builder builds images", "ops: read, at 100%"], names
assert not list(suite.iter("failure"))
PY
    ok "clean: an empty Code Quality report and a JUnit suite of 2 passing cases"
else
    bad "clean: an empty Code Quality report and a JUnit suite of 2 passing cases"
fi

# ---- lint findings ----

cp "$top/examples/demo/sloppy-policy.yaml" "$repo/policy.yaml"
run gh-lint-findings github "Lint the policy"
run gl-findings gitlab
if [ "$(rc gh-lint-findings)" = 1 ] && [ "$(grep -c '^::warning file=policy.yaml,line=[0-9]*,col=[0-9]*,title=mtlsauthz lint%3A ' "$T/gh-lint-findings.out")" = 4 ]; then
    ok "findings: the lint step fails with 4 warnings at their lines and columns"
else
    bad "findings: the lint step fails with 4 warnings at their lines and columns" \
        "exit $(rc gh-lint-findings)" "$(cat "$T/gh-lint-findings.out")"
fi
want=$("$cli" lint --format json "$repo/policy.yaml" |
    jq -r '.findings[] | "\(.line):\(.column):\(.kind)"')
got=$(sed -n 's/^::warning file=policy.yaml,line=\([0-9]*\),col=\([0-9]*\),title=mtlsauthz lint%3A \([a-z-]*\)::.*/\1:\2:\3/p' \
    "$T/gh-lint-findings.out")
if [ -n "$want" ] && [ "$want" = "$got" ]; then
    ok "findings: each warning is at its finding's line, column and kind"
else
    bad "findings: each warning is at its finding's line, column and kind" "want $want" "got $got"
fi
if [ "$(rc gl-findings)" != 0 ] && python3 - "$repo" <<'PY'; then
import json, sys
report = json.load(open(sys.argv[1] + "/gl-code-quality-report.json"))
assert len(report) == 4, report
assert len({r["fingerprint"] for r in report}) == 4
for r in report:
    assert r["location"]["path"] == "policy.yaml" and r["location"]["lines"]["begin"] > 0, r
    assert r["check_name"].startswith("mtlsauthz-") and r["severity"] == "major", r
PY
    ok "findings: the GitLab job fails with a Code Quality report of 4, each at its line"
else
    bad "findings: the GitLab job fails with a Code Quality report of 4, each at its line" \
        "exit $(rc gl-findings)" "$(cat "$T/gl-findings.out")"
fi

# ---- failing cases ----

cp "$top/examples/policy.yaml" "$repo/policy.yaml"
cat >"$repo/tests/policy-tests.yaml" <<'EOF'
# Cases for policy.yaml.
- name: builder builds images
  identity: {spiffe: "spiffe://prod.example.com/ci/builder", eku: [clientAuth]}
  op: POST /images/build
  expect: allow
- name: ops may exec
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  op: POST /containers/abc/exec
  expect: allow
- name: 'ops: 100%, <all> & more'
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  op: DELETE /containers/abc
  expect: allow
- identity: {cn: [alice]}
  op: GET /containers
  expect: allow
EOF
run gh-test-fail github "Run the policy tests"
run gl-fail gitlab
out=$T/gh-test-fail.out
if [ "$(rc gh-test-fail)" = 1 ] && [ "$(grep -c '^::error ' "$out")" = 3 ]; then
    ok "failing cases: the test step fails with one error per failed case"
else
    bad "failing cases: the test step fails with one error per failed case" \
        "exit $(rc gh-test-fail)" "$(cat "$out")"
fi
if grep -q '^::error file=tests/policy-tests.yaml,line=6,title=policy test%3A ops may exec::expected allow, got deny (reason denied, rule no-container-escape)%0Aoperation: POST /containers/abc/exec%0A' "$out"; then
    ok "failing cases: the error is on the line of the case's name, with its explanation"
else
    bad "failing cases: the error is on the line of the case's name, with its explanation" "$(cat "$out")"
fi
if grep -qF '::error file=tests/policy-tests.yaml,line=10,title=policy test%3A ops%3A 100%25%2C <all> & more::' "$out"; then
    ok "failing cases: a quoted name is found, and ':', ',' and '%' are escaped in the title"
else
    bad "failing cases: a quoted name is found, and ':', ',' and '%' are escaped in the title" "$(cat "$out")"
fi
if grep -q '^::error file=tests/policy-tests.yaml,title=policy test%3A GET /containers::' "$out" &&
    ! grep -q '%0A$' "$out" && [ "$(grep -c '^::' "$out")" = "$(grep -c '' "$out")" ]; then
    ok "failing cases: an unnamed case is on the file; every line is one whole command"
else
    bad "failing cases: an unnamed case is on the file; every line is one whole command" "$(cat "$out")"
fi
if [ "$(rc gl-fail)" != 0 ] && python3 - "$repo" <<'PY'; then
import sys, xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1] + "/junit.xml").getroot()
assert suite.get("tests") == "4" and suite.get("failures") == "3", suite.attrib
cases = {c.get("name"): c for c in suite.iter("testcase")}
assert cases["builder builds images"].find("failure") is None
f = cases["ops: 100%, <all> & more"].find("failure")
assert f is not None and f.get("message").startswith("expected allow, got deny"), f
assert "decision: deny" in cases["ops may exec"].find("failure").text
PY
    ok "failing cases: the GitLab job fails with a JUnit report of 3 failures (names escaped)"
else
    bad "failing cases: the GitLab job fails with a JUnit report of 3 failures (names escaped)" \
        "exit $(rc gl-fail)" "$(cat "$T/gl-fail.out")"
fi

# ---- a policy that does not load ----

sed 's/^    effect: allow$/    efect: allow/' "$top/examples/policy.yaml" >"$repo/policy.yaml"
cmp -s "$repo/policy.yaml" "$top/examples/policy.yaml" && bad "the broken policy differs"
run gh-lint-broken github "Lint the policy"
run gh-test-broken github "Run the policy tests"
run gl-broken gitlab
for name in gh-lint-broken gh-test-broken; do
    if [ "$(rc $name)" = 2 ] &&
        grep -q "^::error file=policy.yaml,line=[1-9][0-9]*,col=[1-9][0-9]*,title=mtlsauthz::unknown key 'efect'" "$T/$name.out"; then
        ok "load error: the ${name#gh-} step exits 2 with an error at the key"
    else
        bad "load error: the ${name#gh-} step exits 2 with an error at the key" \
            "exit $(rc $name)" "$(cat "$T/$name.out")"
    fi
done
if [ "$(rc gl-broken)" != 0 ] && grep -q "policy.yaml:[0-9]*:[0-9]*: error: unknown key 'efect'" "$T/gl-broken.out" &&
    python3 - "$repo" <<'PY'; then
import json, sys, xml.etree.ElementTree as ET
assert json.load(open(sys.argv[1] + "/gl-code-quality-report.json")) == []
assert ET.parse(sys.argv[1] + "/junit.xml").getroot().get("tests") == "0"
PY
    ok "load error: the GitLab job fails, logs the error, and writes empty valid reports"
else
    bad "load error: the GitLab job fails, logs the error, and writes empty valid reports" \
        "exit $(rc gl-broken)" "$(cat "$T/gl-broken.out")"
fi

# ---- the page's sample output is what the recipe prints ----

while IFS= read -r line; do
    prefix=${line%...}
    if grep -qF -- "$prefix" "$T"/gh-*.out; then
        ok "docs/ci.md's sample line is printed: ${prefix:0:60}..."
    else
        bad "docs/ci.md's sample line is printed" "$line"
    fi
done < <(block github-output)

echo "cli_ci: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
