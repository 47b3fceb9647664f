#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs libFuzzer targets for a fixed time each (`make fuzz`, and CI through .ci/run).
#
#   tests/fuzz/run.sh FUZZ_DIR SECONDS TIMEOUT NAME...
#
# Each $FUZZ_DIR/bin/fuzz_NAME runs for SECONDS on its seeds (tests/fuzz/corpus/NAME) and the
# inputs earlier runs kept ($FUZZ_DIR/corpus/NAME, where new ones go). Every target runs even
# when an earlier one fails, so one run reports every failure. A crash, leak, timeout
# (TIMEOUT seconds for one input) or failed check fails the run, and for each input that did
# it this prints the path, the command that replays it, and, when it is small, its bytes in
# base64, so that a failure on a CI machine that is gone can still be reproduced from the log.
set -u
if [ $# -lt 4 ]; then
    echo "usage: $0 FUZZ_DIR SECONDS TIMEOUT NAME..." >&2
    exit 2
fi
dir=$1
secs=$2
timeout=$3
shift 3
# Readable stack traces where the symbolizer is installed (scripts/install-deps fuzz does).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null 2>&1; then
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
    export ASAN_SYMBOLIZER_PATH
fi
failed=""
for n in "$@"; do
    bin=$dir/bin/fuzz_$n
    art=$dir/artifacts/$n
    mkdir -p "$dir/corpus/$n" "$art"
    before=$(ls -A "$art")
    echo "fuzz: fuzz_$n for ${secs}s"
    "$bin" -max_total_time="$secs" -timeout="$timeout" -print_final_stats=1 \
        -artifact_prefix="$art/" "$dir/corpus/$n" "tests/fuzz/corpus/$n"
    rc=$?
    [ $rc -eq 0 ] && continue
    failed="$failed $n"
    echo "fuzz: FAIL: fuzz_$n exited $rc" >&2
    found=0
    for f in $(ls -A "$art"); do
        case "
$before
" in
        *"
$f
"*) continue ;;
        esac
        found=1
        size=$(wc -c <"$art/$f")
        echo "fuzz: FAIL: fuzz_$n: input $art/$f ($size bytes)" >&2
        echo "fuzz:   replay: $bin $art/$f" >&2
        if [ "$size" -le 4096 ]; then
            echo "fuzz:   base64: $(base64 -w 0 "$art/$f")" >&2
        fi
    done
    if [ $found -eq 0 ]; then
        echo "fuzz: FAIL: fuzz_$n wrote no input to $art/ (see its output above)" >&2
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
    exit 1
fi
echo "fuzz: $# targets, ${secs}s each: no failures"
