#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bindings/ruby/README.md, "Install", run as written: its blocks are read from the README
# (the fenced block after each `<!-- gem.sh: NAME -->`), with only the placeholders filled in
# (X.Y.Z and X.Y from include/mtlsauthz/version.h, the checkout's path, a free port).
#
#   tests/integration/gem.sh                      the tree's build (make check-ruby)
#   tests/integration/gem.sh --installed GEMFILE  the installed Debian packages
#                                                 (tests/deb/smoke-gem.sh)
#
# The tree's build: `make gem` builds build/mtlsauthz-X.Y.Z.gem with no warning, holding
# exactly lib/**/*.rb, README.md and LICENSE under Apache-2.0; `gem install` puts it into a
# clean GEM_HOME with Debian's ffi and no network. Needs MTLSAUTHZ_LIB (the tree's library)
# and MTLSAUTHZ_TEST_CERTS (make check-ruby sets both).
# The installed packages: GEMFILE (the gem `make gem` built) is installed the same way, and
# nothing points at the tree's library: no MTLSAUTHZ_LIB, PKG_CONFIG_PATH or LD_LIBRARY_PATH.
#
# Then, each in a directory outside the tree with its own GEM_HOME, the README's Gemfile for
# the built gem and for a checkout (path:), and the built gem's again with no pkg-config (as
# with libmtlsauthz0 alone, the soname on the search path), its config.ru with
# examples/policy.yaml, `bundle install --local`, and Puma serving mutual TLS: the builder
# may build images (200 from the app) and may not exec into a container (403 with the body of
# docs/http.md); a client without a certificate fails the handshake. The library the gem
# loaded is the expected one (read from /proc/self/maps).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
readme=$top/bindings/ruby/README.md
mode=tree
gemfile=
if [ "${1:-}" = --installed ]; then
    mode=installed
    gemfile=${2:?usage: tests/integration/gem.sh --installed GEMFILE}
fi
for tool in ruby gem bundle puma curl python3; do
    command -v "$tool" >/dev/null || {
        echo "gem.sh: $tool is missing (scripts/install-deps ruby installs it)" >&2
        exit 1
    }
done
# The README's commands run as a user runs them: not inside this make, and with no Ruby or
# gem settings of the caller's.
unset MAKEFLAGS MFLAGS MAKELEVEL GEM_HOME GEM_PATH BUNDLE_GEMFILE BUNDLE_PATH RUBYOPT RUBYLIB
export BUNDLE_SILENCE_ROOT_WARNING=1
if [ $mode = installed ]; then
    unset MTLSAUTHZ_LIB PKG_CONFIG_PATH LD_LIBRARY_PATH
    ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
    # Found through libmtlsauthz-dev's pkg-config file (the gem names it so).
    want_lib=/usr/lib/$ma/libmtlsauthz.so.0
else
    want_lib=${MTLSAUTHZ_LIB:?set MTLSAUTHZ_LIB to the library of this build}
    export MTLSAUTHZ_LIB
fi
want_file=$(readlink -f "$want_lib")
read -r version _ < <(make -s --no-print-directory -C "$top" print-version)
xy=${version%.*}

T=$(mktemp -d /tmp/mtlsauthz-gem.XXXXXX)
puma_pid=
stop_puma() {
    [ -n "$puma_pid" ] || return 0
    kill -TERM -- "-$puma_pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$puma_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$puma_pid" 2>/dev/null
    wait "$puma_pid" 2>/dev/null
    puma_pid=
}
cleanup() {
    stop_puma
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ok, bad, finish, readme_block, readme_require_blocks
# shellcheck source=readme_lib.sh
. "$top/tests/integration/readme_lib.sh"
summary="gem ($mode)"

# The fenced block after `<!-- gem.sh: NAME -->` in the README, placeholders filled in.
block() {
    readme_block "$readme" gem.sh "$1" |
        sed -e "s|X\.Y\.Z|$version|g" -e "s|X\.Y|$xy|g" -e "s|/path/to/libmtlsauthz|$top|g"
}
readme_require_blocks "$readme" gem.sh apt gemfile-path build-gem gemfile-gem config.ru bundle puma

bundler_pkg=$(dpkg-query -W -f='${db:Status-Status}' bundler 2>/dev/null)
if block apt | grep -E '^(sudo )?apt-get install bundler$' >/dev/null &&
    [ "$bundler_pkg" = installed ]; then
    ok "README: apt-get install bundler (Debian's bundler is installed)"
else
    bad "README: apt-get install bundler (Debian's bundler is installed)" \
        "$(block apt)" "bundler: ${bundler_pkg:-not installed}"
fi

cd "$T" || exit 1
if [ -n "${MTLSAUTHZ_TEST_CERTS:-}" ]; then
    certs=$MTLSAUTHZ_TEST_CERTS
else
    certs=$T/certs
    "$top/tests/certs/gen-certs.sh" "$certs" >/dev/null 2>&1 || {
        bad "tests/certs/gen-certs.sh"
        finish
    }
fi

# ---- the built gem, installed into a clean GEM_HOME ----

gems=$T/gems
if [ $mode = tree ]; then
    # The README's `make gem` and `gem install`, from the top of the checkout.
    src=$top
    build_script=$(block build-gem)
else
    # The gem check-deb had built, where the README's `gem install` line looks for it.
    src=$T/src
    mkdir -p "$src/build"
    cp "$gemfile" "$src/build/mtlsauthz-$version.gem" || {
        bad "the built gem $gemfile"
        finish
    }
    build_script=$(block build-gem | grep -v '^make gem$')
fi
out=$(cd "$src" && GEM_HOME=$gems bash --noprofile --norc -e -c "$build_script" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [[ $out == *"Successfully installed mtlsauthz-$version"* ]]; then
    ok "README: gem install --local build/mtlsauthz-$version.gem into a clean GEM_HOME"
else
    bad "README: gem install --local build/mtlsauthz-$version.gem into a clean GEM_HOME" \
        "exit $rc:" "$out"
    finish
fi
if [ $mode = tree ]; then
    if [[ $out == *"Successfully built RubyGem"* ]] && ! grep -i warn <<<"$out" >/dev/null; then
        ok "make gem: gem build printed no warning"
    else
        bad "make gem: gem build printed no warning" "$out"
    fi
fi
# ffi came from Debian (ruby-ffi), not from a download.
if [ -z "$(ls "$gems"/specifications)" ] || ls "$gems"/gems/ffi-* >/dev/null 2>&1; then
    bad "gem install took ffi from Debian's ruby-ffi" "$(ls "$gems/gems")"
else
    ok "gem install took ffi from Debian's ruby-ffi: $(cd "$gems/specifications" && echo *)"
fi

# What the gem holds and says.
spec=$(ruby -e '
    require "rubygems/package"
    s = Gem::Package.new(ARGV[0]).spec
    puts s.licenses.inspect, s.homepage.to_s, s.files.sort.inspect
    puts s.runtime_dependencies.map { |d| "#{d.name} #{d.requirement}" }.inspect
    puts s.metadata.keys.sort.inspect, s.metadata["rubygems_mfa_required"].to_s
' "$src/build/mtlsauthz-$version.gem" 2>&1)
want_files=$(cd "$top/bindings/ruby" && { find lib -name '*.rb'; echo README.md; echo LICENSE; } |
    LC_ALL=C sort | ruby -e 'p STDIN.read.split("\n").sort')
want_keys='["bug_tracker_uri", "changelog_uri", "homepage_uri", "rubygems_mfa_required",'
want_keys="$want_keys \"source_code_uri\"]"
want_spec=$(printf '%s\n' '["Apache-2.0"]' https://github.com/libmtlsauthz/mtlsauthz \
    "$want_files" '["ffi >= 1.15, < 2"]' "$want_keys" true)
what="the gem: Apache-2.0, homepage, metadata, ffi >= 1.15 < 2, lib/**/*.rb README.md LICENSE"
if [ "$spec" = "$want_spec" ]; then
    ok "$what"
else
    bad "$what" "got:" "$spec" "want:" "$want_spec"
fi
if cmp -s "$gems/gems/mtlsauthz-$version/LICENSE" "$top/LICENSE"; then
    ok "the installed gem holds the top-level LICENSE"
else
    bad "the installed gem holds the top-level LICENSE"
fi

# ---- the README's Gemfiles, config.ru and Puma, outside the tree ----

port_free() {
    python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# app NAME GEMFILE_BLOCK GEM_HOME WANT_GEM_DIR WANT_LIBRARY_PATH [ENV=VALUE...]: the app in
# $T/NAME, run with the ENV settings; the gem must say it loaded WANT_LIBRARY_PATH.
app() {
    local name=$1 gemfile_block=$2 home=$3 want_gem=$4 want_path=$5
    shift 5
    local dir=$T/$name port out rc
    mkdir -p "$dir" "$home"
    block "$gemfile_block" >"$dir/Gemfile"
    block config.ru >"$dir/config.ru"
    cp "$top/examples/policy.yaml" "$dir/policy.yaml"
    cp "$certs/server-chain.pem" "$certs/server.key" "$certs/ca.pem" "$dir/"
    cd "$dir" || return

    out=$(env GEM_HOME="$home" "$@" bash --noprofile --norc -e -c "$(block bundle)" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [[ $out == *"
$want_path
$version" ]]; then
        ok "$name: bundle install --local; the gem loads $want_path, libmtlsauthz $version"
    else
        bad "$name: bundle install --local; the gem loads $want_path, libmtlsauthz $version" \
            "exit $rc:" "$out"
    fi
    # The gem and the library the bundle really loads (not only what the gem says).
    out=$(env GEM_HOME="$home" "$@" bundle exec ruby -e '
        require "mtlsauthz"
        puts Gem.loaded_specs["mtlsauthz"].full_gem_path
        maps = File.readlines("/proc/self/maps").grep(/libmtlsauthz/)
        puts maps.map { |l| File.realpath(l.split.last) }.uniq' 2>&1)
    if [ "$out" = "$want_gem
$want_file" ]; then
        ok "$name: bundle exec uses the gem in $want_gem and maps $want_file"
    else
        bad "$name: bundle exec uses the gem in $want_gem and maps $want_file" "$out"
    fi

    port=$(port_free)
    setsid env GEM_HOME="$home" "$@" bash --noprofile --norc -e -c \
        "$(block puma | sed "s|127\.0\.0\.1:8443|127.0.0.1:$port|")" >"$dir/puma.log" 2>&1 &
    puma_pid=$!
    for _ in $(seq 300); do
        grep -q 'Listening on' "$dir/puma.log" 2>/dev/null && break
        kill -0 "$puma_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "Listening on ssl://127.0.0.1:$port" "$dir/puma.log"; then
        bad "$name: Puma serves config.ru over mutual TLS" "$(tail -n 20 "$dir/puma.log")"
        stop_puma
        return
    fi
    # request WANT_STATUS WANT_BODY METHOD PATH [CERT]
    request() { readme_request "$dir/puma.log" "$@"; }
    request 200 hello POST /images/build builder
    request 403 '{"error":"forbidden","reason":"denied","rule":"no-container-escape"}' \
        POST /containers/abc/exec builder
    request 200 hello GET /containers ops
    request 000 '' GET /containers
    stop_puma
    cd "$T" || return
}

app gem-app gemfile-gem "$gems" "$gems/gems/mtlsauthz-$version" "$want_lib"
app path-app gemfile-path "$T/gems-path" "$top/bindings/ruby" "$want_lib"
# As with libmtlsauthz0 alone (no libmtlsauthz-dev): pkg-config has no answer, and the gem
# finds the soname on the system search path, which for the tree's build is its directory.
if [ $mode = installed ]; then
    app gem-app-soname gemfile-gem "$gems" "$gems/gems/mtlsauthz-$version" libmtlsauthz.so.0 \
        PKG_CONFIG=false
else
    app gem-app-soname gemfile-gem "$gems" "$gems/gems/mtlsauthz-$version" libmtlsauthz.so.0 \
        PKG_CONFIG=false MTLSAUTHZ_LIB= LD_LIBRARY_PATH="$(dirname "$want_lib")"
fi
finish
