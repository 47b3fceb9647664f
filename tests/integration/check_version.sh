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
bindings/ruby/mtlsauthz.gemspec bindings/go/capi.go bindings/go/policy.go debian/changelog"

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
# A new minor version in version.h: the Makefile and pkg-config follow it, the gem and the
# Debian changelog must too.
expect_fail "a new version in version.h, the gem and debian/changelog left behind" \
    's/^#define MTLSAUTHZ_VERSION_MINOR 1$/#define MTLSAUTHZ_VERSION_MINOR 2/' \
    include/mtlsauthz/version.h "version.rb says '0.1.0'" "gives '0.2.0'" \
    "debian/changelog's newest entry (0.1.0-1) says '0.1.0'" "2 of"
expect_fail "a Go version constant" '$a const libraryVersion = "0.0.9"' bindings/go/policy.go \
    "bindings/go/policy.go says '0.0.9'" "gives '0.1.0'"

# debian/changelog's newest entry: its version without the Debian revision.
expect_fail "debian/changelog's newest entry" '1s/(0\.1\.0-1)/(0.1.1-1)/' debian/changelog \
    "debian/changelog's newest entry (0.1.1-1) says '0.1.1'" "gives '0.1.0'" \
    "debian/version-from-header --update"
expect_fail "debian/changelog's newest entry, a pre-release" '1s/(0\.1\.0-1)/(0.1.0~rc1-1)/' \
    debian/changelog "debian/changelog's newest entry (0.1.0~rc1-1) says '0.1.0~rc1'"
expect_fail "debian/changelog's newest entry, an epoch" '1s/(0\.1\.0-1)/(1:0.1.0-1)/' \
    debian/changelog "debian/changelog's newest entry (1:0.1.0-1) says '1:0.1.0'"
# expect_pass NAME SED_EXPR FILE: after the edit, the check still passes.
expect_pass() {
    fresh
    sed -i "$2" "$tmp/root/$3"
    if cmp -s "$3" "$tmp/root/$3"; then
        bad "$1: the edit changed nothing (the test is stale)"
    elif scripts/check-version "$tmp/root" >"$tmp/out" 2>&1; then
        ok "$1"
    else
        bad "$1: check-version failed"
        cat "$tmp/out"
    fi
}
expect_pass "another Debian revision passes" '1s/(0\.1\.0-1)/(0.1.0-3)/' debian/changelog
expect_pass "no Debian revision passes" '1s/(0\.1\.0-1)/(0.1.0)/' debian/changelog
# An older entry for another version is history, not the version.
expect_pass "an older entry is not read" '$a\
\
libmtlsauthz (0.0.9-1) unstable; urgency=medium\
\
  * Older.\
\
 -- libmtlsauthz maintainers <dev@libmtlsauthz.invalid>  Thu, 03 Dec 2026 19:00:00 +0000' \
    debian/changelog
# Without dpkg-parsechangelog the first line is read: a PATH with every other command.
mkdir -p "$tmp/nodpkg"
for d in /usr/local/bin /usr/bin /bin /usr/sbin /sbin; do
    for c in "$d"/*; do
        [ -e "$tmp/nodpkg/${c##*/}" ] || ln -s "$c" "$tmp/nodpkg/${c##*/}"
    done
done
rm -f "$tmp/nodpkg/dpkg-parsechangelog"
fresh
if PATH=$tmp/nodpkg scripts/check-version "$tmp/root" >"$tmp/out" 2>&1; then
    ok "without dpkg-parsechangelog: an unchanged copy passes"
else
    bad "without dpkg-parsechangelog: an unchanged copy fails:"
    cat "$tmp/out"
fi
sed -i '1s/(0\.1\.0-1)/(0.1.1-1)/' "$tmp/root/debian/changelog"
if ! PATH=$tmp/nodpkg scripts/check-version "$tmp/root" >"$tmp/out" 2>&1 &&
    grep -qF "debian/changelog's newest entry (0.1.1-1) says '0.1.1'" "$tmp/out"; then
    ok "without dpkg-parsechangelog: debian/changelog's newest entry"
else
    bad "without dpkg-parsechangelog: debian/changelog's newest entry:"
    cat "$tmp/out"
fi

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
