#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs a command whose sanitizer or valgrind reports go to files in REPORT_DIR (the caller
# points ASAN_OPTIONS/UBSAN_OPTIONS log_path, TSAN_OPTIONS log_path or valgrind --log-file
# there), and fails if the command fails or any report file is non-empty, printing them.
#
#   tests/stress/run-checked.sh REPORT_DIR COMMAND [ARG]...
#
# Why files: Criterion runs each test in a forked worker and judges it by the test's
# assertions, not by the worker's exit status, so a leak that LeakSanitizer or memcheck reports
# when a passing worker exits would otherwise go unnoticed.
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT_DIR COMMAND [ARG]..." >&2
    exit 2
fi
dir=$1
shift
rm -rf "$dir"
mkdir -p "$dir"
"$@"
rc=$?
found=0
for f in "$dir"/*; do
    [ -s "$f" ] || continue
    found=1
    echo "==== $f" >&2
    cat "$f" >&2
done
if [ "$found" -ne 0 ]; then
    echo "run-checked: reports above (from $*)" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "run-checked: exit status $rc (from $*)" >&2
fi
exit "$rc"
