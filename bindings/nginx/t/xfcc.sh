#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Integration tests for mtlsauthz_xfcc and mtlsauthz_xfcc_trusted: identities from the
# X-Forwarded-Client-Cert header of a trusted proxy (bindings/nginx/README.md, "Behind a proxy:
# X-Forwarded-Client-Cert"), on a real nginx driven by curl, as t/run.sh does.
#
#   MTLSAUTHZ_NGINX_MODULE=.../ngx_http_mtlsauthz_module.so MTLSAUTHZ_CLI=.../mtlsauthz \
#       bindings/nginx/t/xfcc.sh
#
# Optional: NGINX_BIN (default /usr/sbin/nginx), MTLSAUTHZ_TEST_CERTS (generated here if unset),
# KEEP=1 (keep the temp dir).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
unset NGINX
MODULE=${MTLSAUTHZ_NGINX_MODULE:?set MTLSAUTHZ_NGINX_MODULE to the built module}
CLI=${MTLSAUTHZ_CLI:?set MTLSAUTHZ_CLI to the built mtlsauthz}

T=$(mktemp -d /tmp/mtlsauthz-nginx-xfcc.XXXXXX)
chmod 755 "$T"
mkdir -m 755 "$T/tmp"

# shellcheck source=lib.sh
. "$here/lib.sh"

cleanup() {
    stop_nginx "$T/nginx.pid"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

CERTS=${MTLSAUTHZ_TEST_CERTS:-}
if [ -z "$CERTS" ]; then
    CERTS=$T/certs
    "$top/tests/certs/gen-certs.sh" "$CERTS" >/dev/null
fi

read -r TP HP UP RP PU < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
SOCK=$T/xfcc.sock

# The SPIFFE ID is what a mesh identity has; an EKU is what only a certificate shows.
cat > "$T/xfcc.yaml" <<'EOF'
version: 1
protocol: http
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
  - name: clients
    eku: [clientAuth]
  - name: ops
    ou: [ops]
rules:
  - id: builder-spiffe
    effect: allow
    principals: [builder]
    operations: ["GET /spiffe/**"]
  - id: clients-eku
    effect: allow
    principals: [clients]
    operations: ["GET /eku/**"]
  - id: ops-read
    effect: allow
    principals: [ops]
    operations: ["GET /ops/**"]
EOF

json_format=$(sed -n '/^log_format mtlsauthz_json/,/;$/p' "$here/../README.md")
[ -n "$json_format" ] || { echo "no 'log_format mtlsauthz_json' in the README" >&2; exit 1; }

tls="ssl_certificate $CERTS/server-chain.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_client_certificate $CERTS/ca.pem;
        ssl_verify_client optional;"
common="mtlsauthz_policy $T/xfcc.yaml;
        mtlsauthz on;
        access_log $T/access.log mtlsauthz_json if=\$mtlsauthz_decision;
        add_header X-Reason \$mtlsauthz_reason always;
        add_header X-Rule \$mtlsauthz_rule always;
        add_header X-Spiffe \$mtlsauthz_spiffe_id always;
        add_header X-Subject \$mtlsauthz_subject always;
        add_header X-Remote \$remote_addr always;
        location / { proxy_pass http://127.0.0.1:$PU; }"

# write_conf FILE [HTTP_DIRECTIVES]
write_conf() {
    cat > "$1" <<EOF
load_module $MODULE;
worker_processes 1;
error_log $T/error.log info;
pid $T/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    $json_format
    ${2:-}

    # the trusted addresses every server inherits, unless it lists its own
    mtlsauthz_xfcc_trusted 192.0.2.0/24;
    mtlsauthz_xfcc_trusted 127.0.0.1;

    server {
        listen 127.0.0.1:$PU;
        location / { return 200 "upstream \$request_uri\n"; }
    }

    # behind a trusted proxy, over TLS (the proxy may present its own certificate)
    server {
        listen 127.0.0.1:$TP ssl http2;
        $tls
        mtlsauthz_xfcc on;
        $common
        location /off/ { mtlsauthz_xfcc off; proxy_pass http://127.0.0.1:$PU; }
    }

    # behind a trusted proxy, over plain HTTP (a sidecar on loopback)
    server {
        listen 127.0.0.1:$HP;
        mtlsauthz_xfcc on;
        $common
    }

    # the same, but 127.0.0.1 is not trusted here: its own list replaces the inherited one
    server {
        listen 127.0.0.1:$UP ssl;
        $tls
        mtlsauthz_xfcc on;
        mtlsauthz_xfcc_trusted 10.0.0.0/8;
        $common
    }

    # a Unix socket, trusted as "unix:"
    server {
        listen unix:$SOCK;
        mtlsauthz_xfcc on;
        mtlsauthz_xfcc_trusted unix:;
        $common
    }

    # realip makes \$remote_addr what X-Forwarded-For says; trust must not follow it
    server {
        listen 127.0.0.1:$RP;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        mtlsauthz_xfcc on;
        mtlsauthz_xfcc_trusted 10.0.0.0/8;
        $common
    }
}
EOF
}

N() { "$nginx_bin" -p "$T/" -e "$T/startup.log" "$@"; }

# call URL CERT [CURL_ARGS...]: sets STATUS and BODY; hdr NAME (lib.sh) reads a header. CERT is a test
# certificate name, or "-" for none.
call() {
    local url=$1 cert=$2
    shift 2
    local args=(-s --path-as-is --cacert "$CERTS/ca.pem" -o "$T/body" -D "$T/headers"
        -w '%{http_code}')
    [ "$cert" = - ] || args+=(--cert "$CERTS/$cert-chain.pem" --key "$CERTS/$cert.key")
    : > "$T/headers"
    : > "$T/body"
    STATUS=$(curl "${args[@]}" "$@" "$url")
    BODY=$(cat "$T/body")
}

# record DESC KEY=JSON...: the last access-log record has these keys, each compared as JSON (nginx
# writes it after the response, so wait for it a little)
record() {
    local desc=$1 out i
    shift
    for i in $(seq 20); do
        out=$(check_record "$@") && break
        sleep 0.1
    done
    if [ -z "$out" ]; then ok "$desc"; else not_ok "$desc" "$out"; fi
}
check_record() {
    tail -n 1 "$T/access.log" | python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
bad = []
for kv in sys.argv[1:]:
    key, want = kv.split("=", 1)
    if doc.get(key, "<absent>") != json.loads(want):
        bad.append("%s: %r, want %s" % (key, doc.get(key, "<absent>"), want))
print("; ".join(bad))
sys.exit(1 if bad else 0)' "$@" 2>&1
}

# logged DESC TEXT: the error log has TEXT (count lines with it: logged_count TEXT)
logged() {
    if grep -qF -- "$2" "$T/error.log"; then ok "$1"; else
        not_ok "$1" "no '$2' in the error log" "$(tail -n 3 "$T/error.log")"
    fi
}
logged_count() { grep -cF -- "$1" "$T/error.log"; }

# A certificate's facts, as the library renders them
fact() {
    "$CLI" identity --format json "$CERTS/$1.pem" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(json.dumps({"subject": doc["subject"]["dn"], "issuer": doc["issuer"]["dn"]}.get(sys.argv[1], doc.get(sys.argv[1]))))' "$2"
}
urlpem() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$1"; }
sha() { openssl x509 -in "$CERTS/$1.pem" -outform der | sha256sum | cut -d' ' -f1; }

BUILDER_CERT="Cert=$(urlpem "$CERTS/builder.pem")"
BUILDER_XFCC="By=spiffe://cluster.local/ns/default/sa/front;Hash=$(sha builder);$BUILDER_CERT"
# Istio's default: no Cert, so the identity is partial
ISTIO_XFCC="By=spiffe://cluster.local/ns/default/sa/front;Hash=$(sha builder);Subject=\"\";URI=spiffe://prod.example.com/ci/builder"

# ---- configuration-time checks ----

write_conf "$T/nginx.conf"
if out=$(N -t -c "$T/nginx.conf" 2>&1); then ok "nginx -t accepts the test configuration"; else
    not_ok "nginx -t accepts the test configuration" "$out"
    echo "$pass passed, $fail failed"
    exit 1
fi

cat > "$T/no-trusted.conf" <<EOF
load_module $MODULE;
pid $T/t.pid;
error_log $T/t-error.log;
events {}
http {
    server {
        listen 127.0.0.1:$PU;
        mtlsauthz_policy $T/xfcc.yaml;
        mtlsauthz on;
        location /api/ { mtlsauthz_xfcc on; }
    }
}
EOF
# conf_check DESC RC TEXT DIRECTIVE: nginx -t on no-trusted.conf, DIRECTIVE added after
# "mtlsauthz_xfcc on;", exits RC (0 or 1) and says TEXT
conf_check() {
    local out rc
    sed -e "s|mtlsauthz_xfcc on;|mtlsauthz_xfcc on; $4|" "$T/no-trusted.conf" > "$T/check.conf"
    out=$(N -t -c "$T/check.conf" 2>&1)
    rc=$?
    if [ $rc -eq "$2" ] && grep -qF -- "$3" <<<"$out"; then ok "$1"; else
        not_ok "$1" "rc=$rc" "$out"
    fi
}
conf_check "nginx -t refuses mtlsauthz_xfcc on without trusted addresses" 1 \
    '"mtlsauthz_xfcc on" without "mtlsauthz_xfcc_trusted" in location "/api/": list the addresses of the proxies that may send X-Forwarded-Client-Cert' ''
conf_check "nginx -t refuses a host name as a trusted address" 1 \
    'invalid address "proxy.example": give an IP address, a CIDR block such as 10.0.0.0/8, or "unix:" (host names are not resolved)' \
    'mtlsauthz_xfcc_trusted proxy.example;'
conf_check "nginx -t warns about a CIDR block with host bits" 0 \
    'low address bits of 10.1.2.3/8 are meaningless' 'mtlsauthz_xfcc_trusted 10.1.2.3/8;'

# ---- a running nginx ----

if ! N -c "$T/nginx.conf"; then
    not_ok "nginx starts" "$(tail -n 5 "$T/startup.log")"
    echo "$pass passed, $fail failed"
    exit 1
fi
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PU/" && break
    sleep 0.1
done

X=X-Forwarded-Client-Cert

# A trusted proxy's header with Cert: decided as that certificate.
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: $BUILDER_XFCC"
expect "trusted proxy, Cert: decided as the certificate" 200 X-Rule=builder-spiffe \
    X-Spiffe=spiffe://prod.example.com/ci/builder "X-Subject=CN=builder,O=Example Corp" \
    "body=upstream /spiffe/x"
record "trusted proxy, Cert: the record is the certificate's" 'decision="allow"' \
    "subject=$(fact builder subject)" "issuer=$(fact builder issuer)" \
    "serial=$(fact builder serial)" "sha256=$(fact builder sha256)" \
    'spiffe_id="spiffe://prod.example.com/ci/builder"' 'remote="127.0.0.1"'
call "https://127.0.0.1:$TP/eku/x" - -H "$X: $BUILDER_XFCC"
expect "trusted proxy, Cert: a rule on the EKU applies" 200 X-Rule=clients-eku
# The proxy's own certificate (ops) is not its client's.
call "https://127.0.0.1:$TP/ops/x" ops -H "$X: $BUILDER_XFCC"
expect "trusted proxy, Cert: the proxy's own certificate is not the identity" 403 \
    X-Reason=no_match X-Spiffe=spiffe://prod.example.com/ci/builder \
    'body={"error":"forbidden","reason":"no_match","rule":null}'
call "https://127.0.0.1:$TP/spiffe/x" - --http2 -H "$X: $ISTIO_XFCC"
expect "trusted proxy over HTTP/2, Istio's header: decided as the header says" 200 \
    X-Rule=builder-spiffe
call "http://127.0.0.1:$HP/spiffe/x" - -H "$X: $BUILDER_XFCC"
expect "trusted proxy over plain HTTP, Cert: decided as the certificate" 200 \
    X-Rule=builder-spiffe
call "http://localhost/spiffe/x" - --unix-socket "$SOCK" -H "$X: $BUILDER_XFCC"
expect "trusted proxy on a Unix socket (unix:), Cert: decided as the certificate" 200 \
    X-Rule=builder-spiffe

# Istio's header: a partial identity. The SPIFFE rule applies, the EKU rule never does.
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: $ISTIO_XFCC"
expect "trusted proxy, Istio's header: the SPIFFE rule allows" 200 X-Rule=builder-spiffe \
    X-Spiffe=spiffe://prod.example.com/ci/builder
record "trusted proxy, Istio's header: the record has what the header holds" \
    'decision="allow"' 'subject=""' 'issuer=null' 'serial=null' \
    "sha256=\"$(sha builder)\"" 'spiffe_id="spiffe://prod.example.com/ci/builder"'
call "https://127.0.0.1:$TP/eku/x" - -H "$X: $ISTIO_XFCC"
expect "trusted proxy, Istio's header: the EKU rule does not apply" 403 X-Reason=no_match \
    'body={"error":"forbidden","reason":"no_match","rule":null}'

# No header from a trusted proxy: its own certificate is not its client's.
call "https://127.0.0.1:$TP/ops/x" ops
expect "trusted proxy without the header: 401, whatever its own certificate" 401 \
    X-Reason=no_identity X-Spiffe= X-Subject= \
    'body={"error":"unauthorized","reason":"no_identity","rule":null}'
logged "a trusted proxy without the header is logged" \
    "mtlsauthz: no X-Forwarded-Client-Cert from a trusted proxy"

# Headers that do not parse, are ambiguous, or give a rejected identity.
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: By=spiffe://a/b;;URI=spiffe://prod.example.com/ci/builder"
expect "trusted proxy, a header that does not parse: 403 identity_rejected" 403 \
    X-Reason=identity_rejected X-Spiffe= \
    'body={"error":"forbidden","reason":"identity_rejected","rule":null}'
record "a header that does not parse: the record has no identity, and the core's message" \
    'decision="deny"' 'reason="identity_rejected"' 'subject=null' 'spiffe_id=null' 'sha256=null' \
    'status=403' \
    'detail="X-Forwarded-Client-Cert: an empty pair where Key=value belongs (element 1, byte 17)"'
logged "a header that does not parse is logged with the library's message" \
    "mtlsauthz: X-Forwarded-Client-Cert refused: "
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: Cert=%ZZ"
expect "trusted proxy, bad URL-encoding: 403 identity_rejected" 403 X-Reason=identity_rejected
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: Hash=$(sha ops);$BUILDER_CERT"
expect "trusted proxy, a Hash that is not the Cert's: 403 identity_rejected" 403 \
    X-Reason=identity_rejected
record "an identity the core read and rejected has no detail" 'reason="identity_rejected"' \
    'detail=null'
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: URI=spiffe://Prod.example.com/ci/builder"
expect "trusted proxy, an invalid SPIFFE ID: 403 identity_rejected" 403 \
    X-Reason=identity_rejected
call "https://127.0.0.1:$TP/spiffe/x" - -H "$X: $ISTIO_XFCC" -H "$X: $ISTIO_XFCC"
expect "trusted proxy, the header twice: 403 identity_rejected" 403 \
    X-Reason=identity_rejected X-Spiffe=
logged "the header twice is logged" "mtlsauthz: X-Forwarded-Client-Cert refused: sent 2 times"
record "the header twice: the record says why" 'reason="identity_rejected"' \
    'detail="2 X-Forwarded-Client-Cert header fields in one request; a proxy sends one"'
# The order of checks: a refused target is 400 before the identity is judged.
call "https://127.0.0.1:$TP/spiffe/a%2Fb" - -H "$X: $ISTIO_XFCC" -H "$X: $ISTIO_XFCC"
expect "trusted proxy, the header twice and a refused target: 400" 400 X-Reason=bad_target

# From a peer that is not trusted, the header is ignored: the TLS client certificate decides.
before=$(logged_count "X-Forwarded-Client-Cert ignored")
call "https://127.0.0.1:$UP/spiffe/x" - -H "$X: $BUILDER_XFCC"
expect "untrusted peer, no certificate: the header is ignored (401)" 401 X-Reason=no_identity \
    X-Spiffe=
after=$(logged_count "X-Forwarded-Client-Cert ignored: the peer 127.0.0.1 is not in mtlsauthz_xfcc_trusted")
if [ "$after" -eq $((before + 1)) ]; then ok "an ignored header is logged once per request"; else
    not_ok "an ignored header is logged once per request" "before=$before after=$after"
fi
call "https://127.0.0.1:$UP/spiffe/x" ops -H "$X: $BUILDER_XFCC"
expect "untrusted peer with a certificate: decided on the certificate (no_match)" 403 \
    X-Reason=no_match X-Subject="CN=alice,OU=ops,O=Example Corp" X-Spiffe=
call "https://127.0.0.1:$UP/ops/x" ops -H "$X: $ISTIO_XFCC" -H "$X: $ISTIO_XFCC"
expect "untrusted peer, the header twice: ignored, decided on the certificate" 200 \
    X-Rule=ops-read
call "https://127.0.0.1:$UP/spiffe/x" builder -H "$X: By=x;;"
expect "untrusted peer, a malformed header: ignored, the certificate allows" 200 \
    X-Rule=builder-spiffe
call "https://127.0.0.1:$TP/off/spiffe/x" - -H "$X: $BUILDER_XFCC"
expect "mtlsauthz_xfcc off in a location: the header is ignored (401)" 401 X-Reason=no_identity
# realip rewrites the client address from X-Forwarded-For; trust goes by the socket's peer.
call "http://127.0.0.1:$RP/spiffe/x" - -H "X-Forwarded-For: 10.1.2.3" -H "$X: $BUILDER_XFCC"
expect "a trusted address in X-Forwarded-For (realip) does not make the peer trusted" 401 \
    X-Reason=no_identity X-Remote=10.1.2.3

if grep -E '\[(alert|crit|emerg)\]|signal [0-9]+ \(SIG(SEGV|ABRT|BUS)' "$T/error.log" \
    > "$T/bad-lines"; then
    not_ok "no worker crashed and nothing was logged above error" "$(head -n 5 "$T/bad-lines")"
else
    ok "no worker crashed and nothing was logged above error"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
