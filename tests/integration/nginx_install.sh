#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bindings/nginx/README.md, "Install", from source, run as written: each block is the fenced
# block after `<!-- nginx_install.sh: NAME -->` in the README. Only the root moves: `sudo` is
# dropped (this runs as root or into a temp dir), `make` runs with DESTDIR=$D, and the paths
# under /etc/nginx and /usr/share/nginx/modules-available in the blocks become $D's. `nginx`
# and `systemctl reload nginx` in the blocks are Debian's nginx binary run with a temp prefix
# $P, whose nginx.conf includes $D/etc/nginx/modules-enabled/*.conf as Debian's does, and whose
# `modules` links to $D/usr/lib/nginx/modules as /usr/share/nginx/modules does.
#
#   NGINX_BIN=/usr/sbin/nginx MTLSAUTHZ_TEST_CERTS=build/test-certs \
#       tests/integration/nginx_install.sh          (make check-nginx)
#
# It checks: the version check block; what `make install-nginx-module` installs (and that it
# enables nothing); nginx refusing the module's directives until the enable block, then
# serving real mutual TLS (an allowed and a denied request, with curl and client
# certificates); nginx -t failing when the module file is missing, or is of another nginx
# version (the README's message); the disable and uninstall blocks; and that the targets
# refuse files a package owns. KEEP=1 keeps the temp dir.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
readme=$top/bindings/nginx/README.md
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
CERTS=${MTLSAUTHZ_TEST_CERTS:?set MTLSAUTHZ_TEST_CERTS (make check-nginx does)}
for tool in "$nginx_bin" curl python3 make; do
    command -v "$tool" >/dev/null || {
        echo "nginx_install.sh: $tool is missing (scripts/install-deps nginx installs it)" >&2
        exit 1
    }
done
# The README's commands run as a user runs them: not inside this make.
unset MAKEFLAGS MFLAGS MAKELEVEL NGINX DESTDIR NGINX_MODULES_DIR NGINX_MODULES_AVAILABLE \
    NGINX_MODULES_ENABLED

T=$(mktemp -d /tmp/mtlsauthz-nginx-install.XXXXXX)
# nginx's workers run as nobody when the master is root: they read $P/html.
chmod 755 "$T"
D=$T/root
P=$T/prefix
# Debian's nginx-common makes /etc/nginx/modules-enabled.
mkdir -p "$D/etc/nginx/modules-enabled" "$P/logs" "$P/tmp" "$P/html/images"
chmod -R 755 "$P"
# stop_nginx, as bindings/nginx/t/run.sh stops its nginx. Sourced first: readme_lib.sh's ok
# and counters then replace lib.sh's, so the output is that of the README scripts.
# shellcheck source=../../bindings/nginx/t/lib.sh
. "$top/bindings/nginx/t/lib.sh"
# ok, bad, finish, readme_block, readme_require_blocks
# shellcheck source=readme_lib.sh
. "$top/tests/integration/readme_lib.sh"
summary=nginx_install

cleanup() {
    stop_nginx "$P/nginx.pid"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The fenced block after `<!-- nginx_install.sh: NAME -->` in the README, as written.
block() { readme_block "$readme" nginx_install.sh "$1"; }
readme_require_blocks "$readme" nginx_install.sh check install enable disable uninstall

# The block with the root moved into $D, and without sudo.
moved() {
    block "$1" | sed -e 's/^sudo //' -e 's/&& sudo /\&\& /g' \
        -e "s|/etc/nginx/|$D/etc/nginx/|g" \
        -e "s|/usr/share/nginx/modules-available/|$D/usr/share/nginx/modules-available/|g"
}

# run NAME: the moved block, from the top of the checkout, in a bash with `set -e`, where
# `nginx` is the test's nginx and `systemctl reload nginx` reloads it (starts it, the first
# time). Its output is in $T/NAME.out.
run() {
    (
        cd "$top" &&
            DESTDIR=$D NGINX_BIN=$nginx_bin P=$P bash --noprofile --norc -e -c '
                nginx() { "$NGINX_BIN" -p "$P/" -e "$P/logs/startup.log" -c "$P/nginx.conf" "$@"; }
                systemctl() {
                    [ "$*" = "reload nginx" ] || { echo "systemctl $*: not in this test" >&2; return 1; }
                    # (nginx -t leaves an empty pid file.)
                    if [ -s "$P/nginx.pid" ]; then nginx -s reload; else nginx; fi
                }
                '"$(moved "$1")"
    ) >"$T/$1.out" 2>&1
}

N() { "$nginx_bin" -p "$P/" -e "$P/logs/startup.log" -c "$P/nginx.conf" "$@"; }

# ---- the version check ----

version=$("$nginx_bin" -v 2>&1 | sed -n 's|^nginx version: nginx/||p')
if run check && [ "$(cat "$T/check.out")" = "$(printf '%s\n%s\n--with-compat' "$version" "$version")" ]; then
    ok "README check: nginx and /usr/share/nginx/src are $version, and nginx has --with-compat"
else
    bad "README check: nginx and /usr/share/nginx/src are $version, and nginx has --with-compat" \
        "$(cat "$T/check.out")"
fi

# ---- install: two files, mode 644, not enabled ----

so=$D/usr/lib/nginx/modules/ngx_http_mtlsauthz_module.so
snippet=$D/usr/share/nginx/modules-available/mod-http-mtlsauthz.conf
link=$D/etc/nginx/modules-enabled/50-mod-http-mtlsauthz.conf
if run install; then
    ok "README install: make nginx-module, make install-nginx-module with DESTDIR"
else
    bad "README install: make nginx-module, make install-nginx-module with DESTDIR" \
        "$(tail -n 20 "$T/install.out")"
    finish
fi
if cmp -s "$so" "$top/build/nginx/ngx_http_mtlsauthz_module.so" && [ "$(stat -c %a "$so")" = 644 ]; then
    ok "installed the module, mode 644: ${so#"$D"}"
else
    bad "installed the module, mode 644: ${so#"$D"}" "$(ls -l "$so" 2>&1)"
fi
if [ "$(cat "$snippet" 2>/dev/null)" = 'load_module modules/ngx_http_mtlsauthz_module.so;' ] &&
    [ "$(stat -c %a "$snippet")" = 644 ]; then
    ok "installed the snippet, mode 644: ${snippet#"$D"}"
else
    bad "installed the snippet, mode 644: ${snippet#"$D"}" "$(ls -l "$snippet" 2>&1)" "$(cat "$snippet" 2>&1)"
fi
# The Debian package installs the same file (dh_nginx copies what the .nginx file names).
if grep -qx 'mod bindings/nginx/mod-http-mtlsauthz.conf' "$top/debian/libnginx-mod-http-mtlsauthz.nginx" &&
    cmp -s "$snippet" "$top/bindings/nginx/mod-http-mtlsauthz.conf"; then
    ok "the package's snippet is the one installed (debian/libnginx-mod-http-mtlsauthz.nginx)"
else
    bad "the package's snippet is the one installed (debian/libnginx-mod-http-mtlsauthz.nginx)"
fi
files=$(cd "$D" && find . ! -type d | sort)
want_files=$(printf '%s\n' ./usr/lib/nginx/modules/ngx_http_mtlsauthz_module.so \
    ./usr/share/nginx/modules-available/mod-http-mtlsauthz.conf)
if [ "$files" = "$want_files" ]; then
    ok "installed nothing else, and enabled nothing"
else
    bad "installed nothing else, and enabled nothing" $files
fi
# It prints the README's enable command (continuation lines joined, without sudo).
enable_cmd=$(block enable | sed -e 's/^sudo //' | awk '/\\$/ { sub(/ *\\$/, " "); printf "%s", $0; next } { print }' |
    sed -e 's/  */ /g' | head -n 1)
if grep -qF -- "$enable_cmd" "$T/install.out"; then
    ok "install prints the README's enable command: $enable_cmd"
else
    bad "install prints the README's enable command: $enable_cmd" "$(cat "$T/install.out")"
fi

# ---- nginx with Debian's layout ----

ln -s "$D/usr/lib/nginx/modules" "$P/modules"
echo images >"$P/html/images/list"
chmod 644 "$P/html/images/list"
cat >"$P/policy.yaml" <<'EOF'
version: 1
protocol: http
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: builder-images
    effect: allow
    principals: [builder]
    operations: ["GET /images/**"]
EOF
read -r PORT < <(python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# write_conf [SERVER_DIRECTIVES]: Debian's nginx.conf, reduced: the modules-enabled include
# first, then one mutual-TLS server.
write_conf() {
    cat >"$P/nginx.conf" <<EOF
include $D/etc/nginx/modules-enabled/*.conf;
worker_processes 1;
pid $P/nginx.pid;
error_log $P/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $P/tmp/body;
    proxy_temp_path $P/tmp/proxy;
    fastcgi_temp_path $P/tmp/fastcgi;
    uwsgi_temp_path $P/tmp/uwsgi;
    scgi_temp_path $P/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $CERTS/server-chain.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_client_certificate $CERTS/ca.pem;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        root $P/html;
        ${1:-}
    }
}
EOF
}
authz="mtlsauthz_policy $P/policy.yaml; mtlsauthz on;"
write_conf "$authz"

# Not enabled yet: the module's directives are unknown.
if ! out=$(N -t 2>&1) && [[ $out == *'unknown directive "mtlsauthz_policy"'* ]]; then
    ok "before the README's enable block, nginx -t refuses mtlsauthz_policy"
else
    bad "before the README's enable block, nginx -t refuses mtlsauthz_policy" "$out"
fi

# ---- enable: nginx -t, then nginx serves mutual TLS with the module ----

if run enable && [ "$(readlink "$link")" = "$snippet" ]; then
    ok "README enable: the link, nginx -t and the reload (here: the start)"
else
    bad "README enable: the link, nginx -t and the reload (here: the start)" \
        "$(cat "$T/enable.out")" "$(cat "$P/logs/startup.log" 2>/dev/null)"
    finish
fi
for _ in $(seq 50); do
    curl -s -o /dev/null --cacert "$CERTS/ca.pem" "https://127.0.0.1:$PORT/" && break
    sleep 0.1
done

# request DESC CERT WANT_STATUS [WANT_BODY_TEXT]: GET /images/list with CERT's chain and key
# ("-" for none), over TLS verified against the test CA.
request() {
    local desc=$1 cert=$2 want=$3 text=${4:-} args=(-s --cacert "$CERTS/ca.pem" -o "$T/body" -w '%{http_code}')
    [ "$cert" = - ] || args+=(--cert "$CERTS/$cert-chain.pem" --key "$CERTS/$cert.key")
    : >"$T/body"
    local status
    status=$(curl "${args[@]}" "https://127.0.0.1:$PORT/images/list")
    if [ "$status" = "$want" ] && grep -qF -- "$text" "$T/body"; then
        ok "$desc"
    else
        bad "$desc" "status $status, want $want" "body: $(cat "$T/body")"
    fi
}
request "the builder's certificate: allowed, 200 from nginx" builder 200 images
request "another verified certificate: denied, 403 with the contract's body" plain 403 \
    '{"error":"forbidden","reason":"no_match"'
request "no certificate: 401" - 401

# ---- the module missing, or of another nginx version: nginx -t fails ----

cp "$so" "$T/module.so"
rm "$so"
if ! out=$(N -t 2>&1) && [[ $out == *"ngx_http_mtlsauthz_module.so\" failed"* ]]; then
    ok "the module file missing: nginx -t fails"
else
    bad "the module file missing: nginx -t fails" "$out"
fi
# The same module with nginx_version one less, in its ngx_module_t (the sixth word).
current=$(awk '$2 == "nginx_version" { print $3 }' /usr/share/nginx/src/src/core/nginx.h)
older=$((current - 1))
python3 - "$T/module.so" "$so" "$older" <<'EOF'
import subprocess, struct, sys
src, dst, version = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytearray(open(src, "rb").read())
addr = next(int(l.split()[0], 16) for l in subprocess.check_output(
    ["nm", "-D", "--defined-only", src], text=True).splitlines()
    if l.endswith(" ngx_http_mtlsauthz_module"))
# the file offset of the symbol's address, from the section that holds it
for l in subprocess.check_output(["readelf", "-S", "-W", src], text=True).splitlines():
    f = l.replace("[ ", "[").split()
    if len(f) > 6 and f[0].startswith("[") and f[2] == "PROGBITS":
        sa, so, sz = int(f[3], 16), int(f[4], 16), int(f[5], 16)
        if sa <= addr < sa + sz:
            off = addr - sa + so + 5 * 8
            break
struct.pack_into("<Q", data, off, version)
open(dst, "wb").write(data)
EOF
# The README's message, for this nginx's version, in $P and $D.
want=$(grep -m 1 '^nginx: \[emerg\] module ".*" version [0-9]* instead of [0-9]* in ' "$readme" |
    sed -e "s/version [0-9]* instead of [0-9]*/version $older instead of $current/" \
        -e "s|\"/usr/share/nginx/modules/|\"$P/modules/|" -e "s| /etc/nginx/| $D/etc/nginx/|")
if [ -n "$want" ] && ! out=$(N -t 2>&1) && [[ $out == *"$want"* ]]; then
    ok "a module of another nginx version: nginx -t fails with the README's message"
else
    bad "a module of another nginx version: nginx -t fails with the README's message" \
        "want: $want" "$out"
fi
install -m 644 "$T/module.so" "$so"
if out=$(N -t 2>&1); then ok "the module back: nginx -t passes"; else bad "the module back: nginx -t passes" "$out"; fi

# ---- disable: the directives out first, then the README's block ----

write_conf
if run disable && [ ! -e "$link" ] && [ ! -L "$link" ]; then
    ok "README disable: the link removed, nginx -t and the reload"
else
    bad "README disable: the link removed, nginx -t and the reload" "$(cat "$T/disable.out")"
fi
write_conf "$authz"
if ! out=$(N -t 2>&1) && [[ $out == *'unknown directive "mtlsauthz_policy"'* ]]; then
    ok "disabled: nginx -t refuses mtlsauthz_policy"
else
    bad "disabled: nginx -t refuses mtlsauthz_policy" "$out"
fi

# ---- uninstall, enabled: the files and the link go ----

mkdir -p "$(dirname "$link")"
ln -s "${snippet#"$D"}" "$link"
if run uninstall && [ -z "$(cd "$D" && find . ! -type d)" ]; then
    ok "README uninstall: the module, the snippet and the link removed"
else
    bad "README uninstall: the module, the snippet and the link removed" \
        "$(cat "$T/uninstall.out")" "$(cd "$D" && find . ! -type d)"
fi

# ---- the package's files are left alone ----

# Without DESTDIR, into $T/guard: once with dpkg-query as it is (the package is not installed
# there), once with one that says the package owns every file.
G=$T/guard
vars=(NGINX_MODULES_DIR="$G/modules" NGINX_MODULES_AVAILABLE="$G/available" NGINX_MODULES_ENABLED="$G/enabled")
if (cd "$top" && make --no-print-directory -s install-nginx-module "${vars[@]}") >"$T/guard.out" 2>&1 &&
    [ -f "$G/modules/ngx_http_mtlsauthz_module.so" ] && [ -f "$G/available/mod-http-mtlsauthz.conf" ]; then
    ok "NGINX_MODULES_DIR and NGINX_MODULES_AVAILABLE move the files"
else
    bad "NGINX_MODULES_DIR and NGINX_MODULES_AVAILABLE move the files" "$(cat "$T/guard.out")"
fi
mkdir -p "$T/bin"
printf '#!/bin/sh\necho "libnginx-mod-http-mtlsauthz: $2"\n' >"$T/bin/dpkg-query"
chmod 755 "$T/bin/dpkg-query"
for target in uninstall-nginx-module install-nginx-module; do
    if ! (cd "$top" && PATH=$T/bin:$PATH make --no-print-directory -s "$target" "${vars[@]}") >"$T/guard.out" 2>&1 &&
        grep -qF "belongs to the package libnginx-mod-http-mtlsauthz" "$T/guard.out" &&
        [ -f "$G/modules/ngx_http_mtlsauthz_module.so" ]; then
        ok "$target refuses a file the package owns, and leaves it"
    else
        bad "$target refuses a file the package owns, and leaves it" "$(cat "$T/guard.out")"
    fi
done

finish
