#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of the INSTALLED Debian packages (scripts/check-deb installs them, runs this, and
# purges them). Everything runs from a temporary directory outside the tree, with the system's
# paths only: no PKG_CONFIG_PATH, no LD_LIBRARY_PATH, no build directory.
#
#   tests/deb/smoke.sh VERSION
#
# - the files are where Debian puts them, and the module's snippet is enabled;
# - mtlsauthz (from PATH) decides the container-escape demo (check), runs policy tests with
#   inline identities (test) and lints the policy (lint --format json);
# - a C program built with `pkg-config --cflags --libs mtlsauthz` (shared, then static) loads
#   the policy and decides with a certificate;
# - Debian's nginx, with a configuration that includes /etc/nginx/modules-enabled/*.conf,
#   accepts the module's directives (nginx -t), refuses them without that include, and, started
#   on a temporary prefix, answers real mutual-TLS requests as the policy says.
set -uo pipefail

version=${1:?usage: tests/deb/smoke.sh VERSION}
top=$(cd "$(dirname "$0")/../.." && pwd)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
nginx_bin=/usr/sbin/nginx
# nginx reads inherited listening sockets from the NGINX environment variable.
unset NGINX PKG_CONFIG_PATH LD_LIBRARY_PATH

T=$(mktemp -d /tmp/mtlsauthz-deb.XXXXXX)
# nginx workers run as an unprivileged user when the master is root: let them in.
chmod 755 "$T"
cleanup() {
    if [ -f "$T/nginx/nginx.pid" ]; then
        pid=$(cat "$T/nginx/nginx.pid")
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$T" || exit 1

pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok   $1"
}
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    shift
    for line in "$@"; do echo "     $line"; done
}

# ---- the files, where Debian puts them ----

for f in /usr/bin/mtlsauthz /usr/share/man/man1/mtlsauthz.1.gz \
    "/usr/lib/$ma/libmtlsauthz.so.0" "/usr/lib/$ma/libmtlsauthz.so" "/usr/lib/$ma/libmtlsauthz.a" \
    "/usr/lib/$ma/pkgconfig/mtlsauthz.pc" /usr/include/mtlsauthz/mtlsauthz.h \
    /usr/include/mtlsauthz/openssl.h /usr/lib/nginx/modules/ngx_http_mtlsauthz_module.so \
    /usr/share/nginx/modules-available/mod-http-mtlsauthz.conf \
    /usr/share/doc/libmtlsauthz0/copyright; do
    if [ -e "$f" ]; then ok "installed $f"; else bad "installed $f"; fi
done
snippet=/usr/share/nginx/modules-available/mod-http-mtlsauthz.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-mtlsauthz.conf
if [ "$(readlink "$enabled")" = "$snippet" ] &&
    grep -qx 'load_module modules/ngx_http_mtlsauthz_module.so;' "$snippet"; then
    ok "the module's snippet is enabled: $enabled -> $snippet"
else
    bad "the module's snippet is enabled: $enabled -> $snippet" "$(ls -l /etc/nginx/modules-enabled/)"
fi

# ---- the CLI decides the demo ----

cli=$(command -v mtlsauthz)
if [ "$cli" = /usr/bin/mtlsauthz ] && [ "$(mtlsauthz --version)" = "mtlsauthz $version" ]; then
    ok "mtlsauthz on PATH is /usr/bin/mtlsauthz $version"
else
    bad "mtlsauthz on PATH is /usr/bin/mtlsauthz $version" "got $cli: $(mtlsauthz --version 2>&1)"
fi

"$top/tests/certs/gen-certs.sh" certs >/dev/null 2>&1 || {
    bad "tests/certs/gen-certs.sh"
    exit 1
}
chmod -R a+rX certs
cp "$top/examples/policy.yaml" policy.yaml

out=$(mtlsauthz check --policy policy.yaml --cert certs/builder.pem --op 'POST /images/build')
rc=$?
if [ $rc -eq 0 ] && [[ $out == *allow* ]]; then
    ok "check: the builder may build images (exit 0)"
else
    bad "check: the builder may build images" "exit $rc: $out"
fi
out=$(mtlsauthz check --policy policy.yaml --cert certs/builder.pem --op 'POST /containers/abc/exec')
rc=$?
if [ $rc -eq 1 ] && [[ $out == *no-container-escape* ]]; then
    ok "check: the builder may not exec into a container (exit 1, no-container-escape)"
else
    bad "check: the builder may not exec into a container" "exit $rc: $out"
fi

cat >tests.yaml <<'EOF'
- name: an inline builder identity builds images
  identity:
    spiffe: spiffe://prod.example.com/ci/builder
    eku: [clientAuth]
  op: POST /images/build
  expect: allow
  rule: build-images
- name: the builder cannot exec into a container
  identity:
    spiffe: spiffe://prod.example.com/ci/builder
    eku: [clientAuth]
  op: POST /containers/abc/exec
  expect: deny
  rule: no-container-escape
- name: ops lists containers
  identity: {cn: [alice], o: [Example Corp], ou: [ops]}
  op: GET /containers
  expect: allow
EOF
out=$(mtlsauthz test policy.yaml tests.yaml 2>&1)
rc=$?
if [ $rc -eq 0 ] && [[ $out == *"3 passed, 0 failed"* ]]; then
    ok "test: three inline-identity cases pass (exit 0)"
else
    bad "test: three inline-identity cases pass" "exit $rc:" "$out"
fi
sed 's/expect: deny/expect: allow/' tests.yaml >wrong.yaml
out=$(mtlsauthz test --format json policy.yaml wrong.yaml 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ "$(printf '%s' "$out" | jq -c .totals)" = '{"cases":3,"passed":2,"failed":1}' ]; then
    ok "test --format json: a wrong expectation fails (exit 1)"
else
    bad "test --format json: a wrong expectation fails" "exit $rc:" "$out"
fi
out=$(mtlsauthz lint --format json policy.yaml)
rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s' "$out" | jq .count)" = 0 ]; then
    ok "lint --format json: the example policy is clean (exit 0)"
else
    bad "lint --format json: the example policy is clean" "exit $rc: $out"
fi

# ---- a C program built with pkg-config ----

cat >app.c <<'EOF'
#include <mtlsauthz/mtlsauthz.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int decide(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op)
{
    mtlsauthz_error err = {0};
    mtlsauthz_decision d;
    if (mtlsauthz_policy_decide(&d, p, id, op, strlen(op), &err) != 0) {
        fprintf(stderr, "decide: %s\n", err.message);
        return -1;
    }
    return d.allowed;
}

int main(int argc, char **argv)
{
    mtlsauthz_error err = {0};
    mtlsauthz_policy *p = NULL;
    mtlsauthz_identity *id = NULL;
    static char pem[65536];
    size_t n;
    FILE *f;

    if (argc != 3) {
        return 2;
    }
    if (mtlsauthz_policy_load_file(&p, argv[1], &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if ((f = fopen(argv[2], "rb")) == NULL) {
        return 1;
    }
    n = fread(pem, 1, sizeof(pem), f);
    fclose(f);
    if (mtlsauthz_identity_from_pem(&id, pem, n, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    printf("%s build=%d exec=%d\n", mtlsauthz_version(), decide(p, id, "POST /images/build"),
           decide(p, id, "POST /containers/abc/exec"));
    mtlsauthz_identity_free(id);
    mtlsauthz_policy_free(p);
    return 0;
}
EOF
want="$version build=1 exec=0"
out=
# shellcheck disable=SC2046
if cc -std=c99 -Wall -Werror -o app app.c $(pkg-config --cflags --libs mtlsauthz) &&
    out=$(./app policy.yaml certs/builder.pem) && [ "$out" = "$want" ]; then
    ok "shared: a program built with pkg-config mtlsauthz loads the policy and decides"
else
    bad "shared: a program built with pkg-config mtlsauthz loads the policy and decides" \
        "got '${out:-}', want '$want'"
fi
# (/lib is /usr/lib on a merged-/usr system.)
if ldd ./app | grep -E "libmtlsauthz.so.0 => (/usr)?/lib/$ma/libmtlsauthz.so.0 " >/dev/null &&
    ! readelf -d ./app | grep -E 'RPATH|RUNPATH' >/dev/null; then
    ok "shared: it runs on /usr/lib/$ma/libmtlsauthz.so.0, with no RUNPATH"
else
    bad "shared: it runs on /usr/lib/$ma/libmtlsauthz.so.0, with no RUNPATH" \
        "$(ldd ./app | grep mtlsauthz)" "$(readelf -d ./app | grep -E 'RPATH|RUNPATH')"
fi
static_libs=$(pkg-config --static --libs mtlsauthz)
out=
# shellcheck disable=SC2046,SC2086
if cc -std=c99 -Wall -Werror -o app-static app.c $(pkg-config --cflags mtlsauthz) \
    -Wl,-Bstatic -lmtlsauthz -Wl,-Bdynamic ${static_libs//-lmtlsauthz/} &&
    out=$(./app-static policy.yaml certs/builder.pem) && [ "$out" = "$want" ] &&
    ! ldd ./app-static | grep libmtlsauthz >/dev/null; then
    ok "static: a program linked with libmtlsauthz.a and pkg-config --static runs"
else
    bad "static: a program linked with libmtlsauthz.a and pkg-config --static runs" \
        "got '${out:-}'"
fi

# ---- Debian's nginx loads the module from modules-enabled ----

if out=$("$nginx_bin" -T -q 2>&1) && [[ $out == *"load_module modules/ngx_http_mtlsauthz_module.so;"* ]]; then
    ok "nginx -t: the system configuration loads the module through modules-enabled"
else
    bad "nginx -t: the system configuration loads the module through modules-enabled" \
        "$(printf '%s\n' "$out" | grep -iE 'emerg|error|mtlsauthz' | head -5)"
fi

read -r port upstream < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
mkdir -m 755 nginx nginx/logs nginx/tmp
write_conf() { # write_conf INCLUDE_LINE
    cat >nginx/nginx.conf <<EOF
$1
worker_processes 1;
error_log $T/nginx/logs/error.log info;
pid $T/nginx/nginx.pid;
events { worker_connections 64; }
http {
    client_body_temp_path $T/nginx/tmp/body;
    proxy_temp_path $T/nginx/tmp/proxy;
    fastcgi_temp_path $T/nginx/tmp/fastcgi;
    uwsgi_temp_path $T/nginx/tmp/uwsgi;
    scgi_temp_path $T/nginx/tmp/scgi;
    access_log $T/nginx/logs/access.log;
    server {
        listen 127.0.0.1:$upstream;
        location / { return 200 "upstream \$request_method \$request_uri\n"; }
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $T/certs/server-chain.pem;
        ssl_certificate_key $T/certs/server.key;
        ssl_client_certificate $T/certs/ca.pem;
        ssl_verify_depth 2;
        ssl_verify_client optional;
        mtlsauthz_policy $T/policy.yaml;
        mtlsauthz on;
        location / { proxy_pass http://127.0.0.1:$upstream; }
    }
}
EOF
}
# Debian's own prefix (/usr/share/nginx, where modules/ leads to /usr/lib/nginx/modules), so
# that the snippet's relative load_module path resolves as it does for the system nginx; every
# other path is absolute, in the temporary directory.
ngx() { "$nginx_bin" -e "$T/nginx/logs/startup.log" -c "$T/nginx/nginx.conf" "$@"; }

write_conf ''
if out=$(ngx -t 2>&1); then
    bad "nginx -t without modules-enabled refuses the module's directives" "$out"
elif [[ $out == *'unknown directive "mtlsauthz_policy"'* ]]; then
    ok "nginx -t without modules-enabled refuses the module's directives"
else
    bad "nginx -t without modules-enabled refuses the module's directives" "$out"
fi
write_conf 'include /etc/nginx/modules-enabled/*.conf;'
if out=$(ngx -t 2>&1); then
    ok "nginx -t with modules-enabled accepts mtlsauthz_policy and mtlsauthz"
else
    bad "nginx -t with modules-enabled accepts mtlsauthz_policy and mtlsauthz" "$out"
fi

if out=$(ngx 2>&1); then
    for _ in $(seq 50); do
        [ -s "$T/nginx/nginx.pid" ] && break
        sleep 0.1
    done
    request() { # request EXPECTED_STATUS METHOD PATH [CERT]
        local want=$1 method=$2 path=$3 cert=${4:-} got
        local args=(-s -o "$T/body" -w '%{http_code}' --cacert certs/ca.pem -X "$method")
        [ -n "$cert" ] && args+=(--cert "certs/$cert-chain.pem" --key "certs/$cert.key")
        got=$(curl "${args[@]}" "https://127.0.0.1:$port$path")
        if [ "$got" = "$want" ]; then
            ok "nginx: $method $path as ${cert:-no certificate}: $want"
        else
            bad "nginx: $method $path as ${cert:-no certificate}: want $want, got $got" \
                "$(cat "$T/body" 2>/dev/null)" "$(tail -n 3 nginx/logs/error.log)"
        fi
    }
    request 200 POST /images/build builder
    request 403 POST /containers/abc/exec builder
    request 200 GET /containers ops
    request 401 GET /containers
else
    bad "nginx starts with the module from modules-enabled" "$out" \
        "$(cat nginx/logs/startup.log 2>/dev/null)"
fi

"$top/tests/deb/smoke-gem.sh" "$version" || bad "the Ruby gem (tests/deb/smoke-gem.sh)"
"$top/tests/deb/smoke-go.sh" || bad "the Go binding (tests/deb/smoke-go.sh)"
echo "deb smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
