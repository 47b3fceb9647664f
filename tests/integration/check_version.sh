#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# scripts/check-version fails when anything that states the version disagrees with
# include/mtlsauthz/version.h: each case below changes one file in a copy of the tree and
# expects the check to fail with a message naming that file and both values; the copy as it is
# passes. Run by `make check-version`.
set -eu
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok   $1"
}
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
}

files="Makefile include/mtlsauthz/version.h pkgconfig/mtlsauthz.pc.in lib/libmtlsauthz.map
bindings/ruby/lib/mtlsauthz/version.rb bindings/ruby/lib/mtlsauthz/lib.rb
bindings/ruby/mtlsauthz.gemspec bindings/go/capi.go bindings/go/policy.go"

# fresh: a copy of the files the check reads, in $tmp/root.
fresh() {
    rm -rf "$tmp/root"
    for f in $files; do
        mkdir -p "$tmp/root/$(dirname "$f")"
        cp "$f" "$tmp/root/$f"
    done
}

# expect_fail NAME SED_EXPR FILE MESSAGE...: after the edit, the check fails, and its output
# holds every MESSAGE.
expect_fail() {
    name=$1 expr=$2 file=$3
    shift 3
    fresh
    sed -i "$expr" "$tmp/root/$file"
    if cmp -s "$file" "$tmp/root/$file"; then
        bad "$name: the edit changed nothing (the test is stale)"
        return
    fi
    if scripts/check-version "$tmp/root" >"$tmp/out" 2>&1; then
        bad "$name: check-version passed"
        cat "$tmp/out"
        return
    fi
    for m in "$@"; do
        if ! grep -qF -- "$m" "$tmp/out"; then
            bad "$name: no '$m' in:"
            cat "$tmp/out"
            return
        fi
    done
    ok "$name"
}

fresh
if scripts/check-version "$tmp/root" >"$tmp/out" 2>&1; then
    ok "an unchanged copy passes"
else
    bad "an unchanged copy fails:"
    cat "$tmp/out"
fi

expect_fail "the gem's version" 's/VERSION = "[^"]*"/VERSION = "0.1.1"/' \
    bindings/ruby/lib/mtlsauthz/version.rb \
    "bindings/ruby/lib/mtlsauthz/version.rb says '0.1.1'" "gives '0.1.0'"
expect_fail "the gemspec's own version" 's/s.version = MtlsAuthz::VERSION/s.version = "0.1.0"/' \
    bindings/ruby/mtlsauthz.gemspec "bindings/ruby/mtlsauthz.gemspec says '\"0.1.0\"'" \
    "s.version = MtlsAuthz::VERSION"
expect_fail "the soname the gem loads" 's/ABI_VERSION = 0/ABI_VERSION = 1/' \
    bindings/ruby/lib/mtlsauthz/lib.rb "lib.rb's ABI_VERSION says '1'" "gives '0'"
expect_fail "a Makefile with its own VERSION" 's/^VERSION := .*/VERSION := 0.2.0/' Makefile \
    "the Makefile's VERSION says '0.2.0'" "gives '0.1.0'"
expect_fail "a Makefile with its own ABI_VERSION" \
    's/^ABI_VERSION := .*/ABI_VERSION := 1/' Makefile \
    "the Makefile's ABI_VERSION says '1'" "gives '0'"
expect_fail "a pkg-config template with its own version" 's/^Version: .*/Version: 0.1.0/' \
    pkgconfig/mtlsauthz.pc.in "pkgconfig/mtlsauthz.pc.in says '0.1.0'" "@VERSION@"
expect_fail "the export map's node" 's/^MTLSAUTHZ_0 {/MTLSAUTHZ_1 {/' lib/libmtlsauthz.map \
    "version node says 'MTLSAUTHZ_1'" "gives 'MTLSAUTHZ_0'"
# A new minor version in version.h: the Makefile and pkg-config follow it, the gem must too.
expect_fail "a new version in version.h, the gem left behind" \
    's/^#define MTLSAUTHZ_VERSION_MINOR 1$/#define MTLSAUTHZ_VERSION_MINOR 2/' \
    include/mtlsauthz/version.h "version.rb says '0.1.0'" "gives '0.2.0'" "1 of"
expect_fail "a Go version constant" '$a const libraryVersion = "0.0.9"' bindings/go/policy.go \
    "bindings/go/policy.go says '0.0.9'" "gives '0.1.0'"

# A release tag on HEAD.
fresh
git -C "$tmp/root" init -q
git -C "$tmp/root" -c user.name=t -c user.email=t@t add -A
git -C "$tmp/root" -c user.name=t -c user.email=t@t commit -q -m t
git -C "$tmp/root" tag v0.1.0
git -C "$tmp/root" tag bindings/go/v0.1.0
if scripts/check-version "$tmp/root" >"$tmp/out" 2>&1; then
    ok "matching release tags pass"
else
    bad "matching release tags fail:"
    cat "$tmp/out"
fi
git -C "$tmp/root" tag bindings/go/v0.1.1
if ! scripts/check-version "$tmp/root" >"$tmp/out" 2>&1 &&
    grep -qF "the git tag bindings/go/v0.1.1 says '0.1.1'" "$tmp/out"; then
    ok "a release tag for another version"
else
    bad "a release tag for another version:"
    cat "$tmp/out"
fi

# What was built: a pkg-config file from another version.
fresh
mkdir -p "$tmp/build/lib" "$tmp/build/pkgconfig" "$tmp/build/bin"
printf 'Version: 0.0.9\n' >"$tmp/build/pkgconfig/mtlsauthz.pc"
if ! scripts/check-version --build "$tmp/build" "$tmp/root" >"$tmp/out" 2>&1 &&
    grep -qF "mtlsauthz.pc says '0.0.9'" "$tmp/out" &&
    grep -qF "libmtlsauthz.so.0.1.0 says 'nothing'" "$tmp/out"; then
    ok "a stale build"
else
    bad "a stale build:"
    cat "$tmp/out"
fi

echo "check-version: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
