#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds ngx_http_mtlsauthz_module.so as a dynamic module for the distribution's NGINX.
#
#   bindings/nginx/build.sh OUTDIR LIBMTLSAUTHZ_A
#
# NGINX_SRC (default /usr/share/nginx/src, from Debian's nginx-dev) is copied to OUTDIR/src,
# which is configured with the distribution's own flags (its conf_flags file, so that the
# --with-compat module signature matches /usr/sbin/nginx) plus --add-dynamic-module; only the
# modules are built. A tree without conf_flags (an upstream release, or a git checkout) is
# configured with NGINX_CONF_FLAGS (default: --with-compat --with-http_ssl_module
# --with-http_v2_module): pass the flags your nginx binary was built with (nginx -V).
# NGINX_CC_OPT and NGINX_LD_OPT default to the hardening flags Debian builds nginx with.
# The module is left at OUTDIR/ngx_http_mtlsauthz_module.so.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 OUTDIR LIBMTLSAUTHZ_A" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
stlib=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
src=${NGINX_SRC:-/usr/share/nginx/src}
cc_opt=${NGINX_CC_OPT:--g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2}
ld_opt=${NGINX_LD_OPT:--Wl,-z,relro -Wl,-z,now -fPIC}

if [ ! -d "$src/src/http" ]; then
    echo "$0: no NGINX source tree at $src (install nginx-dev, or set NGINX_SRC)" >&2
    exit 1
fi
if [ ! -f "$stlib" ]; then
    echo "$0: $stlib not found (run make first)" >&2
    exit 1
fi

rm -rf "$out/src"
cp -a "$src" "$out/src"
cd "$out/src"

if [ -f conf_flags ]; then
    # Debian's file is a bash array assignment: NGX_CONF_FLAGS=( ... ).
    # shellcheck disable=SC1091
    . ./conf_flags
    flags=("${NGX_CONF_FLAGS[@]}")
else
    # shellcheck disable=SC2206
    flags=(${NGINX_CONF_FLAGS:---with-compat --with-http_ssl_module --with-http_v2_module})
fi

configure=./configure
[ -x "$configure" ] || configure=auto/configure

echo "build.sh: $configure ${flags[*]} --with-cc-opt='$cc_opt' --with-ld-opt='$ld_opt'" \
    "--add-dynamic-module=$here" >&2
if ! MTLSAUTHZ_LIB=$stlib "$configure" "${flags[@]}" --with-cc-opt="$cc_opt" \
    --with-ld-opt="$ld_opt" --add-dynamic-module="$here" > configure.log 2>&1; then
    tail -n 30 configure.log >&2
    exit 1
fi

make -f objs/Makefile modules
cp objs/ngx_http_mtlsauthz_module.so "$out/ngx_http_mtlsauthz_module.so"
echo "build.sh: built $out/ngx_http_mtlsauthz_module.so" >&2
