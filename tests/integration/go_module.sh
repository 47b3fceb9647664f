#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bindings/go/README.md, "Add it to your module", run as written: its blocks are read from the
# README (the fenced block after each `<!-- go_module.sh: NAME -->`), with only the
# placeholders filled in (/path/to/libmtlsauthz, X.Y.Z from include/mtlsauthz/version.h, the
# port), and run in a new module in a temporary directory outside the tree.
#
#   tests/integration/go_module.sh               the tree's build (make check-go)
#   tests/integration/go_module.sh --installed   the installed Debian packages
#                                                (tests/deb/smoke-go.sh)
#
# The tree's build (B, the build directory, from make; default build):
# - "checkout": `make`, PKG_CONFIG_PATH, `go mod edit -replace`, `go mod tidy`, `go build`; the
#   program has a RUNPATH to the build's lib/ and loads that library;
# - the same with a wrong checkout path must fail to build;
# - "release": `go get ...@vX.Y.Z` from a local module proxy (file://) that serves bindings/go as
#   the tag bindings/go/vX.Y.Z would (the repository is not public yet), against the tree's
#   library, in a module cache of its own;
# - the README's cache warning: after PKG_CONFIG_PATH points at another copy of the library, a
#   plain `go build` keeps the old RUNPATH and `go build -a` takes the new one.
# The installed packages: "deb" with no PKG_CONFIG_PATH or LD_LIBRARY_PATH (its `apt-get
# install libmtlsauthz-dev` line is checked against dpkg, not run); the program has no RUNPATH
# and loads /usr/lib/<multiarch>/libmtlsauthz.so.0.
#
# Each built program then serves the README's main.go over mutual TLS with examples/policy.yaml:
# the builder may build images (200 hello) and may not exec into a container (403 with the
# body of docs/http.md), ops may list containers, and a client without a certificate fails the
# handshake. The library it loaded is read from /proc/PID/maps.
#
# Go's build cache does not see pkg-config (the README says why): every run uses a build cache
# of its own, so a package compiled by an earlier run can never stand in for this one.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
readme=$top/bindings/go/README.md
mode=tree
[ "${1:-}" = --installed ] && mode=installed
build=${B:-build}
case $build in /*) build_dir=$build ;; *) build_dir=$top/$build ;; esac
module=github.com/libmtlsauthz/mtlsauthz/bindings/go

for tool in go gcc pkg-config curl python3 readelf; do
    command -v "$tool" >/dev/null || {
        echo "go_module.sh: $tool is missing (go: Go >= 1.21, bindings/go/README.md)" >&2
        exit 1
    }
done
# The README's commands run as a user runs them: not inside this make, and with none of the
# caller's cgo or pkg-config settings (make check-go's own included).
unset MAKEFLAGS MFLAGS MAKELEVEL PKG_CONFIG_PATH LD_LIBRARY_PATH CGO_CPPFLAGS CGO_CFLAGS \
    CGO_LDFLAGS GOFLAGS GOWORK
export CGO_ENABLED=1
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
read -r version _ < <(make -s --no-print-directory -C "$top" print-version)

T=$(mktemp -d /tmp/mtlsauthz-go-module.XXXXXX)
export GOCACHE=$T/gocache
app_pid=
stop_app() {
    [ -n "$app_pid" ] || return 0
    kill -TERM -- "-$app_pid" "$app_pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$app_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$app_pid" "$app_pid" 2>/dev/null
    wait "$app_pid" 2>/dev/null
    app_pid=
}
cleanup() {
    stop_app
    # A module cache is read-only.
    chmod -R u+w "$T" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ok, bad, finish, readme_block, readme_require_blocks
# shellcheck source=readme_lib.sh
. "$top/tests/integration/readme_lib.sh"
summary="go module ($mode)"

# block NAME [CHECKOUT]: the fenced block after `<!-- go_module.sh: NAME -->` in the README,
# with /path/to/libmtlsauthz as CHECKOUT (default: this tree) and X.Y.Z as the version.
block() {
    local checkout=${2:-$top}
    readme_block "$readme" go_module.sh "$1" |
        sed -e "s|/path/to/libmtlsauthz|$checkout|g" -e "s|X\.Y\.Z|$version|g"
}
readme_require_blocks "$readme" go_module.sh init main.go checkout deb release run

if [ -n "${MTLSAUTHZ_TEST_CERTS:-}" ]; then
    certs=$MTLSAUTHZ_TEST_CERTS
else
    certs=$T/certs
    "$top/tests/certs/gen-certs.sh" "$certs" >/dev/null 2>&1 || {
        bad "tests/certs/gen-certs.sh"
        finish
    }
fi

port_free() {
    python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# new_module NAME: a new module in $T/NAME, made by the README's init block, with its main.go
# (on a free port, kept in .port) and, next to it, the policy and the server's certificates.
new_module() {
    local dir=$T/$1 out port
    mkdir -p "$dir" && cd "$dir" || return 1
    if ! out=$(bash --noprofile --norc -e -c "$(block init)" 2>&1); then
        bad "$1: go mod init" "$out"
        return 1
    fi
    port=$(port_free)
    echo "$port" >.port
    block main.go | sed "s|127\.0\.0\.1:8443|127.0.0.1:$port|" >main.go
    grep -q "127.0.0.1:$port" main.go || {
        bad "$1: main.go listens on 127.0.0.1:8443"
        return 1
    }
    cp "$top/examples/policy.yaml" "$certs/server-chain.pem" "$certs/server.key" "$certs/ca.pem" .
}

# build NAME SCRIPT [ENV=VALUE...]: SCRIPT (a README block) in $T/NAME; it must make ./app.
build() {
    local name=$1 script=$2 out rc
    shift 2
    rm -f "$T/$name/app"
    out=$(cd "$T/$name" && env "$@" bash --noprofile --norc -e -c "$script" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -x "$T/$name/app" ]; then
        return 0
    fi
    bad "$name: the README's commands build ./app" "exit $rc:" "$out"
    return 1
}

# runpath FILE: the program's RUNPATH (or RPATH), empty when it has none.
runpath() {
    readelf -d "$1" 2>/dev/null | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p'
}

# serve NAME WANT_LIBRARY_FILE: the README's run block in $T/NAME; it must load the library
# WANT_LIBRARY_FILE (a real path) and answer as the policy says.
serve() {
    local name=$1 want_file=$2 dir=$T/$1 port maps
    port=$(cat "$dir/.port")
    cd "$dir" || return
    setsid bash --noprofile --norc -e -c "exec $(block run)" >"$dir/app.log" 2>&1 &
    app_pid=$!
    for _ in $(seq 300); do
        grep -q 'listening on' "$dir/app.log" 2>/dev/null && break
        kill -0 "$app_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "libmtlsauthz $version, listening on https://127.0.0.1:$port" "$dir/app.log"; then
        bad "$name: ./app serves over mutual TLS with libmtlsauthz $version" \
            "$(tail -n 20 "$dir/app.log")"
        stop_app
        return
    fi
    maps=$(grep -o '/[^ ]*libmtlsauthz[^ ]*' "/proc/$app_pid/maps" | sort -u |
        while read -r f; do readlink -f "$f"; done | sort -u)
    if [ "$maps" = "$want_file" ]; then
        ok "$name: ./app (libmtlsauthz $version) maps $want_file"
    else
        bad "$name: ./app maps $want_file" "got: $maps"
    fi
    # request WANT_STATUS WANT_BODY METHOD PATH [CERT]
    request() { readme_request "$dir/app.log" "$@"; }
    request 200 hello POST /images/build builder
    request 403 '{"error":"forbidden","reason":"denied","rule":"no-container-escape"}' \
        POST /containers/abc/exec builder
    request 403 '{"error":"forbidden","reason":"no_match","rule":null}' POST /images/build ops
    request 200 hello GET /containers ops
    request 000 '' GET /containers
    stop_app
    cd "$T" || return
}

# ---- the installed Debian packages ----

if [ $mode = installed ]; then
    script=$(block deb)
    apt_line=$(grep -E '^(sudo )?apt-get install' <<<"$script")
    dev=$(dpkg-query -W -f='${db:Status-Status}' libmtlsauthz-dev 2>/dev/null)
    if [ "$apt_line" = "sudo apt-get install libmtlsauthz-dev" ] && [ "$dev" = installed ]; then
        ok "README: sudo apt-get install libmtlsauthz-dev (it is installed)"
    else
        bad "README: sudo apt-get install libmtlsauthz-dev (it is installed)" \
            "block: $apt_line" "libmtlsauthz-dev: ${dev:-not installed}"
    fi
    if grep -E 'PKG_CONFIG_PATH|LD_LIBRARY_PATH|^make' <<<"$script" >/dev/null; then
        bad "README: the Debian block sets no PKG_CONFIG_PATH and runs no make" "$script"
    fi
    want_lib=/usr/lib/$ma/libmtlsauthz.so.0
    if new_module deb && build deb "$(grep -vE '^(sudo )?apt-get install' <<<"$script")"; then
        got=$(runpath "$T/deb/app")
        # (/lib is /usr/lib on a merged-/usr system.)
        linked="libmtlsauthz.so.0 => (/usr)?/lib/$ma/libmtlsauthz.so.0 "
        if [ -z "$got" ] && ldd "$T/deb/app" | grep -E "$linked" >/dev/null; then
            ok "deb: ./app links to $want_lib, with no RUNPATH"
        else
            bad "deb: ./app links to $want_lib, with no RUNPATH" "RUNPATH: $got" \
                "$(ldd "$T/deb/app" | grep mtlsauthz)"
        fi
        serve deb "$(readlink -f "$want_lib")"
    fi
    finish
fi

# ---- a checkout: the tree's build ----

script=$(block checkout)
# Only a build directory other than build/ changes the commands.
if [ "$build_dir" != "$top/build" ]; then
    script=$(sed -e "s|^make -C $top\$|make -C $top B=$build|" \
        -e "s|$top/build/|$build_dir/|g" <<<"$script")
fi
want_lib=$build_dir/lib/libmtlsauthz.so.0
if [ ! -e "$want_lib" ]; then
    bad "the tree's build has $want_lib (run make)"
    finish
fi
checkout_script=$script
checkout_built=0
if new_module checkout && build checkout "$script"; then
    checkout_built=1
    got=$(runpath "$T/checkout/app")
    if [ "$got" = "$build_dir/lib" ]; then
        ok "checkout: ./app has the RUNPATH $got, so it runs with no LD_LIBRARY_PATH"
    else
        bad "checkout: ./app has the RUNPATH $build_dir/lib" "got '$got'"
    fi
    if grep -qx "replace $module => $top/bindings/go" go.mod &&
        grep -qx "require $module v0.0.0-00010101000000-000000000000" go.mod; then
        ok "checkout: go.mod replaces $module with the checkout's bindings/go"
    else
        bad "checkout: go.mod replaces $module with the checkout's bindings/go" "$(cat go.mod)"
    fi
    serve checkout "$(readlink -f "$want_lib")"
fi

# The same commands with a replace that names no checkout must fail.
script=$(sed "s|=$top/bindings/go\$|=$T/no-such-checkout/bindings/go|" <<<"$checkout_script")
if [[ $script == *"=$T/no-such-checkout/bindings/go"* ]] && new_module wrong-path; then
    out=$(bash --noprofile --norc -e -c "$script" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [ ! -e app ] && [[ $out == *"$T/no-such-checkout/bindings/go"* ]]; then
        ok "wrong-path: the commands fail with a replace that names no checkout (exit $rc)"
    else
        bad "wrong-path: the commands fail with a replace that names no checkout" "exit $rc:" "$out"
    fi
else
    bad "wrong-path: the checkout block has the line -replace=$module=$top/bindings/go" "$script"
fi

# ---- a tagged release, from a local module proxy ----

# What the proxy serves for the tag bindings/go/vX.Y.Z: the module's files, without the
# nested modules (a directory with a go.mod of its own), and the repository's LICENSE.
proxy=$T/proxy/$module/@v
mkdir -p "$proxy"
python3 - "$top" "$module" "v$version" "$proxy" <<'EOF'
import datetime, json, os, sys, zipfile
top, module, version, out = sys.argv[1:]
root = os.path.join(top, "bindings/go")
prefix = f"{module}@{version}/"
with zipfile.ZipFile(os.path.join(out, version + ".zip"), "w") as z:
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs
                         if not os.path.exists(os.path.join(d, x, "go.mod")))
        for f in sorted(files):
            z.write(os.path.join(d, f), prefix + os.path.relpath(os.path.join(d, f), root))
    # The licence travels in the module's own directory, as the module proxy serves it.
    if prefix + "LICENSE" not in z.namelist():
        sys.exit("bindings/go has no LICENSE: the module's zip would carry no licence")
with open(os.path.join(root, "go.mod")) as src:
    with open(os.path.join(out, version + ".mod"), "w") as dst:
        dst.write(src.read())
with open(os.path.join(out, version + ".info"), "w") as f:
    json.dump({"Version": version, "Time": datetime.datetime.now(datetime.timezone.utc)
               .strftime("%Y-%m-%dT%H:%M:%SZ")}, f)
with open(os.path.join(out, "list"), "w") as f:
    f.write(version + "\n")
EOF
# The release's module goes into a module cache of its own, never the user's: a module
# version there is immutable, and the next run's would differ.
release_env=(GOPROXY="file://$T/proxy,$(go env GOPROXY)" GONOSUMDB=github.com/libmtlsauthz
    GOMODCACHE="$T/modcache" PKG_CONFIG_PATH="$build_dir/pkgconfig")
if new_module release && build release "$(block release)" "${release_env[@]}"; then
    if grep -qx "require $module v$version" go.mod && ! grep -q replace go.mod &&
        [ -f "$T/modcache/$module@v$version/go.mod" ]; then
        ok "release: go get $module@v$version (from the local proxy), with no replace"
    else
        bad "release: go get $module@v$version (from the local proxy), with no replace" \
            "$(cat go.mod)"
    fi
    serve release "$(readlink -f "$want_lib")"
fi

# ---- the README's cache warning ----

# Another copy of the library, and a pkg-config file for it, as after an upgrade or a switch
# to another checkout.
mkdir -p "$T/lib2" "$T/pc2"
cp -P "$build_dir"/lib/libmtlsauthz.so* "$T/lib2/"
sed "s|^libdir=.*|libdir=$T/lib2|" "$build_dir/pkgconfig/mtlsauthz.pc" >"$T/pc2/mtlsauthz.pc"
if [ $checkout_built = 0 ] || ! cd "$T/checkout"; then
    bad "cache: not checked, since the checkout's module did not build"
    finish
fi
if out=$(PKG_CONFIG_PATH=$T/pc2 go build -o app-cached . 2>&1) &&
    [ "$(runpath app-cached)" = "$build_dir/lib" ]; then
    ok "cache: with PKG_CONFIG_PATH changed, go build keeps the RUNPATH $build_dir/lib"
else
    bad "cache: with PKG_CONFIG_PATH changed, go build keeps the old RUNPATH (the README says" \
        "so; if Go now sees pkg-config, golang/go#24544 is fixed: update the README)" \
        "$out" "RUNPATH: $(runpath app-cached)"
fi
if out=$(PKG_CONFIG_PATH=$T/pc2 go build -a -o app-a . 2>&1) &&
    [ "$(runpath app-a)" = "$T/lib2" ]; then
    ok "cache: go build -a takes the new RUNPATH $T/lib2"
else
    bad "cache: go build -a takes the new RUNPATH $T/lib2" "$out" "RUNPATH: $(runpath app-a)"
fi
finish
