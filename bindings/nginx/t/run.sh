#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Integration tests for ngx_http_mtlsauthz_module: a real nginx (the distribution's binary,
# loading the module with load_module) on loopback high ports, with its own prefix, config,
# pid and logs in a temporary directory, driven by curl with client certificates.
#
#   MTLSAUTHZ_NGINX_MODULE=.../ngx_http_mtlsauthz_module.so bindings/nginx/t/run.sh
#
# Optional: NGINX_BIN (default /usr/sbin/nginx), MTLSAUTHZ_TEST_CERTS (generated here if unset),
# MTLSAUTHZ_CLI (to compare nginx -t's message with the library's), KEEP=1 (keep the temp dir).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
# nginx reads inherited listening sockets from the NGINX environment variable.
unset NGINX
MODULE=${MTLSAUTHZ_NGINX_MODULE:?set MTLSAUTHZ_NGINX_MODULE to the built module}
CLI=${MTLSAUTHZ_CLI:-}

T=$(mktemp -d /tmp/mtlsauthz-nginx.XXXXXX)
# nginx workers run as an unprivileged user when the master is root: let them in.
chmod 755 "$T"
mkdir -m 755 "$T/tmp"

# shellcheck source=lib.sh
. "$here/lib.sh"

cleanup() {
    stop_nginx "$T/nginx.pid"
    stop_nginx "$T/example/logs/nginx.pid"
    stop_nginx "$T/drop.pid"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# ---- certificates ----

CERTS=${MTLSAUTHZ_TEST_CERTS:-}
if [ -z "$CERTS" ]; then
    CERTS=$T/certs
    "$top/tests/certs/gen-certs.sh" "$CERTS" >/dev/null
fi
# A self-signed certificate that claims the builder's SPIFFE ID: it is not signed by the test
# CA, so only "ssl_verify_client optional_no_ca" lets it through the handshake.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$T/untrusted.key" -out "$T/untrusted.pem" -subj "/O=Example Corp/CN=builder" \
    -addext "subjectAltName=URI:spiffe://prod.example.com/ci/builder" \
    -addext "extendedKeyUsage=clientAuth" 2>/dev/null
# A certificate of the test CA whose CN holds U+009B, the 8-bit CSI that a terminal showing the
# log could obey ("csi<CSI>31m red").
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/c1.key" -utf8 \
    -subj "/O=Example Corp/CN=csi$(printf '\xc2\x9b')31m red" -out "$T/c1.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
    > "$T/c1.ext"
openssl x509 -req -in "$T/c1.csr" -CA "$CERTS/int.pem" -CAkey "$CERTS/int.key" \
    -CAserial "$T/c1.srl" -CAcreateserial -days 2 -extfile "$T/c1.ext" -out "$T/c1.pem" 2>/dev/null
cat "$T/c1.pem" "$CERTS/int.pem" > "$T/c1-chain.pem"
# A production CA and a partner CA, each with a builder SVID (bindings/nginx/t/two-cas.sh).
S=$T/two-cas
"$here/two-cas.sh" "$S" >/dev/null 2>&1 || { echo "two-cas.sh failed" >&2; exit 1; }

# ---- ports, policies, config ----

read -r P1 P2 P3 P4 P5 PU < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# Every policy of a location that derives operations from requests declares "protocol: http"
# (the example policy, until it does too, gets the key here).
cp "$top/examples/policy.yaml" "$T/story.yaml"
grep -q '^protocol:' "$T/story.yaml" || sed -i -e '/^version: 1$/a protocol: http' "$T/story.yaml"
cat > "$T/b.yaml" <<'EOF'
version: 1
protocol: http
principals:
  - name: ops
    ou: [ops]
rules:
  - id: ops-b
    effect: allow
    principals: [ops]
    operations: ["GET /b/**"]
EOF
# A broad allow and a narrower deny on GET, for HEAD.
cat > "$T/head.yaml" <<'EOF'
version: 1
protocol: http
rules:
  - id: open
    effect: allow
    principals: ["*"]
    operations: ["* /h/**", "* /cache/**"]
  - id: no-secret
    effect: deny
    principals: ["*"]
    operations: ["GET /h/secret", "GET /cache/secret", "GET /h/*/secret"]
EOF
# Named operations, for mtlsauthz_operation: a policy of any protocol.
cat > "$T/custom.yaml" <<'EOF'
version: 1
principals:
  - name: builder
    spiffe: ["spiffe://prod.example.com/ci/builder"]
rules:
  - id: custom-build
    effect: allow
    principals: [builder]
    operations: ["custom:build"]
EOF
cat > "$T/sni.yaml" <<'EOF'
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
# Rule ids are printable text: quotes and backslashes reach bodies, records and labels.
cat > "$T/odd.yaml" <<'EOF'
version: 1
protocol: http
rules:
  - id: 'odd "quoted" \ rule'
    effect: deny
    principals: ["*"]
    operations: ["GET /odd/**"]
EOF
reload_policy() { # reload_policy RULE_ID PATH
    printf 'version: 1\nprotocol: http\nrules:\n  - id: %s\n    effect: allow\n    principals: ["*"]\n    operations: ["GET %s"]\n' \
        "$1" "$2" > "$T/reload.yaml"
}
reload_policy v1 /reload/one

# The two-CA servers share these.
tls="ssl_certificate $S/server.pem; ssl_certificate_key $S/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;"
authz="mtlsauthz_policy $T/sni.yaml;
        mtlsauthz on;
        add_header X-Reason \$mtlsauthz_reason always;
        add_header X-Spiffe \$mtlsauthz_spiffe_id always;
        add_header X-Sni \$ssl_server_name always;
        location / { proxy_pass http://127.0.0.1:$PU; }
        location /vars/ { mtlsauthz off; proxy_pass http://127.0.0.1:$PU; }"

# authz_server PORT NAME DEPTH [DIRECTIVES]: a server block that trusts the production CA, with
# mtlsauthz on
authz_server() {
    cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl;
        server_name $2;
        $tls
        ssl_client_certificate $S/prod.pem;
        ssl_verify_client optional;
        ssl_verify_depth $3;
        ${4:-}
        $authz
    }
EOF
}

# The README's log_format for the decision log, as a user would paste it.
json_format=$(sed -n '/^log_format mtlsauthz_json/,/;$/p' "$here/../README.md")
[ -n "$json_format" ] || { echo "no 'log_format mtlsauthz_json' in the README" >&2; exit 1; }
mkdir -m 755 "$T/html"
echo "the user's own page" > "$T/html/denied.html"

# write_conf FILE [EXTRA_SERVER_DIRECTIVES [EXTRA_LOCATION]]; ZONE sets mtlsauthz_metrics_zone
ZONE=1m
write_conf() {
    set -- "$1" "${2:-}" "${3:-}"
    cat > "$1" <<EOF
load_module $MODULE;
# two workers, which count into one shared zone
worker_processes 2;
error_log $T/error.log debug;
pid $T/nginx.pid;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    proxy_cache_path $T/tmp/cache keys_zone=cache:1m;
    log_format mtls '\$request_method \$request_uri \$status d=\$mtlsauthz_decision'
                    ' r=\$mtlsauthz_rule why=\$mtlsauthz_reason'
                    ' spiffe=\$mtlsauthz_spiffe_id dns=\$mtlsauthz_san_dns';
    $json_format
    mtlsauthz_metrics_zone $ZONE;

    # The upstream: echoes what it received; "ok" for the HTTP contract's cases. It serves the
    # metrics too.
    server {
        listen 127.0.0.1:$PU;
        add_header X-Upstream-Method \$request_method;
        if (\$http_x_contract) { return 200 "ok\n"; }
        location / { return 200 "upstream \$request_method \$request_uri\n"; }
        location = /metrics { mtlsauthz_metrics; }
    }

    # The HTTP contract (docs/http.md), case by case (contract.py), with ssl_verify_client
    # optional so that the module answers for a missing certificate.
    server {
        listen 127.0.0.1:$P5 ssl;
        ssl_certificate $CERTS/server-chain.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_client_certificate $CERTS/ca.pem;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        error_log $T/contract-error.log info;
        access_log $T/contract-access.log mtlsauthz_json if=\$mtlsauthz_decision;
        mtlsauthz_policy $T/story.yaml;
        mtlsauthz on;
        mtlsauthz_metrics_location contract;
        location / {
            proxy_set_header X-Contract 1;
            proxy_pass http://127.0.0.1:$PU;
        }
    }

    server {
        listen 127.0.0.1:$P1 ssl http2;
        ssl_certificate $CERTS/server-chain.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_client_certificate $CERTS/ca.pem;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        access_log $T/access.log mtls;

        mtlsauthz_policy $T/story.yaml;
        mtlsauthz on;

        add_header X-Decision \$mtlsauthz_decision always;
        add_header X-Rule \$mtlsauthz_rule always;
        add_header X-Reason \$mtlsauthz_reason always;
        add_header X-Spiffe \$mtlsauthz_spiffe_id always;
        add_header X-San-Dns \$mtlsauthz_san_dns always;
        add_header X-Dry-Run \$mtlsauthz_dry_run always;
        add_header X-Operation \$mtlsauthz_operation always;
        add_header X-Status \$mtlsauthz_status always;
        add_header X-Detail \$mtlsauthz_detail always;
        add_header X-Subject \$mtlsauthz_subject always;
        add_header X-Issuer \$mtlsauthz_issuer always;
        add_header X-Serial \$mtlsauthz_serial always;
        add_header X-Sha256 \$mtlsauthz_sha256 always;
        $2

        location / { proxy_pass http://127.0.0.1:$PU; }
        location /b/ {
            mtlsauthz_policy b.yaml;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /custom/ {
            mtlsauthz_policy custom.yaml;
            mtlsauthz_operation "custom:\$arg_action";
            proxy_pass http://127.0.0.1:$PU;
        }
        location /host/ {
            mtlsauthz_dry_run on;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /open/ {
            mtlsauthz off;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /allowed-ip/ {
            allow 127.0.0.1;
            deny all;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /ep/ {
            error_page 403 = /denied;
            proxy_pass http://127.0.0.1:$PU;
        }
        location = /denied {
            mtlsauthz off;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /ep-page/ {
            error_page 401 403 /denied.html;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /ep-other/ {
            error_page 404 /denied.html;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /ep-checked/ {
            error_page 403 /ep-checked/page.html;
            proxy_pass http://127.0.0.1:$PU;
        }
        location = /denied.html {
            mtlsauthz off;
            root $T/html;
        }
        location /h/quiet/ {
            mtlsauthz_policy head.yaml;
            mtlsauthz_log_level deny=error allow=notice;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /h/silent/ {
            mtlsauthz_policy head.yaml;
            mtlsauthz_log_level allow=off;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /h/burst/ {
            mtlsauthz_policy head.yaml;
            mtlsauthz_metrics_location burst;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /odd/ {
            mtlsauthz_policy odd.yaml;
            mtlsauthz_metrics_location 'odd "label" \\\\ here';
            proxy_pass http://127.0.0.1:$PU;
        }
        location /h/ {
            mtlsauthz_policy head.yaml;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /cache/ {
            mtlsauthz_policy head.yaml;
            proxy_cache cache;
            proxy_pass http://127.0.0.1:$PU;
        }
        location /reload/ {
            mtlsauthz_policy $T/reload.yaml;
            proxy_pass http://127.0.0.1:$PU;
        }
        $3
    }

    server {
        listen 127.0.0.1:$P2 ssl;
        ssl_certificate $CERTS/server-chain.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_client_certificate $CERTS/ca.pem;
        ssl_verify_client optional_no_ca;
        ssl_verify_depth 2;
        mtlsauthz_policy $T/story.yaml;
        mtlsauthz on;
        add_header X-Reason \$mtlsauthz_reason always;
        add_header X-Spiffe \$mtlsauthz_spiffe_id always;
        location / { proxy_pass http://127.0.0.1:$PU; }
    }

    # Two server blocks on one listening socket: the default one trusts the partner CA, the
    # protected one only the production CA.
    server {
        listen 127.0.0.1:$P3 ssl http2 default_server;
        server_name partner.example;
        $tls
        ssl_client_certificate $S/partner.pem;
        ssl_verify_client optional;
        add_header X-Spiffe \$mtlsauthz_spiffe_id always;
        location / { return 200 "partner server\n"; }
    }
$(authz_server "$P3" docker.example 2)
    # No certificate of its own, so no SSL context of its own: SNI never switches to it.
    server {
        listen 127.0.0.1:$P3 ssl;
        server_name noctx.example;
        ssl_client_certificate $S/prod.pem;
        ssl_verify_client optional;
        $authz
    }

    # A default server that trusts both CAs, in front of servers that trust production only,
    # each with its own verification settings.
    server {
        listen 127.0.0.1:$P4 ssl default_server;
        server_name gateway.example;
        $tls
        ssl_client_certificate $S/both.pem;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        location / { return 200 "gateway server\n"; }
    }
$(authz_server "$P4" docker.example 2)
$(authz_server "$P4" strict.example 0)
$(authz_server "$P4" revoked.example 2 "ssl_crl $S/crl.pem;")
$(authz_server "$P4" ocsp.example 2 \
    "ssl_ocsp on; ssl_ocsp_responder http://127.0.0.1:$PU/;")
    server {
        listen 127.0.0.1:$P4 ssl;
        server_name noverify.example;
        $tls
        $authz
    }
}
EOF
}

# ---- helpers ----

# call PORT CERT METHOD PATH [CURL_ARGS...]: sets STATUS and BODY; hdr NAME (lib.sh) reads a
# header.
# CERT is a test certificate name, "untrusted", or "-" for none.
call() {
    local port=$1 cert=$2 method=$3 path=$4
    shift 4
    local args=(-s --path-as-is --cacert "$CERTS/ca.pem" -X "$method" -o "$T/body"
        -D "$T/headers" -w '%{http_code}')
    case $cert in
    -) ;;
    untrusted) args+=(--cert "$T/untrusted.pem" --key "$T/untrusted.key") ;;
    c1) args+=(--cert "$T/c1-chain.pem" --key "$T/c1.key") ;;
    *) args+=(--cert "$CERTS/$cert-chain.pem" --key "$CERTS/$cert.key") ;;
    esac
    : > "$T/headers"
    : > "$T/body"
    STATUS=$(curl "${args[@]}" "$@" "https://127.0.0.1:$port$path")
    BODY=$(cat "$T/body")
}

# contains DESC FILE TEXT
contains() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else not_ok "$1" "no '$3' in $2" "$(tail -n 5 "$2")"; fi
}

# record DESC LEVEL TEXT: a decision record in the error log, at LEVEL, that contains TEXT
record() {
    if grep -F -- " mtlsauthz: {" "$T/error.log" | grep -F -- "$3" | grep -F -- "[$2]" >/dev/null; then
        ok "$1"
    else
        not_ok "$1" "no record at [$2] with '$3'" \
            "$(grep -F -- " mtlsauthz: {" "$T/error.log" | grep -F -- "$3" | head -n 3)"
    fi
}

# last_record TEXT KEY: KEY of the last decision record that contains TEXT, parsed as JSON
last_record() {
    grep -F -- " mtlsauthz: {" "$T/error.log" | grep -F -- "$1" | tail -n 1 | python3 -c '
import json, sys
line = sys.stdin.read()
doc, end = json.JSONDecoder().raw_decode(line[line.index(" mtlsauthz: {") + 12:])
print(doc[sys.argv[1]])' "$2"
}

# no_record DESC TEXT: no decision record contains TEXT
no_record() {
    if grep -F -- " mtlsauthz: {" "$T/error.log" | grep -F -- "$2" >/dev/null; then
        not_ok "$1" "$(grep -F -- " mtlsauthz: {" "$T/error.log" | grep -F -- "$2" | head -n 3)"
    else
        ok "$1"
    fi
}

# fingerprint NAME KEY: a value of the library's rendering of a test certificate
fingerprint() {
    "$CLI" identity --format json "$CERTS/$1.pem" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print({"subject": doc["subject"]["dn"], "issuer": doc["issuer"]["dn"]}.get(sys.argv[1], doc.get(sys.argv[1])))' "$2"
}

# metrics: the metrics location's text, checked and normalized by prom.py, into $T/metrics
metrics() {
    : > "$T/metrics"
    if ! curl -s -o "$T/metrics.txt" "http://127.0.0.1:$PU/metrics"; then
        not_ok "the metrics location answers"
        return 1
    fi
    if ! python3 "$here/prom.py" < "$T/metrics.txt" > "$T/metrics" 2> "$T/metrics.err"; then
        not_ok "the metrics parse as Prometheus text" "$(cat "$T/metrics.err")"
        return 1
    fi
}

# series DESC TEXT WANT: the samples of $T/metrics that contain TEXT are exactly WANT's lines
series() {
    local got want
    got=$(grep -F -- "$2" "$T/metrics" | sort)
    want=$(sort <<<"$3")
    if [ "$got" = "$want" ]; then ok "$1"; else not_ok "$1" "got:" "$got" "want:" "$want"; return 1; fi
}

# sample NAME: the value of one sample line of $T/metrics, by its name and labels
sample() {
    grep -F -- "$1 " "$T/metrics" | head -n 1 | awk '{ print $NF }'
}

N() { "$nginx_bin" -p "$T/" -e "$T/startup.log" "$@"; }

# ---- configuration-time checks (nginx -t) ----

write_conf "$T/nginx.conf"
if out=$(N -t -c "$T/nginx.conf" 2>&1); then ok "nginx -t accepts the test configuration"; else
    not_ok "nginx -t accepts the test configuration" "$out"
fi
if grep -qF 'does not declare "protocol: http"' <<<"$out"; then
    not_ok "nginx -t gives no protocol warning for the test configuration" "$out"
else
    ok "nginx -t gives no protocol warning for the test configuration"
fi

# A location that derives operations from requests, with a policy that does not declare
# "protocol: http", gets a warning; one with mtlsauthz_operation does not.
cp "$T/custom.yaml" "$T/any.yaml"
write_conf "$T/warn.conf" "" "location /w/ { mtlsauthz_policy any.yaml; }"
out=$(N -t -c "$T/warn.conf" 2>&1)
rc=$?
want="[warn] mtlsauthz_policy \"$T/any.yaml\" does not declare \"protocol: http\", but location \"/w/\" derives operations from requests: add \"protocol: http\" to the policy"
if [ $rc -eq 0 ] && grep -qF -- "$want" <<<"$out" && grep -qF 'docs/policy.md' <<<"$out"; then
    ok "nginx -t warns when a policy for request operations does not declare protocol: http"
else
    not_ok "nginx -t warns when a policy for request operations does not declare protocol: http" \
        "rc=$rc" "$out"
fi
write_conf "$T/nowarn.conf" "" \
    "location /w/ { mtlsauthz_policy any.yaml; mtlsauthz_operation \"custom:\$arg_x\"; }"
out=$(N -t -c "$T/nowarn.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ] && ! grep -qF '[warn]' <<<"$out"; then
    ok "nginx -t does not warn for a location with mtlsauthz_operation"
else
    not_ok "nginx -t does not warn for a location with mtlsauthz_operation" "rc=$rc" "$out"
fi

printf 'version: 1\nprincipals:\n  - name: ops\n    ou: [ops]\nrules:\n  - id: a\n    effect: allow\n    principals: [nobody]\n    operations: ["GET /x"]\n' \
    > "$T/bad.yaml"
write_conf "$T/bad.conf" "" "location /bad/ { mtlsauthz_policy $T/bad.yaml; }"
out=$(N -t -c "$T/bad.conf" 2>&1)
rc=$?
# PATH:LINE:COLUMN: text, the path once, at the reference in the rule (docs/policy.md, "Errors").
want="mtlsauthz_policy: $T/bad.yaml:8:18: rule 'a': undefined principal 'nobody' (defined: ops) in $T/bad.conf:"
if [ -n "$CLI" ]; then
    # The library's own message, as the CLI prints it: "PATH:LINE:COL: error: text".
    cli_want=$("$CLI" lint "$T/bad.yaml" 2>&1 | sed -e "s|: error: |: |")
    if [ "mtlsauthz_policy: $cli_want in $T/bad.conf:" != "$want" ]; then
        not_ok "the CLI and nginx print the same load error" "$cli_want"
    fi
fi
if [ $rc -ne 0 ] && grep -qF -- "$want" <<<"$out" &&
    [ "$(grep -F "$want" <<<"$out" | grep -oF "$T/bad.yaml" | wc -l)" -eq 1 ]; then
    ok "nginx -t fails on a bad policy with the library's message"
else
    not_ok "nginx -t fails on a bad policy with the library's message" "rc=$rc" "$out" "want: $want"
fi

write_conf "$T/nopolicy.conf" "" "location /np/ { }"
sed -i -e "s|^        mtlsauthz_policy $T/story.yaml;||" "$T/nopolicy.conf"
out=$(N -t -c "$T/nopolicy.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF '"mtlsauthz on" without "mtlsauthz_policy"' <<<"$out"; then
    ok "nginx -t refuses mtlsauthz on without a policy"
else
    not_ok "nginx -t refuses mtlsauthz on without a policy" "rc=$rc" "$out"
fi

write_conf "$T/any.conf" "" "location /any/ { satisfy any; allow 127.0.0.1; deny all; }"
out=$(N -t -c "$T/any.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'cannot be combined with "satisfy any" in location "/any/"' <<<"$out"; then
    ok "nginx -t refuses satisfy any in a location with mtlsauthz on"
else
    not_ok "nginx -t refuses satisfy any in a location with mtlsauthz on" "rc=$rc" "$out"
fi

write_conf "$T/any-srv.conf" "satisfy any;"
out=$(N -t -c "$T/any-srv.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'cannot be combined with "satisfy any"' <<<"$out"; then
    ok "nginx -t refuses satisfy any inherited from the server"
else
    not_ok "nginx -t refuses satisfy any inherited from the server" "rc=$rc" "$out"
fi

write_conf "$T/any-dry.conf" "" \
    "location /any/ { satisfy any; allow 127.0.0.1; deny all; mtlsauthz_dry_run on; }"
if out=$(N -t -c "$T/any-dry.conf" 2>&1); then
    ok "nginx -t accepts satisfy any in dry-run mode (nothing to override)"
else
    not_ok "nginx -t accepts satisfy any in dry-run mode (nothing to override)" "$out"
fi

# mtlsauthz_log_level and mtlsauthz_metrics_zone refuse what they cannot use.
write_conf "$T/level.conf" "" "location /lv/ { mtlsauthz_log_level deny=loud; }"
out=$(N -t -c "$T/level.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'invalid level "loud" in "deny=loud": use error, warn, notice, info, debug or off' <<<"$out"; then
    ok "nginx -t refuses an unknown log level"
else
    not_ok "nginx -t refuses an unknown log level" "rc=$rc" "$out"
fi
write_conf "$T/level2.conf" "" "location /lv/ { mtlsauthz_log_level warn; }"
out=$(N -t -c "$T/level2.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'invalid parameter "warn": give deny=LEVEL and/or allow=LEVEL' <<<"$out"; then
    ok "nginx -t refuses a log level without deny= or allow="
else
    not_ok "nginx -t refuses a log level without deny= or allow=" "rc=$rc" "$out"
fi
ZONE=8k write_conf "$T/zone.conf"
out=$(N -t -c "$T/zone.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'mtlsauthz_metrics_zone of 8192 bytes is too small: give it at least 32768' <<<"$out"; then
    ok "nginx -t refuses a metrics zone too small to hold a table"
else
    not_ok "nginx -t refuses a metrics zone too small to hold a table" "rc=$rc" "$out"
fi

ZONE=2048m write_conf "$T/zone.conf"
out=$(N -t -c "$T/zone.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF 'mtlsauthz_metrics_zone of 2147483648 bytes is too large: give it at most 1073741824' <<<"$out"; then
    ok "nginx -t refuses a metrics zone too large for its offsets"
else
    not_ok "nginx -t refuses a metrics zone too large for its offsets" "rc=$rc" "$out"
fi

# The module exports only what nginx loads (README, "Linking").
exports=$(nm -D --defined-only "$MODULE" | awk '{ print $3 }' | sort | tr '\n' ' ')
if [ "$exports" = "ngx_http_mtlsauthz_module ngx_module_names ngx_module_order ngx_modules " ]; then
    ok "the module exports only its module symbols"
else
    not_ok "the module exports only its module symbols" "$exports"
fi

# ---- a running nginx ----

started=$(date +%s.%N)
if ! N -c "$T/nginx.conf"; then
    not_ok "nginx starts" "$(cat "$T/startup.log" "$T/error.log" 2>/dev/null | tail -n 20)"
    echo "$pass passed, $fail failed"
    exit 1
fi
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PU/" && break
    sleep 0.1
done
ok "nginx starts with the module loaded"

# Allow and deny per location, with the story policy at the server level.
call "$P1" builder POST /images/build
expect "builder may build (story policy)" 200 "body=upstream POST /images/build" \
    X-Decision=allow X-Rule=build-images X-Reason=allowed \
    X-Spiffe=spiffe://prod.example.com/ci/builder X-San-Dns=

call "$P1" builder POST /containers/abc/exec
expect "builder may not exec (deny rule)" 403 X-Decision=deny X-Rule=no-container-escape \
    X-Reason=denied X-Status=403 "X-Operation=POST /containers/abc/exec" X-Dry-Run= \
    "X-Subject=$(fingerprint builder subject)" "X-Issuer=$(fingerprint builder issuer)" \
    "X-Serial=$(fingerprint builder serial)" "X-Sha256=$(fingerprint builder sha256)" \
    'body={"error":"forbidden","reason":"denied","rule":"no-container-escape"}'
record "a deny is logged at warn, with the rule and the identity" warn \
    '{"decision":"deny","reason":"denied","rule":"no-container-escape","dry_run":[],"operation":"POST /containers/abc/exec","status":403,"spiffe_id":"spiffe://prod.example.com/ci/builder","subject":"CN=builder,O=Example Corp"'

call "$P1" ops POST /images/build
expect "ops may not build (no matching rule)" 403 X-Decision=deny X-Rule= X-Reason=no_match \
    X-Spiffe= "X-Subject=CN=alice,OU=ops,O=Example Corp" \
    'body={"error":"forbidden","reason":"no_match","rule":null}'
record "a no-match deny names the subject" warn \
    '"reason":"no_match","rule":null,"dry_run":[],"operation":"POST /images/build","status":403,"spiffe_id":null,"subject":"CN=alice,OU=ops,O=Example Corp"'

call "$P1" ops GET /containers
expect "ops may list containers" 200 "body=upstream GET /containers" X-Rule=ops-read X-Status=
record "an allow is logged at info" info \
    '{"decision":"allow","reason":"allowed","rule":"ops-read","dry_run":[],"operation":"GET /containers","status":null,'

call "$P1" ops GET /containers/abc/logs
expect "a dry-run deny rule does not change the decision" 200 X-Rule=ops-read \
    X-Dry-Run=watch-logs "X-Operation=GET /containers/abc/logs" X-Status=
record "an allow with a dry-run match is logged at warn" warn \
    '{"decision":"allow","reason":"allowed","rule":"ops-read","dry_run":["watch-logs"],"operation":"GET /containers/abc/logs","status":null,'

call "$P1" plain GET /healthz
expect "any verified client may check health" 200 X-Rule=health

call "$P1" builder GET /b/data
expect "a location with another policy denies the builder" 403 X-Reason=no_match
call "$P1" ops GET /b/data
expect "a location with another policy allows ops" 200 "body=upstream GET /b/data" X-Rule=ops-b
call "$P1" ops GET /containers
expect "the server-level policy still applies next to it" 200 X-Rule=ops-read

# The canonical operation comes from the raw target, so what the upstream sees is what was
# authorized; targets it refuses get 400 and never reach the upstream.
call "$P1" builder POST /containers/abc/%65xec
expect "a percent-encoded exec is still exec" 403 X-Rule=no-container-escape
call "$P1" builder POST /containers/abc/exec/
expect "a trailing slash does not dodge the deny" 403 X-Rule=no-container-escape
call "$P1" plain GET /healthz?verbose=1
expect "the query is not part of the operation" 200 "body=upstream GET /healthz?verbose=1" \
    X-Rule=health
call "$P1" builder POST /containers/abc%2Fexec
expect "an encoded slash is refused" 400 X-Reason=bad_target X-Operation= X-Status=400 \
    "X-Detail=HTTP request refused: encoded '/' in path" \
    'body={"error":"bad_request","reason":"bad_target","rule":null}'
call "$P1" plain GET /x/../healthz
expect "a dot segment is refused" 400
call "$P1" plain GET //healthz
expect "an empty segment is refused" 400
record "a refused target is logged at warn, with the core's message" warn \
    '"reason":"bad_target","rule":null,"dry_run":[],"operation":null,"status":400,"spiffe_id":null,"subject":"CN=plain",'
record "and the core's message is its detail" warn \
    '"detail":"HTTP request refused: dot segment in path"}'

# HEAD is decided as GET: a deny on GET holds for HEAD, which proxy_cache sends upstream as GET.
call "$P1" builder GET /h/secret
expect "a deny on GET denies GET" 403 X-Rule=no-secret X-Reason=denied
call "$P1" builder HEAD /h/secret -I
expect "a deny on GET denies HEAD" 403 X-Rule=no-secret X-Reason=denied
call "$P1" builder HEAD /h/open -I
expect "HEAD is allowed where GET is" 200 X-Rule=open X-Upstream-Method=HEAD
call "$P1" builder HEAD /cache/open -I
expect "through proxy_cache, an allowed HEAD reaches the upstream as GET" 200 X-Rule=open \
    X-Upstream-Method=GET
call "$P1" builder HEAD /cache/secret -I
expect "through proxy_cache, a HEAD for a denied GET is denied" 403 X-Rule=no-secret

# A custom operation.
call "$P1" builder GET "/custom/x?action=build"
expect "a custom operation allows" 200 X-Rule=custom-build
call "$P1" builder GET "/custom/x?action=push"
expect "a custom operation denies" 403 X-Reason=no_match
call "$P1" ops GET "/custom/x?action=build"
expect "a custom operation is matched with the identity" 403 X-Reason=no_match

# No certificate, and an unverified one.
call "$P1" - GET /healthz
expect "no client certificate gives 401" 401 X-Decision=deny X-Reason=no_identity X-Spiffe= \
    X-Subject= X-Status=401 'body={"error":"unauthorized","reason":"no_identity","rule":null}'
contains "the missing certificate is logged" "$T/error.log" \
    'mtlsauthz: no verified client certificate: no client certificate'
call "$P1" - GET /containers/abc%2Fexec
expect "no certificate is answered before a refused target (docs/http.md, order of checks)" \
    401 X-Reason=no_identity X-Operation= \
    "X-Detail=HTTP request refused: encoded '/' in path"
call "$P2" untrusted GET /healthz
expect "an unverified certificate (optional_no_ca) gives 401" 401 X-Reason=no_identity \
    X-Spiffe= X-Subject=
contains "the verification failure is logged" "$T/error.log" \
    'mtlsauthz: no verified client certificate: self-signed certificate'
record "an unverified certificate's names are not in the record" warn \
    '"reason":"no_identity","rule":null,"dry_run":[],"operation":"GET /healthz","status":401,"spiffe_id":null,"subject":null,"issuer":null,"serial":null,"sha256":null,'
call "$P2" builder POST /images/build
expect "a verified certificate passes on the optional_no_ca server" 200 \
    X-Spiffe=spiffe://prod.example.com/ci/builder

# A rejected identity is denied even what "*" may do.
call "$P1" spiffe-two-uri GET /healthz
expect "a rejected identity is denied even a '*' rule" 403 X-Reason=identity_rejected \
    'body={"error":"forbidden","reason":"identity_rejected","rule":null}'

# Variables.
call "$P1" dns-wild GET /healthz
expect "\$mtlsauthz_san_dns lists the DNS SANs" 200 X-San-Dns=a.b.example.com,example.com
call "$P1" full GET /healthz
expect "\$mtlsauthz_san_dns keeps the names as issued" 200 \
    X-San-Dns=web.example.com,API.Example.COM
contains "log_format sees the decision variables" "$T/access.log" \
    'POST /containers/abc/exec 403 d=deny r=no-container-escape why=denied spiffe=spiffe://prod.example.com/ci/builder dns=-'
contains "log_format sees \$mtlsauthz_san_dns" "$T/access.log" \
    'GET /healthz 200 d=allow r=health why=allowed spiffe=- dns=a.b.example.com,example.com'

# Dry run and off.
call "$P1" builder GET /host/etc/passwd
expect "dry run logs a deny but lets the request through" 200 \
    "body=upstream GET /host/etc/passwd" X-Decision=deny X-Rule=no-container-escape X-Status=
record "a dry-run deny is logged as a deny, with a null status" warn \
    '{"decision":"deny","reason":"denied","rule":"no-container-escape","dry_run":[],"operation":"GET /host/etc/passwd","status":null,'
call "$P1" - GET /open/x
expect "mtlsauthz off lets a request without a certificate through" 200 X-Decision= \
    X-Operation= X-Status=
call "$P1" builder GET /open/x
expect "identity variables work where mtlsauthz is off" 200 \
    X-Spiffe=spiffe://prod.example.com/ci/builder "X-Subject=CN=builder,O=Example Corp" \
    X-Decision= X-Operation=

# The decision variables survive the internal redirect of an error_page.
call "$P1" builder GET /ep/x
expect "an error_page location still sees the decision" 200 "body=upstream GET /denied" \
    X-Decision=deny X-Reason=no_match X-Spiffe=spiffe://prod.example.com/ci/builder

# satisfy all (the default): another access module's allow does not override a deny.
call "$P1" builder POST /allowed-ip/x
expect "an 'allow' for the client address does not override the deny" 403 X-Reason=no_match

# Names with DN escapes, quotes and backslashes, and beyond ASCII, stay JSON in the records.
for cert in dn-special bmp-cn; do
    call "$P1" "$cert" GET "/names/$cert"
    got=$(last_record "\"operation\":\"GET /names/$cert\"" subject 2>&1)
    want=$(fingerprint "$cert" subject)
    if [ "$got" = "$want" ]; then
        ok "$cert: the record's subject is the library's DN"
    else
        not_ok "$cert: the record's subject is the library's DN" "got:  $got" "want: $want"
    fi
done
call "$P1" c1 GET /names/c1
got=$(last_record '"operation":"GET /names/c1"' subject 2>&1)
want=$("$CLI" identity --format json "$T/c1.pem" | python3 -c 'import json, sys; print(json.load(sys.stdin)["subject"]["dn"])')
if [ "$got" = "$want" ] && grep -F '"operation":"GET /names/c1"' "$T/error.log" | grep -F 'csi\u009b31m' >/dev/null &&
    ! grep -F '"operation":"GET /names/c1"' "$T/error.log" | grep "$(printf '\xc2\x9b')" >/dev/null; then
    ok "a C1 control in a name is escaped in the record, and the same name"
else
    not_ok "a C1 control in a name is escaped in the record, and the same name" "got:  $got" \
        "want: $want"
fi
# A record too long for an error-log line is cut, and says so, and still parses.
long_target=/names/long-$(printf 'a%.0s' $(seq 2000))
call "$P1" plain GET "$long_target"
got=$(last_record '"operation":"GET /names/long-aaaa' truncated 2>&1)
op=$(last_record '"operation":"GET /names/long-aaaa' operation 2>&1)
if [ "$STATUS" = 403 ] && [ "$got" = True ] && [ "$op" = "GET /names/long-$(printf 'a%.0s' $(seq 48))..." ]; then
    ok "a record longer than an error-log line is cut to JSON that says so"
else
    not_ok "a record longer than an error-log line is cut to JSON that says so" "status $STATUS" \
        "truncated: $got" "operation: $op"
fi
call "$P1" builder GET /odd/x
expect "a rule id with quotes and a backslash is JSON in the body" 403 \
    'body={"error":"forbidden","reason":"denied","rule":"odd \"quoted\" \\ rule"}'
got=$(last_record '"operation":"GET /odd/x"' rule 2>&1)
if [ "$got" = 'odd "quoted" \ rule' ]; then ok "and in the record"; else not_ok "and in the record" "$got"; fi

# The module's bodies give way to the user's error_page for the status, and only to it.
call "$P1" builder GET /ep-page/x
expect "a user's error_page 403 is served instead of the module's body" 403 \
    "body=the user's own page" Content-Type=text/html X-Reason=no_match
call "$P1" - GET /ep-page/x
expect "a user's error_page 401 is served instead of the module's body" 401 \
    "body=the user's own page" X-Reason=no_identity
call "$P1" builder GET /ep-other/x
expect "an error_page for another status leaves the module's body" 403 \
    'body={"error":"forbidden","reason":"no_match","rule":null}' Content-Type=application/json \
    Cache-Control=no-store X-Content-Type-Options=nosniff
call "$P1" builder GET /ep-checked/x
expect "an error page that mtlsauthz denies too gets the module's body" 403 \
    'body={"error":"forbidden","reason":"no_match","rule":null}'

# mtlsauthz_log_level: the decision records at the levels a location sets.
call "$P1" builder GET /h/quiet/secret
expect "a deny in a location with its own log levels" 403 X-Rule=no-secret
record "is logged at the level set for denies" error \
    '"reason":"denied","rule":"no-secret","dry_run":[],"operation":"GET /h/quiet/secret"'
call "$P1" builder GET /h/quiet/open
expect "an allow there" 200 X-Rule=open
record "is logged at the level set for allows" notice \
    '"reason":"allowed","rule":"open","dry_run":[],"operation":"GET /h/quiet/open"'
call "$P1" builder GET /h/silent/open
expect "an allow where allows are off" 200 X-Rule=open
no_record "is not logged" '"operation":"GET /h/silent/open"'
call "$P1" builder GET /h/silent/secret
expect "a deny there" 403 X-Rule=no-secret
record "is logged at the default level, warn" warn '"operation":"GET /h/silent/secret"'

# The HTTP contract of docs/http.md, every case of the shared fixture.
python3 "$here/contract.py" --port "$P5" --certs "$CERTS" \
    --fixture "$top/tests/data/http-contract/cases.json" \
    --access-log "$T/contract-access.log" --error-log "$T/contract-error.log" \
    --cli "$CLI" --tmp "$T/contract" > "$T/contract.out" 2>&1
cat "$T/contract.out"
pass=$((pass + $(grep -c '^ok - ' "$T/contract.out")))
fail=$((fail + $(grep -c '^FAIL - ' "$T/contract.out")))
if [ "$(grep -c '^ok - ' "$T/contract.out")" -eq 0 ]; then
    not_ok "contract.py ran" "$(tail -n 5 "$T/contract.out")"
fi

# The metrics after the fixture: one decision per case, by the fixture's own record.
contract_want=$(python3 -c '
import collections, json, sys
cases = json.load(open(sys.argv[1]))["cases"]
n = collections.Counter()
for c in cases:
    log = c["log"]
    n[(log["decision"], log["reason"], log["rule"] or "")] += 1
    for rule in log["dry_run"]:
        n[("dry_run", rule)] += 1
for k, v in sorted(n.items()):
    if k[0] == "dry_run":
        print(f"mtlsauthz_dry_run_matches_total{{location=\"contract\",rule=\"{k[1]}\"}} {v}")
    else:
        print(f"mtlsauthz_decisions_total{{decision=\"{k[0]}\",location=\"contract\",reason=\"{k[1]}\",rule=\"{k[2]}\"}} {v}")
' "$top/tests/data/http-contract/cases.json")
if metrics; then
    ok "the metrics parse as Prometheus text"
    series "the fixture's decisions are counted by decision, reason and rule" \
        'location="contract"' "$contract_want"
    series "a location's name is its default label" 'location="/h/quiet/"' \
        'mtlsauthz_decisions_total{decision="allow",location="/h/quiet/",reason="allowed",rule="open"} 1
mtlsauthz_decisions_total{decision="deny",location="/h/quiet/",reason="denied",rule="no-secret"} 1'
    series "no reload yet" 'mtlsauthz_policy_reloads_total' \
        'mtlsauthz_policy_reloads_total{result="failure"} 0
mtlsauthz_policy_reloads_total{result="success"} 0'
    series "the policy's rules" "mtlsauthz_policy_rules{policy=\"$T/story.yaml\"}" \
        "mtlsauthz_policy_rules{policy=\"$T/story.yaml\"} $(grep -c '^  - id:' "$T/story.yaml")"
    series "nothing was dropped" mtlsauthz_metrics_dropped_total \
        'mtlsauthz_metrics_dropped_total 0'
    series "label values with quotes and a backslash are escaped" 'odd "quoted" \ rule' \
        'mtlsauthz_decisions_total{decision="deny",location="odd "label" \ here",reason="denied",rule="odd "quoted" \ rule"} 1'
    load=$(sample "mtlsauthz_policy_load_seconds{policy=\"$T/story.yaml\"}")
    loaded=$(sample "mtlsauthz_policy_last_reload_success_timestamp_seconds{policy=\"$T/story.yaml\"}")
    if python3 -c 'import sys, time; l, t, s = map(float, sys.argv[1:]); sys.exit(not (0 < l < 5 and s <= t <= time.time()))' \
        "${load:-x}" "${loaded:-x}" "$started"; then
        ok "the policy's load time and when it was loaded"
    else
        not_ok "the policy's load time and when it was loaded" "load $load, loaded $loaded, started $started"
    fi
fi
if curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PU/metrics" | grep -x 405 >/dev/null; then
    ok "the metrics location answers only GET and HEAD"
else
    not_ok "the metrics location answers only GET and HEAD"
fi

# Counting in shared memory from two workers, over many connections at once: no count is lost.
burst=()
for i in $(seq 60); do burst+=(-o /dev/null "https://127.0.0.1:$P1/h/burst/$i"); done
out=$(curl -s --http1.1 --parallel --parallel-max 16 --cacert "$CERTS/ca.pem" \
    --cert "$CERTS/plain-chain.pem" --key "$CERTS/plain.key" -w '%{http_code}\n' "${burst[@]}" \
    2>/dev/null |
    sort | uniq -c | awk '{ print $1, $2 }')
if [ "$out" = "60 200" ] && metrics; then
    series "60 requests at once on 16 connections are 60 counts" 'location="burst"' \
        'mtlsauthz_decisions_total{decision="allow",location="burst",reason="allowed",rule="open"} 60'
else
    not_ok "60 requests at once on 16 connections" "$out"
fi

# A refused request's body is discarded, and the connection serves the next request.
# (No "Expect: 100-continue": curl would give up the connection rather than send the body.)
printf 'GET /images/build HTTP/1.1\r\nHost: x\r\n\r\n%.0s' $(seq 30) > "$T/body.bin"
out=$(curl -s --http1.1 --cacert "$CERTS/ca.pem" --cert "$CERTS/builder-chain.pem" \
    --key "$CERTS/builder.key" -w '%{http_code} %{num_connects}\n' -o /dev/null -H 'Expect:' \
    --data-binary @"$T/body.bin" "https://127.0.0.1:$P1/containers/abc/exec" \
    --next -s --http1.1 --cacert "$CERTS/ca.pem" --cert "$CERTS/builder-chain.pem" \
    --key "$CERTS/builder.key" -w '%{http_code} %{num_connects}\n' -o /dev/null -X POST \
    "https://127.0.0.1:$P1/images/build")
if [ "$out" = $'403 1\n200 0' ]; then
    ok "a refused request with a body leaves the keep-alive connection usable"
else
    not_ok "a refused request with a body leaves the keep-alive connection usable" "$out"
fi

# One identity per TLS connection: HTTP/1.1 keep-alive and HTTP/2 streams.
count_reads() { grep -c 'mtlsauthz: identity read for connection' "$T/error.log"; }
before=$(count_reads)
out=$(curl -s --cacert "$CERTS/ca.pem" --cert "$CERTS/builder-chain.pem" \
    --key "$CERTS/builder.key" --http1.1 -X POST -w '%{http_code} %{http_version} %{num_connects}\n' \
    -o /dev/null "https://127.0.0.1:$P1/images/build" -o /dev/null \
    "https://127.0.0.1:$P1/images/x/push" -o /dev/null "https://127.0.0.1:$P1/containers/a/exec")
after=$(count_reads)
if [ "$out" = $'200 1.1 1\n200 1.1 0\n403 1.1 0' ] && [ $((after - before)) -eq 1 ]; then
    ok "keep-alive: three decisions, one identity read"
else
    not_ok "keep-alive: three decisions, one identity read" "$out" "reads: $((after - before))"
fi
before=$(count_reads)
out=$(curl -s --cacert "$CERTS/ca.pem" --cert "$CERTS/builder-chain.pem" \
    --key "$CERTS/builder.key" --http2 -w '%{http_code} %{http_version}\n' \
    -o /dev/null "https://127.0.0.1:$P1/healthz" -o /dev/null "https://127.0.0.1:$P1/b/x" \
    -o /dev/null "https://127.0.0.1:$P1/healthz")
after=$(count_reads)
if [ "$out" = $'200 2\n403 2\n200 2' ] && [ $((after - before)) -eq 1 ]; then
    ok "HTTP/2: streams share one identity across two policies"
else
    not_ok "HTTP/2: streams share one identity across two policies" "$out" \
        "reads: $((after - before))"
fi

# ---- the server block that verified the certificate ----
#
# On $P3 the default server (partner.example) trusts the partner CA and docker.example trusts
# only the production CA; both CAs issued a builder SVID. A request may use the identity only
# if its certificate was verified for the server block that handles it.

# scall PORT CERT SNI HOST PATH [CURL_ARGS...]: as call, with the two-CA certificates and a Host
# header. SNI "-" connects to the address, and curl sends no server name for an address.
scall() {
    local port=$1 cert=$2 sni=$3 host=$4 path=$5 url
    shift 5
    local args=(-s --cacert "$S/prod.pem" -o "$T/body" -D "$T/headers" -w '%{http_code}'
        -H "Host: $host")
    [ "$cert" = - ] || args+=(--cert "$S/$cert-chain.pem" --key "$S/$cert.key")
    if [ "$sni" = - ]; then
        url=https://127.0.0.1:$port$path
    else
        args+=(--resolve "$sni:$port:127.0.0.1")
        url=https://$sni:$port$path
    fi
    : > "$T/headers"
    : > "$T/body"
    STATUS=$(curl "${args[@]}" "$@" "$url")
    BODY=$(cat "$T/body")
}

builder_id=spiffe://prod.example.com/ci/builder

scall "$P3" partner-builder - docker.example /images/x
expect "no SNI, Host docker.example: a partner-CA certificate is not that server's identity" \
    401 X-Reason=no_identity X-Spiffe= X-Sni=
contains "it is logged as verified for another server" "$T/error.log" \
    'mtlsauthz: client certificate not verified for this server: (20:unable to get local issuer certificate)'
contains "and the deny says why" "$T/error.log" \
    'mtlsauthz: no verified client certificate: not verified for this server'
scall "$P3" partner-builder unknown.example docker.example /images/x -k
expect "an SNI name no server has, Host docker.example: denied too" 401 X-Reason=no_identity \
    X-Sni=unknown.example
scall "$P3" partner-builder partner.example docker.example /images/x
expect "SNI partner.example, Host docker.example: nginx's own 421" 421
scall "$P3" partner-builder - noctx.example /images/x
expect "a server block without an SSL context of its own has no client identity" 401 \
    X-Reason=no_identity
scall "$P3" partner-builder - docker.example /vars/x
expect "the identity variables are not found for a certificate verified for another server" \
    200 "body=upstream GET /vars/x" X-Spiffe=
scall "$P3" partner-builder - partner.example /
expect "the partner certificate gets the default server's answer there" 200 \
    "body=partner server" "X-Spiffe=$builder_id"
scall "$P3" builder docker.example docker.example /images/x
expect "the production certificate with SNI docker.example is allowed" 200 \
    "body=upstream GET /images/x" X-Reason=allowed "X-Spiffe=$builder_id" X-Sni=docker.example
scall "$P3" builder docker.example docker.example /vars/x
expect "and its identity variables are set" 200 "X-Spiffe=$builder_id"
scall "$P3" builder - docker.example /images/x
expect "without SNI, the handshake verified it against the partner CA: nginx's own 400" 400

for proto in --http1.1 --http2; do
    out=$(curl -s "$proto" --cacert "$S/prod.pem" --cert "$S/partner-builder-chain.pem" \
        --key "$S/partner-builder.key" -H 'Host: partner.example' \
        -w '%{http_code} %{num_connects}\n' -o /dev/null "https://127.0.0.1:$P3/images/x" \
        --next -s "$proto" --cacert "$S/prod.pem" --cert "$S/partner-builder-chain.pem" \
        --key "$S/partner-builder.key" -H 'Host: docker.example' \
        -w '%{http_code} %{num_connects}\n' -o /dev/null "https://127.0.0.1:$P3/images/x")
    if [ "$out" = $'200 1\n401 0' ]; then
        ok "$proto, one connection: the default server, then docker.example is denied"
    else
        not_ok "$proto, one connection: the default server, then docker.example is denied" "$out"
    fi
done

# resume VERSION CERT FIRST_SNI FIRST_HOST SNI HOST PATH: a full handshake on $P3 with CERT
# (FIRST_SNI "-": no server name) and a request to FIRST_HOST, then a connection that resumes
# that session with SNI and requests PATH from HOST. Sets STATUS, and REUSED (1 if resumed).
resume() {
    local v=$1 cert=$2 host1=$4 sni=$5 host2=$6 path=$7 first out
    if [ "$3" = - ]; then first=(-noservername); else first=(-servername "$3"); fi
    rm -f "$T/session"
    printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host1" |
        openssl s_client "$v" -ign_eof "${first[@]}" -connect "127.0.0.1:$P3" \
            -CAfile "$S/prod.pem" -cert "$S/$cert.pem" -cert_chain "$S/$cert-chain.pem" \
            -key "$S/$cert.key" -sess_out "$T/session" >/dev/null 2>&1
    out=$(printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host2" |
        openssl s_client "$v" -ign_eof -servername "$sni" -connect "127.0.0.1:$P3" \
            -CAfile "$S/prod.pem" -sess_in "$T/session" 2>&1)
    REUSED=$(grep -c '^Reused,' <<<"$out")
    # s_client may print the response on the line of its session summary
    STATUS=$(grep -ao 'HTTP/1\.1 [0-9]*' <<<"$out" | head -n 1 | cut -d ' ' -f 2)
}
for v in -tls1_3 -tls1_2; do
    resume "$v" partner-builder - partner.example docker.example docker.example /images/x
    if [ "$REUSED" = 1 ] && [ "$STATUS" = 401 ]; then
        ok "$v: a session made without SNI, resumed with SNI docker.example, is denied"
    else
        not_ok "$v: a session made without SNI, resumed with SNI docker.example, is denied" \
            "reused $REUSED, status $STATUS"
    fi
    resume "$v" builder docker.example docker.example docker.example docker.example /images/x
    if [ "$REUSED" = 1 ] && [ "$STATUS" = 200 ]; then
        ok "$v: a session made for docker.example and resumed there is allowed"
    else
        not_ok "$v: a session made for docker.example and resumed there is allowed" \
            "reused $REUSED, status $STATUS"
    fi
done

# On $P4 the default server trusts both CAs, so the handshake verifies either certificate; the
# servers behind it trust production only, each with its own settings.
count_reverify() {
    grep -c 'mtlsauthz: client certificate verified again for this server' "$T/error.log"
}
before=$(count_reverify)
out=$(curl -s --cacert "$S/prod.pem" --cert "$S/builder-chain.pem" --key "$S/builder.key" \
    -w '%{http_code} %{num_connects}\n' -o /dev/null "https://127.0.0.1:$P4/images/x" \
    --next -s --cacert "$S/prod.pem" --cert "$S/builder-chain.pem" --key "$S/builder.key" \
    -H 'Host: docker.example' -w '%{http_code} %{num_connects}\n' -o /dev/null \
    "https://127.0.0.1:$P4/images/x" -o /dev/null "https://127.0.0.1:$P4/images/y")
after=$(count_reverify)
if [ "$out" = $'200 1\n200 0\n200 0' ] && [ $((after - before)) -eq 1 ]; then
    ok "no SNI: the chain is verified again for docker.example, once per connection"
else
    not_ok "no SNI: the chain is verified again for docker.example, once per connection" \
        "$out" "verifications: $((after - before))"
fi
scall "$P4" builder - docker.example /images/x
expect "no SNI, a production certificate verified again for docker.example is allowed" 200 \
    "body=upstream GET /images/x" X-Reason=allowed "X-Spiffe=$builder_id" X-Sni=
scall "$P4" partner-builder - docker.example /images/x
expect "no SNI, a partner certificate verified again for docker.example is denied" 401 \
    X-Reason=no_identity X-Spiffe=
scall "$P4" builder - strict.example /images/x
expect "that server's ssl_verify_depth applies" 401 X-Reason=no_identity
contains "the depth failure is logged" "$T/error.log" '(22:certificate chain too long)'
scall "$P4" builder - revoked.example /images/x
expect "that server's ssl_crl applies" 401 X-Reason=no_identity
contains "the revocation is logged" "$T/error.log" '(23:certificate revoked)'
scall "$P4" builder - ocsp.example /images/x
expect "a server with ssl_ocsp accepts only its own handshake's verification" 401 \
    X-Reason=no_identity
contains "the OCSP refusal is logged" "$T/error.log" \
    "no verified client certificate: verified for another server; ssl_ocsp needs this server's own handshake"
scall "$P4" builder - noverify.example /images/x
expect "a server that does not verify client certificates has no client identity" 401 \
    X-Reason=no_identity
contains "that is logged" "$T/error.log" \
    'no verified client certificate: this server does not verify client certificates'

# Reload with a changed policy.
call "$P1" plain GET /reload/two
expect "before reload, the first policy denies" 403 X-Reason=no_match
reload_policy v2 /reload/two
N -c "$T/nginx.conf" -s reload
for _ in $(seq 100); do
    call "$P1" plain GET /reload/two
    [ "$STATUS" = 200 ] && break
    sleep 0.1
done
expect "after reload, the changed policy allows" 200 X-Rule=v2
printf 'version: 1\nrules: [oops\n' > "$T/reload.yaml"
# "nginx -s reload" parses the configuration first, and refuses to signal a bad one.
out=$(N -c "$T/nginx.conf" -s reload 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qF "mtlsauthz_policy: $T/reload.yaml:3:1: expected ',' or ']' here" <<<"$out"; then
    ok "nginx -s reload refuses a bad policy with the library's message"
else
    not_ok "nginx -s reload refuses a bad policy with the library's message" "rc=$rc" "$out"
fi
# A SIGHUP makes the running master try anyway.
kill -HUP "$(cat "$T/nginx.pid")"
for _ in $(seq 100); do
    grep -q "mtlsauthz_policy: $T/reload.yaml" "$T/error.log" && break
    sleep 0.1
done
contains "the master logs the bad policy on SIGHUP" "$T/error.log" \
    "mtlsauthz_policy: $T/reload.yaml"
call "$P1" plain GET /reload/two
expect "a failed reload keeps the running policy" 200 X-Rule=v2

# The reloads in the metrics: the one that took effect, and the SIGHUP a bad policy made fail;
# "nginx -s reload" refused to signal the master, which never saw it. The counters live on.
if metrics; then
    series "a reload that took effect and one a bad policy made fail are counted" \
        'mtlsauthz_policy_reloads_total' \
        'mtlsauthz_policy_reloads_total{result="failure"} 1
mtlsauthz_policy_reloads_total{result="success"} 1'
    series "the counts carry on across reloads" 'location="contract"' "$contract_want"
fi

# A reload that resizes the zone starts it from the running counts.
reload_policy v2 /reload/two
before_reload=$(date +%s.%N)
ZONE=2m write_conf "$T/nginx.conf"
N -c "$T/nginx.conf" -s reload
for _ in $(seq 300); do
    curl -s "http://127.0.0.1:$PU/metrics" |
        grep -qxF 'mtlsauthz_policy_reloads_total{result="success"} 2' && break
    sleep 0.1
done
if metrics; then
    series "a resized zone takes over the reload counts" 'mtlsauthz_policy_reloads_total' \
        'mtlsauthz_policy_reloads_total{result="failure"} 1
mtlsauthz_policy_reloads_total{result="success"} 2' ||
        grep -E '\[(emerg|alert|crit)\]|reconfiguring|signal 1' "$T/error.log" | tail -n 5
    series "and the decision counts" 'location="contract"' "$contract_want"
    loaded=$(sample "mtlsauthz_policy_last_reload_success_timestamp_seconds{policy=\"$T/story.yaml\"}")
    if python3 -c 'import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]))' \
        "${loaded:-0}" "$before_reload"; then
        ok "a reload loads the policy again, and says when"
    else
        not_ok "a reload loads the policy again, and says when" "$loaded < $before_reload"
    fi
fi

# A zone too small for the series it is given counts what it cannot keep. 40 locations, each
# with a label of 1000 bytes, in the smallest zone: the keys do not all fit, and every decision
# is either in a series or dropped.
read -r DP DU < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
long=$(printf 'x%.0s' $(seq 996))
{
    echo "load_module $MODULE; worker_processes 1; error_log $T/drop-error.log info;"
    echo "pid $T/drop.pid; events { worker_connections 64; }"
    echo "http { access_log off; client_body_temp_path $T/tmp/body; proxy_temp_path $T/tmp/proxy;"
    echo "fastcgi_temp_path $T/tmp/fastcgi; uwsgi_temp_path $T/tmp/uwsgi; scgi_temp_path $T/tmp/scgi;"
    echo "mtlsauthz_metrics_zone 32k;"
    echo "server { listen 127.0.0.1:$DU; location / { return 200; }"
    echo "    location = /metrics { mtlsauthz_metrics; } }"
    echo "server { listen 127.0.0.1:$DP ssl; ssl_certificate $CERTS/server-chain.pem;"
    echo "    ssl_certificate_key $CERTS/server.key; ssl_client_certificate $CERTS/ca.pem;"
    echo "    ssl_verify_client optional; mtlsauthz_policy $T/head.yaml; mtlsauthz on;"
    for i in $(seq 40); do
        echo "    location /h/$i/ { mtlsauthz_metrics_location $long$i; proxy_pass http://127.0.0.1:$DU; }"
    done
    echo "} }"
} > "$T/drop.conf"
if N -c "$T/drop.conf"; then
    drop=()
    for i in $(seq 40); do drop+=(-o /dev/null "https://127.0.0.1:$DP/h/$i/x"); done
    out=$(curl -s --cacert "$CERTS/ca.pem" --cert "$CERTS/plain-chain.pem" \
        --key "$CERTS/plain.key" -w '%{http_code}\n' "${drop[@]}" | sort | uniq -c |
        awk '{ print $1, $2 }')
    curl -s -o "$T/drop-metrics.txt" "http://127.0.0.1:$DU/metrics"
    if [ "$out" = "40 200" ] && python3 "$here/prom.py" < "$T/drop-metrics.txt" > "$T/drop-metrics" &&
        python3 -c '
import sys
kept = dropped = 0
for line in open(sys.argv[1]):
    name, value = line.rsplit(" ", 1)
    if name.startswith("mtlsauthz_decisions_total{"):
        kept += int(value)
    elif name == "mtlsauthz_metrics_dropped_total":
        dropped = int(value)
print(kept, dropped)
sys.exit(not (kept > 0 and dropped > 0 and kept + dropped == 40))' "$T/drop-metrics" > "$T/drop.out"; then
        ok "a full zone keeps what fits and counts the rest as dropped ($(cat "$T/drop.out"))"
    else
        not_ok "a full zone keeps what fits and counts the rest as dropped" "$out" \
            "$(cat "$T/drop.out" 2>/dev/null)" "$(head -c 300 "$T/drop-metrics.txt")"
    fi
    stop_nginx "$T/drop.pid"
else
    not_ok "an nginx with a small metrics zone starts" "$(tail -n 5 "$T/startup.log")"
fi

# The example, as examples/nginx/README.md shows it.
read -r EP EU < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
MTLSAUTHZ_EXAMPLE_DIR=$T/example MTLSAUTHZ_EXAMPLE_CERTS=$CERTS MTLSAUTHZ_NGINX_MODULE=$MODULE \
    NGINX_BIN=$nginx_bin PORT=$EP UPSTREAM_PORT=$EU "$top/examples/nginx/run.sh" \
    >"$T/example.log" 2>&1 &
example_pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null --cacert "$CERTS/ca.pem" "https://127.0.0.1:$EP/healthz" && break
    sleep 0.1
done
call "$EP" - GET /healthz
expect "example: health is open" 200 'body={"upstream":"GET /healthz"}'
call "$EP" builder POST /images/build
expect "example: the builder builds" 200 'body={"upstream":"POST /images/build"}' \
    "X-Mtlsauthz=allow rule=build-images reason=allowed"
call "$EP" builder POST /containers/abc/%65xec
expect "example: exec is denied to the builder" 403 \
    "X-Mtlsauthz=deny rule=no-container-escape reason=denied"
call "$EP" ops POST /containers/abc/exec
expect "example: exec is denied to ops" 403 \
    "X-Mtlsauthz=deny rule=no-container-escape reason=denied"
call "$EP" ops GET /containers/abc/logs
expect "example: ops read logs" 200 "X-Mtlsauthz=allow rule=ops-read reason=allowed"
call "$EP" builder GET /containers
expect "example: the builder may not list containers" 403 "X-Mtlsauthz=deny rule= reason=no_match"
call "$EP" builder POST /containers/a%2Fb/exec
expect "example: an encoded slash is refused" 400
call "$EP" - GET /containers
expect "example: no certificate, no access" 401 "X-Mtlsauthz=deny rule= reason=no_identity" \
    'body={"error":"unauthorized","reason":"no_identity","rule":null}'
contains "example: the access log has the decision" "$T/example/logs/access.log" \
    '"POST /images/build HTTP/2.0" 200 decision=allow rule=build-images reason=allowed spiffe=spiffe://prod.example.com/ci/builder dns=-'
kill -TERM "$example_pid"
wait "$example_pid"

if grep -E '\[(alert|crit|emerg)\]|signal [0-9]+ \(SIG(SEGV|ABRT|BUS)' "$T/error.log" |
    grep -v "mtlsauthz_policy: $T/reload.yaml" > "$T/bad-lines"; then
    not_ok "no worker crashed and nothing was logged above error" "$(head -n 5 "$T/bad-lines")"
else
    ok "no worker crashed and nothing was logged above error"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
