# SPDX-License-Identifier: Apache-2.0
# Helpers for the scripts that run a README's instructions the way a user follows them
# (gem.sh, go_module.sh, nginx_install.sh). Source this file; don't run it. Each README block
# such a script runs comes right after an HTML comment on a line of its own, with the script's
# name in it: `<!-- SCRIPT.sh: NAME -->`.
#
#   top=$(cd "$(dirname "$0")/../.." && pwd)
#   # shellcheck source=readme_lib.sh
#   . "$top/tests/integration/readme_lib.sh"
#   summary="gem ($mode)"                         what finish prints before the counts
#   block() { readme_block "$readme" gem.sh "$1"; }
#   readme_require_blocks "$readme" gem.sh apt bundle puma
#   ok "what passed"; bad "what failed" "detail" ...; finish
#
# ok DESC                   count a pass and print "ok   DESC"
# bad DESC [DETAIL...]      count a failure and print "FAIL DESC", then each DETAIL indented
# finish                    print "$summary: N passed, M failed", then exit: 0 only if nothing
#                           failed
# readme_block FILE MARK NAME
#                           print the fenced block after the line `<!-- MARK: NAME -->` in FILE,
#                           as written. Return 1 if FILE has no such line followed by a fence
# readme_require_blocks FILE MARK NAME...
#                           call `bad` for each NAME whose block is missing or empty, then
#                           `finish` if any was
# readme_request LOG WANT_STATUS WANT_BODY METHOD PATH [CERT]
#                           one curl request over mutual TLS to https://127.0.0.1:$port, with
#                           the client certificate $certs/CERT-chain.pem (none without CERT);
#                           `ok` when the status and the body are the wanted ones, else `bad`
#                           with the last lines of LOG. Uses the caller's $name (the label),
#                           $dir (for the body), $certs and $port

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }
finish() {
    echo "${summary:?set summary before finish (tests/integration/readme_lib.sh)}: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

readme_block() {
    awk -v m="<!-- $2: $3 -->" '
        $0 == m { found = 1; next }
        found == 1 && /^```/ { found = 2; next }
        found == 2 && /^```/ { exit }
        found == 2 { print }
        END { exit (found != 2) }' "$1"
}

readme_require_blocks() {
    local file=$1 mark=$2 name missing=0
    shift 2
    for name in "$@"; do
        [ -n "$(readme_block "$file" "$mark" "$name")" ] || {
            bad "the README has the block <!-- $mark: $name -->"
            missing=1
        }
    done
    [ "$missing" -eq 0 ] || finish
}

readme_request() {
    local log=$1 args got body
    shift
    rm -f "$dir/body"
    args=(-s --max-time 20 -o "$dir/body" -w '%{http_code}' --cacert "$certs/ca.pem" -X "$3")
    [ -n "${5:-}" ] && args+=(--cert "$certs/$5-chain.pem" --key "$certs/$5.key")
    got=$(curl "${args[@]}" "https://127.0.0.1:$port$4")
    body=$(cat "$dir/body" 2>/dev/null)
    if [ "$got" = "$1" ] && [ "$body" = "$2" ]; then
        ok "$name: $3 $4 as ${5:-no certificate}: $1${2:+ $2}"
    else
        bad "$name: $3 $4 as ${5:-no certificate}: want $1 $2" "got $got $body" \
            "$(tail -n 5 "$log")"
    fi
}
