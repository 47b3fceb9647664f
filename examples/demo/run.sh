#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: the container-escape story, decided by libmtlsauthz on example certificates.
# Exits non-zero if any decision differs from what the story says.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
b="${B:-build}"
case "$b" in /*) ;; *) b="$top/$b" ;; esac
cli="$b/bin/mtlsauthz"
certs="$b/demo-certs"
policy="$top/examples/policy.yaml"
if [ ! -f "$certs/.stamp" ]; then
    rm -rf "$certs"
    "$top/tests/certs/gen-certs.sh" "$certs" >/dev/null
    touch "$certs/.stamp"
fi

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
[ -t 1 ] || bold() { printf '%s\n' "$*"; }

bold "libmtlsauthz demo: mutual TLS says who; the policy says what."
cat <<TXT

A build service drives the Docker socket behind an mTLS API. Every certificate below is
signed by the same company CA, so all of them pass TLS verification. Policy: $policy

The builder's identity, as the library reads it from its certificate:
TXT
"$cli" identity "$certs/builder.pem" | sed 's/^/    /'
echo

failures=0
printf '%-14s %-34s %-6s %s\n' "CLIENT" "REQUEST" "RESULT" "WHY"
# cert | method | raw request target | expected decision
while IFS='|' read -r cert method target want; do
    [ -n "$cert" ] || continue
    if ! op=$("$cli" http-op "$method" "$target" 2>&1); then
        result="400"
        why="refused before authorization: ${op#mtlsauthz: }"
    else
        set +e
        json=$("$cli" check --policy "$policy" --cert "$certs/$cert.pem" --op "$op" --format json)
        rc=$?
        set -e
        # The JSON is one line: {"decision": ..., "rule": ..., "reason": ..., "dry_run": [...]}
        field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^\",]*\).*/\1/p" <<<"$json"; }
        result=$(field decision)
        rule=$(field rule)
        why=$(field reason)
        [ "$rule" = null ] || why="$why by $rule"
        dry=$(sed -n 's/.*"dry_run": \[\(.*\)\]}$/\1/p' <<<"$json" | tr -d '"')
        [ -z "$dry" ] || why="$why  (dry-run would deny: $dry)"
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
            result="error"
        fi
    fi
    mark=""
    if [ "$result" != "$want" ]; then
        mark="   <-- expected $want"
        failures=$((failures + 1))
    fi
    printf '%-14s %-34s %-6s %s%s\n' "$cert" "$method $target" "$result" "$why" "$mark"
done <<'CASES'
builder|POST|/images/build|allow
builder|POST|/images/api%2Fv2/push|400
builder|POST|/containers/abc/exec|deny
builder|POST|/containers/abc/%65xec|deny
builder|POST|/containers/abc/exec/|deny
builder|POST|/containers/abc/./exec|400
builder-noeku|POST|/images/build|deny
ops|GET|/containers|allow
ops|GET|/containers/abc/logs|allow
sre|POST|/host/mount|deny
ops|POST|/containers/abc/exec|deny
plain|GET|/healthz|allow
plain|POST|/images/build|deny
nul-cn|GET|/healthz|deny
spiffe-two-uri|GET|/healthz|deny
CASES

echo
bold "Policy unit tests (mtlsauthz test):"
if ! "$cli" test --certs "$certs" "$policy" "$top/examples/policy-tests.yaml"; then
    failures=$((failures + 1))
fi

echo
bold "Lint of the example policy (mtlsauthz lint):"
if ! "$cli" lint "$policy"; then
    failures=$((failures + 1))
fi
echo
bold "Lint of a sloppy policy (examples/demo/sloppy-policy.yaml), which should have findings:"
set +e
"$cli" lint "$top/examples/demo/sloppy-policy.yaml"
rc=$?
set -e
if [ "$rc" -ne 1 ]; then
    echo "expected lint findings (exit 1), got exit $rc"
    failures=$((failures + 1))
fi

echo
if [ "$failures" -ne 0 ]; then
    echo "demo: $failures unexpected result(s)"
    exit 1
fi
echo "demo: every decision is as the policy intends."
