# SPDX-License-Identifier: Apache-2.0
# Helpers that t/run.sh and t/xfcc.sh share: sourced, not run. They read $T (the test's temp
# dir), and expect/hdr read what the scripts' own call() left in $STATUS, $BODY and
# $T/headers.

pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok - $1"
}
not_ok() {
    fail=$((fail + 1))
    echo "FAIL - $1"
    shift
    for line in "$@"; do echo "    $line"; done
}

# stop_nginx PIDFILE: TERM, then KILL after five seconds
stop_nginx() {
    local pidfile=$1 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
}

hdr() {
    grep -i "^$1:" "$T/headers" | head -n 1 | sed -e 's/^[^:]*: *//' -e 's/\r$//'
}

# expect DESC STATUS [Header=value | Header= (absent) | body=TEXT]...
expect() {
    local desc=$1 want=$2 kv name value got problems=()
    shift 2
    [ "$STATUS" = "$want" ] || problems+=("status $STATUS, want $want")
    for kv in "$@"; do
        name=${kv%%=*}
        value=${kv#*=}
        if [ "$name" = body ]; then
            got=$BODY
        else
            got=$(hdr "$name")
        fi
        [ "$got" = "$value" ] || problems+=("$name: '$got', want '$value'")
    done
    if [ ${#problems[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${problems[@]}"; fi
}
