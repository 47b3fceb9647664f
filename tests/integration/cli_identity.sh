#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz identity` against openssl's own view of every test certificate (docs/api.md: the JSON
# subject, issuer, serial and fingerprint match openssl x509 byte for byte), plus the error
# contract: exit status 2 and exactly one line on stderr.
#
# Environment: MTLSAUTHZ_CLI (the mtlsauthz binary), MTLSAUTHZ_TEST_CERTS (gen-certs.sh output).
set -u

CLI=${MTLSAUTHZ_CLI:?MTLSAUTHZ_CLI is not set}
CERTS=${MTLSAUTHZ_TEST_CERTS:?MTLSAUTHZ_TEST_CERTS is not set}
OPENSSL=${OPENSSL:-openssl}
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# Inputs that must be refused; everything else named *.pem or *.der is a certificate.
BROKEN="garbage.pem junk-der.pem empty.pem key-only.pem cert-key.pem truncated.der trailing.der"
is_broken() {
    for b in $BROKEN; do [ "$1" = "$b" ] && return 0; done
    return 1
}

# field FILE.json KEY: one value from the CLI's JSON ("subject.dn" style keys).
field() {
    "$PYTHON" -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
sys.stdout.write(v)' "$1" "$2"
}

# openssl's serial as we print it: lowercase, no leading zeros, "0" for zero, "-" kept.
norm_serial() {
    sed -e 's/^serial=//' | tr 'A-F' 'a-f' | sed -e 's/^\(-\{0,1\}\)0*\(.\)/\1\2/'
}

count=0
for path in "$CERTS"/*.pem "$CERTS"/*.der; do
    name=$(basename "$path")
    if is_broken "$name"; then
        continue
    fi
    count=$((count + 1))
    inform=PEM
    case $name in *.der) inform=DER ;; esac
    json="$TMP/out.json"
    if ! "$CLI" identity --format json "$path" > "$json" 2> "$TMP/err"; then
        bad "$name: identity failed: $(cat "$TMP/err")"
        continue
    fi
    if ! "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$json" 2>/dev/null; then
        bad "$name: output is not JSON"
        continue
    fi
    # $(...) strips trailing newlines from both sides alike; no DN here ends in one.
    want=$("$OPENSSL" x509 -inform $inform -in "$path" -noout -subject -nameopt RFC2253,-esc_msb |
        sed -e '1s/^subject=//')
    got=$(field "$json" subject.dn)
    if [ "$got" = "$want" ]; then ok; else bad "$name: subject '$got' != openssl '$want'"; fi

    want=$("$OPENSSL" x509 -inform $inform -in "$path" -noout -issuer -nameopt RFC2253,-esc_msb |
        sed -e '1s/^issuer=//')
    got=$(field "$json" issuer.dn)
    if [ "$got" = "$want" ]; then ok; else bad "$name: issuer '$got' != openssl '$want'"; fi

    want=$("$OPENSSL" x509 -inform $inform -in "$path" -noout -serial | norm_serial)
    got=$(field "$json" serial)
    if [ "$got" = "$want" ]; then ok; else bad "$name: serial '$got' != openssl '$want'"; fi

    want=$("$OPENSSL" x509 -inform $inform -in "$path" -noout -fingerprint -sha256 |
        sed -e 's/^.*=//' -e 's/://g' | tr 'A-F' 'a-f')
    got=$(field "$json" sha256)
    if [ "$got" = "$want" ]; then ok; else bad "$name: sha256 '$got' != openssl '$want'"; fi

    # The text format works on every certificate too.
    if "$CLI" identity "$path" > "$TMP/out.txt" 2>&1 && grep -q '^status:' "$TMP/out.txt"; then
        ok
    else
        bad "$name: text format failed"
    fi
done
if [ $count -lt 30 ]; then
    bad "only $count certificates found in $CERTS"
else
    ok
fi

# expect_error DESCRIPTION ARGS...: exit status 2 and exactly one line on stderr.
expect_error() {
    desc=$1
    shift
    "$CLI" "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    lines=$(wc -l < "$TMP/err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$TMP/out" ]; then
        ok
    else
        bad "$desc: exit $rc, $lines stderr lines: $(cat "$TMP/err")"
    fi
}

expect_error "missing file" identity --format json "$CERTS/does-not-exist.pem"
for b in $BROKEN; do
    expect_error "$b" identity --format json "$CERTS/$b"
    expect_error "$b (text)" identity "$CERTS/$b"
done
expect_error "a directory" identity "$CERTS"
expect_error "no file" identity
expect_error "two files" identity "$CERTS/full.pem" "$CERTS/ops.pem"
expect_error "bad format" identity --format yaml "$CERTS/full.pem"
expect_error "bad option" identity --frobnicate "$CERTS/full.pem"

# A NUL in a name is kept whole and escaped, and the identity is rejected.
if "$CLI" identity --format json "$CERTS/nul-cn.pem" > "$TMP/nul.json" &&
    "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["subject"]["cn"] == ["admin\x00.evil.com"], d
assert d["rejected"] == "NUL byte in subject CN", d' "$TMP/nul.json" &&
    grep -q 'admin\\u0000\.evil\.com' "$TMP/nul.json"; then
    ok
else
    bad "nul-cn: NUL not kept whole, escaped and rejected"
fi

# An IA5String SAN (RFC 5280 §4.2.1.6) with a byte >= 0x80 is shown with the certificate's
# own bytes (never re-read as Latin-1) and the identity is rejected.
for name in utf8-dns utf8-email utf8-uri latin1-dns; do
    if "$CLI" identity --format json "$CERTS/$name.pem" > "$TMP/$name.json" &&
        "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
key, values, label = {
    "utf8-dns": ("dns", ["partner.biztositas.hu", "biztos\u00edt\u00e1s.hu",
                         "xn--biztosts-fza2j.hu"], "DNS"),
    "utf8-email": ("email", ["j\u00fcrgen@example.com"], "email"),
    "utf8-uri": ("uri", ["https://example.com/\u00fcber"], "URI"),
    "latin1-dns": ("dns", ["caf\u00e9.example.com", "csi\u009b.example.com"], "DNS"),
}[sys.argv[2]]
assert d["san"][key] == values, d["san"]
assert d["rejected"] == "non-ASCII byte in %s SAN" % label, d["rejected"]
assert d["spiffe_id"] is None' "$TMP/$name.json" "$name" &&
        "$CLI" identity "$CERTS/$name.der" > "$TMP/$name.txt" &&
        grep -q '^status: *REJECTED: non-ASCII byte in ' "$TMP/$name.txt"; then
        ok
    else
        bad "$name: a non-ASCII IA5String SAN not kept as sent and rejected"
    fi
done
# In text, UTF-8 is printed as it is; other bytes are escaped, so the 8-bit CSI (0x9b) cannot
# reach the terminal.
"$CLI" identity "$CERTS/utf8-dns.der" > "$TMP/utf8-dns.txt"
"$CLI" identity "$CERTS/latin1-dns.der" > "$TMP/latin1-dns.txt"
if grep -q '^ *biztos'"$(printf '\303\255t\303\241')"'s\.hu$' "$TMP/utf8-dns.txt" &&
    grep -q -F 'caf\xe9.example.com' "$TMP/latin1-dns.txt" &&
    grep -q -F 'csi\x9b.example.com' "$TMP/latin1-dns.txt" &&
    ! LC_ALL=C grep -q "$(printf '[\351\233]')" "$TMP/latin1-dns.txt"; then
    ok
else
    bad "text output of non-ASCII SANs: $(cat "$TMP/utf8-dns.txt" "$TMP/latin1-dns.txt")"
fi

# A leaf whose keyUsage does not make it an X.509-SVID (X509-SVID spec §4.3) has no SPIFFE ID
# and is rejected (go-spiffe's wrong-leaf vectors, rebuilt by gen-certs.sh).
for c in "wrong-leaf-cert-sign:leaf keyUsage has keyCertSign" \
    "wrong-leaf-crl-sign:leaf keyUsage has cRLSign" \
    "wrong-leaf-no-digital-signature:leaf keyUsage lacks digitalSignature"; do
    name=${c%%:*}
    why="invalid SPIFFE ID: ${c#*:}"
    if "$CLI" identity --format json "$CERTS/$name.pem" > "$TMP/$name.json" &&
        "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["spiffe_id"] is None, d["spiffe_id"]
assert d["san"]["uri"] == ["spiffe://example.org/workload-1"], d["san"]
assert d["rejected"] == sys.argv[2], d["rejected"]' "$TMP/$name.json" "$why" &&
        "$CLI" identity "$CERTS/$name.der" > "$TMP/$name.txt" &&
        grep -q '^SPIFFE ID: *(none)$' "$TMP/$name.txt" &&
        grep -q -F "REJECTED: $why" "$TMP/$name.txt"; then
        ok
    else
        bad "$name: not rejected as '$why': $(cat "$TMP/$name.json")"
    fi
done

# Every key is present and lists are lists, never missing, for the emptiest certificate.
if "$CLI" identity --format json "$CERTS/plain.der" > "$TMP/plain.json" &&
    "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d) == ["subject", "issuer", "serial", "sha256", "spiffe_id", "san", "eku",
                   "not_before", "not_after", "partial", "rejected"], list(d)
assert d["partial"] is False
assert d["subject"]["o"] == [] and d["subject"]["ou"] == [] and d["eku"] == []
assert d["san"] == {"dns": [], "uri": [], "email": [], "ip": []}, d["san"]
assert d["spiffe_id"] is None and d["rejected"] is None
assert d["not_before"] == "2020-01-01T00:00:00Z" and d["not_after"] == "2051-01-02T03:04:05Z"
' "$TMP/plain.json"; then
    ok
else
    bad "plain: JSON shape"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
