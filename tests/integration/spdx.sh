#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/add-spdx and scripts/check-spdx, on a scratch git repository with one file of each
# kind: where the identifier goes, that the file still means what it meant (a Go build
# constraint and package comment, a Ruby magic comment, a Python coding line), that a second
# run changes nothing, and that check-spdx fails before and passes after. `make check-spdx`
# runs this before checking the tree.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }
ident='SPDX-License-Identifier: Apache-2.0'

cd "$T" && git init -q . || exit 1
mkdir -p go lib scripts
printf '/*\n * A header.\n */\n#ifndef X_H\n#define X_H\nint x(void);\n#endif\n' >lib/x.h
printf '#include "x.h"\nint x(void) { return 1; }\n' >lib/x.c
printf '//go:build !windows\n\n// Package p is documented.\npackage p\n\nfunc F() int { return 1 }\n' >go/a.go
printf '//go:build windows\n\npackage p\n\nfunc F() int { return 2 }\n' >go/b.go
printf 'module example.com/p\n\ngo 1.21\n' >go/go.mod
printf '# frozen_string_literal: true\n\ns = "a"\ns << "b"\n' >frozen.rb
printf '#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\nprint("\xe9")\n' >latin.py
printf '#!/bin/sh\necho hi\n' >run.sh
printf '#!/usr/bin/env bash\n# A script without an extension.\necho hi\n' >scripts/tool
printf '#!/usr/bin/env node\nconsole.log(1)\n' >scripts/node-tool
printf '#!/bin/sh\n# SPDX-License-Identifier: MIT\necho vendored\n' >tagged.sh
printf 'notes\n' >README.txt
git add -A

if "$top/scripts/check-spdx" "$T" >"$T/out" 2>&1; then
    bad "check-spdx fails on files without the identifier" "$(cat "$T/out")"
elif grep -q '^lib/x.c: ' "$T/out" && grep -q '^scripts/tool: ' "$T/out" &&
    ! grep -qE '^(tagged.sh|README.txt|scripts/node-tool): ' "$T/out"; then
    ok "check-spdx fails, listing exactly the untagged source files"
else
    bad "check-spdx fails, listing exactly the untagged source files" "$(cat "$T/out")"
fi

"$top/scripts/add-spdx" "$T" >/dev/null
cp -a "$T" "$T.first"
first_line() { sed -n "${2}p" "$1"; }
[ "$(first_line lib/x.h 1)" = "/* $ident */" ] && [ "$(first_line lib/x.h 2)" = "/*" ] &&
    ok "C header: the identifier is the first line" || bad "C header" "$(head -3 lib/x.h)"
[ "$(first_line lib/x.c 1)" = "/* $ident */" ] && ok "C source: the first line" || bad "C source"
[ "$(first_line go/a.go 1)" = "// $ident" ] && [ -z "$(first_line go/a.go 2)" ] &&
    ok "Go: the first line, then a blank line" || bad "Go" "$(head -3 go/a.go)"
[ "$(first_line frozen.rb 1)" = "# $ident" ] && [ "$(first_line frozen.rb 2)" = "# frozen_string_literal: true" ] &&
    ok "Ruby: the first line, in the magic comment's block" || bad "Ruby" "$(head -3 frozen.rb)"
[ "$(first_line latin.py 3)" = "# $ident" ] && [ "$(first_line latin.py 2)" = "# -*- coding: latin-1 -*-" ] &&
    ok "Python: after the #! and coding lines" || bad "Python" "$(head -3 latin.py)"
[ "$(first_line run.sh 2)" = "# $ident" ] && [ "$(first_line scripts/tool 2)" = "# $ident" ] &&
    ok "shell, with and without .sh: after the #! line" || bad "shell" "$(head -3 scripts/tool)"
if [ "$(cat tagged.sh)" = "$(printf '#!/bin/sh\n# SPDX-License-Identifier: MIT\necho vendored')" ] &&
    [ "$(cat README.txt)" = notes ] && ! grep -q SPDX scripts/node-tool; then
    ok "a file with an identifier, a text file and a node script are left alone"
else
    bad "a file with an identifier, a text file and a node script are left alone"
fi

if command -v ruby >/dev/null; then
    if out=$(ruby frozen.rb 2>&1); then
        bad "Ruby: the magic comment is still in effect" "the frozen string was modified"
    elif [[ $out == *FrozenError* ]]; then
        ok "Ruby: the magic comment is still in effect"
    else
        bad "Ruby: the magic comment is still in effect" "$out"
    fi
fi
if [ "$(python3 latin.py | od -An -tx1 | tr -d ' ')" = "c3a90a" ]; then
    ok "Python: the coding line is still in effect"
else
    bad "Python: the coding line is still in effect"
fi
if command -v go >/dev/null; then
    # Both files define F: the package builds only if each build constraint still applies.
    if (cd go && GOFLAGS=-mod=mod go vet . >/dev/null 2>&1) &&
        (cd go && go doc . 2>/dev/null | grep 'Package p is documented' >/dev/null); then
        ok "Go: the build constraints and the package comment still apply"
    else
        bad "Go: the build constraints and the package comment still apply" \
            "$(cd go && go vet . 2>&1 | head -3)"
    fi
fi

"$top/scripts/add-spdx" "$T" >/dev/null
if diff -r -x .git "$T.first" "$T" >/dev/null; then
    ok "a second run changes nothing"
else
    bad "a second run changes nothing" "$(diff -r -x .git "$T.first" "$T" | head -5)"
fi
rm -rf "$T.first"
if out=$("$top/scripts/check-spdx" "$T" 2>&1); then
    ok "check-spdx passes once every file has it"
else
    bad "check-spdx passes once every file has it" "$out"
fi

echo "spdx: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
