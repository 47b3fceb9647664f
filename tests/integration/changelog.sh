#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/check-changelog: a changelog in the Keep a Changelog form passes, and each way out
# of the form fails with a message that names it. `make check-changelog` runs this before
# checking CHANGELOG.md.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/scripts/check-changelog
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; }

cat >"$T/good.md" <<'MD'
# Changelog

Notes about the form.

## [Unreleased]

### Added

- A feature, described over
  two lines.

### Security

- A fix.

## [0.2.0] - 2026-05-04

### Changed

- Something.

## [0.1.0] - 2026-01-02

### Added

- The first release.

[Unreleased]: https://example.com/compare/v0.2.0...HEAD
[0.2.0]: https://example.com/compare/v0.1.0...v0.2.0
[0.1.0]: https://example.com/releases/tag/v0.1.0
MD

if out=$("$check" "$T/good.md" 2>&1); then ok "a changelog in the form passes"; else bad "a changelog in the form passes" "$out"; fi
if out=$("$check" --release 0.2.0 "$T/good.md" 2>&1); then ok "--release 0.2.0 finds its section"; else bad "--release 0.2.0 finds its section" "$out"; fi

# mutate NAME EXPECTED_MESSAGE SED_SCRIPT: the mutated changelog fails, saying EXPECTED_MESSAGE.
mutate() {
    local name=$1 want=$2
    sed -e "$3" "$T/good.md" >"$T/bad.md"
    if cmp -s "$T/good.md" "$T/bad.md"; then
        bad "$name: the mutation changed nothing"
    elif out=$("$check" "$T/bad.md" 2>&1); then
        bad "$name: passes" "$out"
    elif [[ $out == *"$want"* ]]; then
        ok "$name: $want"
    else
        bad "$name: want '$want'" "$out"
    fi
}
mutate "title" "the first line must be '# Changelog'" '1s/.*/# Changes/'
mutate "old heading" "a version heading is" 's/^## \[Unreleased\]$/## Unreleased (0.3.0)/'
mutate "no Unreleased" "the first version heading must be '## [Unreleased]'" \
    '/^## \[Unreleased\]$/,/^- A fix\.$/d; /^\[Unreleased\]/d'
mutate "released without a date" "needs its release date" 's/^## \[0.2.0\] - .*/## [0.2.0]/'
mutate "Unreleased with a date" "takes no date" 's/^## \[Unreleased\]$/## [Unreleased] - 2026-06-01/'
mutate "unknown type" "unknown change type 'New'" 's/^### Added$/### New/'
mutate "type twice" "appears twice" 's/^### Security$/### Added/'
mutate "type order" "must come before" '0,/^### Added$/s//### Fixed/; s/^### Security$/### Added/'
mutate "empty type" "has no entry" 's/^- A fix\.$//'
mutate "entry outside a type" "must be under a '### Type' heading" '/^### Changed$/d'
mutate "entry in the introduction" "an entry before '## [Unreleased]'" \
    's/^Notes about the form\.$/- A change that lost its section./'
mutate "stray text" "that is not an entry" 's/^- Something\.$/Something./'
mutate "stray continuation" "continues no entry" 's/^- Something\.$/  Something./'
mutate "order of versions" "newest first" \
    's/^## \[0.2.0\] - 2026-05-04$/## [0.0.9] - 2026-05-04/; s/^\[0.2.0\]:/[0.0.9]:/'
mutate "missing link" "has no link reference" '/^\[0.1.0\]:/d'
mutate "link without heading" "names no version heading" '$a [0.0.1]: https://example.com/x'
mutate "links out of order" "not in the order" '/^\[0.2.0\]:/{h;d}; /^\[0.1.0\]:/G'
mutate "duplicate version" "appears twice" 's/^## \[0.1.0\] - 2026-01-02$/## [0.2.0] - 2026-01-02/'
if out=$("$check" --release 0.3.0 "$T/good.md" 2>&1); then
    bad "--release 0.3.0 without its section fails" "$out"
elif [[ $out == *"no '## [0.3.0] - YYYY-MM-DD' section"* ]]; then
    ok "--release 0.3.0 without its section fails"
else
    bad "--release 0.3.0 without its section fails" "$out"
fi

echo "changelog: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
