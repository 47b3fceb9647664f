#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Generates the test certificates into OUTDIR, with the openssl CLI.
#
#   tests/certs/gen-certs.sh OUTDIR        (needs openssl 3 and python3; about 2 seconds)
#
# Every certificate is written as NAME.pem and NAME.der, with its key as NAME.key (all leaves
# share one EC P-256 key: these are names to read, not secrets), and NAME-chain.pem (leaf, then
# the intermediate). Content is deterministic except keys, signatures and the serials of most
# leaves: notBefore is 2020-01-01T00:00:00Z (UTCTime) and notAfter 2051-01-02T03:04:05Z
# (GeneralizedTime, RFC 5280 4.1.2.5), so tests can assert both time encodings. Re-running
# replaces everything (idempotent).
#
# CAs:       ca (root; ca.key), int (intermediate signed by ca; int.key). Leaves are issued by int.
# Identities used by the policy engine, the demo and the bindings:
#   full          every field: CN, 2 O, 3 OU, emailAddress, C/ST/L; DNS web.example.com and
#                 API.Example.COM, URI https://example.com/x, email alice@Example.COM,
#                 IP 192.0.2.10, 2001:db8::1, ::ffff:192.0.2.10; EKU clientAuth, serverAuth,
#                 1.2.3.4.5; serial C0FFEE0123456789ABCDEF (DER needs a leading 00)
#   builder       CN=builder, O=Example Corp, spiffe://prod.example.com/ci/builder, clientAuth
#   builder-noeku the same SPIFFE ID without an EKU extension
#   ops           CN=alice, O=Example Corp, OU=ops, clientAuth
#   sre           CN=bob, O=Example Corp, OU=sre, OU=oncall, clientAuth
#   tenant-acme   spiffe://prod.example.com/tenant/acme/api
#   tenant-globex spiffe://prod.example.com/tenant/globex/api
#   web           spiffe://td/ns/web/x         web-admin  spiffe://td/ns/web-admin/x
#   dns-wild      DNS a.b.example.com and example.com
#   server        CN=localhost, DNS localhost, IP 127.0.0.1 and ::1, serverAuth (a TLS server)
#   plain         CN only: no SAN, no EKU
# Field edge cases:
#   bmp-cn        BMPString CN "Zoë Ünicode Ω"      teletex-cn  T61String CN "Zoë Ünicode"
#   utf8-o        UTF8String O "Örnek Şirket"       multi-ou    OUs zeta, alpha, mid, alpha
#   ipv6          IPv6 SANs needing RFC 5952 compression, ties, leading zeros, "::" and "::1"
#   dn-special    CN with , + " \ < > ; = and a leading #; OU with leading and trailing space;
#                 a multi-valued RDN (RFC 4514 escaping)
#   cn-injection  O=Example Corp and no OU, with the CN "mallory,OU=ops": its DN string is
#                 CN=mallory\,OU=ops,O=Example Corp (a `dn` pattern's `*` must not cross it)
#   spiffe-upper-td, spiffe-dotdot, spiffe-query, spiffe-port, spiffe-td-only, spiffe-two-uri,
#   spiffe-ca (CA:TRUE leaf), spiffe-upper-scheme (SPIFFE://...): invalid X.509-SVIDs
# X.509-SVID key usage (X509-SVID spec 4.3). go-spiffe's published wrong-leaf vectors
# (svid/x509svid/testdata), rebuilt with their facts: subject C=US, O=SPIFFE, URI SAN
# spiffe://example.org/workload-1, critical basicConstraints and keyUsage:
#   wrong-leaf-ca-true                CA:TRUE, digitalSignature
#   wrong-leaf-cert-sign              CA:FALSE, digitalSignature + keyCertSign
#   wrong-leaf-crl-sign               CA:FALSE, digitalSignature + cRLSign
#   wrong-leaf-no-digital-signature   CA:FALSE, keyCertSign + cRLSign
#   wrong-leaf-empty-id               CA:FALSE, digitalSignature, no SAN at all
# and two that go-spiffe had only while its validation was being written (never released):
#   wrong-leaf-id-only-root           URI spiffe://example.org (no path)
#   wrong-leaf-ext-key-usage-incomplete  EKU clientAuth only (go-spiffe dropped that check)
# Ours: spiffe-no-ku (no keyUsage extension: not an SVID), and valid SVIDs spiffe-ku-extra
# (digitalSignature, keyEncipherment, keyAgreement), spiffe-ku-noncritical (keyUsage not
# marked critical), spiffe-ku-two-bytes (digitalSignature, keyAgreement, decipherOnly: bit 8,
# so the BIT STRING has two octets).
# IA5String SANs holding UTF-8 (RFC 5280 4.2.1.6 makes them ASCII; the shape of
# cryptography_vectors' x509/utf8-dnsname.pem), signed as they are:
#   utf8-dns      DNS partner.biztositas.hu, biztos\xc3\xadt\xc3\xa1s.hu (raw UTF-8),
#                 xn--biztosts-fza2j.hu
#   utf8-email    email j\xc3\xbcrgen@example.com  utf8-uri  URI https://example.com/\xc3\xbcber
# DN attribute names (what a dn pattern must spell):
#   dn-attrs      organizationIdentifier, serialNumber, SN (surname), GN, street, DC, UID,
#                 jurisdictionC and the unknown OID 1.3.6.1.4.1.55555.1
# Byte-patched after signing with python3 (the signature is broken, so these never complete a
# TLS handshake; the library never verifies signatures, the TLS stack has done that before),
# except nul-cn, which int signs again after the patch so that servers can be tested with it:
#   nul-cn        CN "admin\0.evil.com"             nul-dns  dNSName "good.example.com\0.evil.com"
#   neg-serial    serial -4bab9 (DER 02 03 FB 45 47) zero-serial  serial 0 (DER 02 01 00)
#   latin1-dns    DNS caf\xe9.example.com and csi\x9b.example.com: bytes that are not UTF-8, one
#                 of them the 8-bit C1 control CSI
# Broken inputs (each must give an error): truncated.der (a DER cut short), trailing.der (a
# DER followed by junk), garbage.pem (junk base64), junk-der.pem (valid base64 of non-DER),
# empty.pem (0 bytes), key-only.pem (a PRIVATE KEY block), cert-key.pem (a certificate then a
# PRIVATE KEY block).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
OUT=$1
OPENSSL=${OPENSSL:-openssl}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W="$OUT/.work"
rm -rf "$W"
mkdir -p "$W/new"
: > "$W/index.txt"

# `openssl ca` is the one CLI in OpenSSL 3.0 that takes fixed validity dates.
cat > "$W/ca.cnf" <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $W
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = pol_any
unique_subject = no
email_in_dn = yes
preserve = yes
copy_extensions = none
default_startdate = 20200101000000Z
default_enddate = 20510102030405Z
[ pol_any ]
commonName = optional
CNF

# Request configs: utf8only (the OpenSSL default) and "default", which picks the smallest
# type that fits (PrintableString, else T61String for Latin-1, else BMPString). -subj takes
# only attribute names that openssl knows, so the private OID dn-attrs carries gets a name
# here; OpenSSL's own table (and so the library) still does not know it.
for mask in utf8only default; do
    cat > "$W/req-$mask.cnf" <<CNF
oid_section = oids
[ oids ]
testAttribute = 1.3.6.1.4.1.55555.1
[ req ]
distinguished_name = dn
string_mask = $mask
utf8 = yes
prompt = no
[ dn ]
CNF
done

"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/leaf.key" 2>/dev/null

serial_n=16
next_serial() {
    serial_n=$((serial_n + 1))
    printf '%s%02X\n' "$($OPENSSL rand -hex 15 | tr a-f A-F | sed 's/^./7/')" "$serial_n"
}

# sign NAME SUBJECT EXTENSIONS ISSUER [MASK] [SERIAL]
# EXTENSIONS is the body of an extension section, one "key = value" per line.
sign() {
    name=$1 subj=$2 ext=$3 issuer=$4 mask=${5:-utf8only} serial=${6:-}
    key="$W/leaf.key"
    case $name in ca | int) key="$OUT/$name.key" ;; esac
    printf '[ x ]\n%s\n' "$ext" > "$W/$name.ext"
    if [ -z "$serial" ]; then serial=$(next_serial); fi
    echo "$serial" > "$W/serial"
    "$OPENSSL" req -new -config "$W/req-$mask.cnf" -key "$key" -subj "$subj" -out "$W/$name.csr"
    if [ "$issuer" = self ]; then
        set -- -selfsign -keyfile "$key"
    else
        set -- -cert "$OUT/$issuer.pem" -keyfile "$OUT/$issuer.key"
    fi
    "$OPENSSL" ca -batch -config "$W/ca.cnf" -notext -preserveDN -utf8 "$@" \
        -extfile "$W/$name.ext" -extensions x -in "$W/$name.csr" -out "$OUT/$name.pem" \
        2>"$W/$name.log" || { cat "$W/$name.log" >&2; exit 1; }
    finish "$name" "$key"
}

# finish NAME KEY: the DER form, the key, and the chain file for a leaf.
finish() {
    "$OPENSSL" x509 -in "$OUT/$1.pem" -outform DER -out "$OUT/$1.der"
    if [ "$1" != ca ] && [ "$1" != int ]; then
        cp "$2" "$OUT/$1.key"
        cat "$OUT/$1.pem" "$OUT/int.pem" > "$OUT/$1-chain.pem"
    fi
}

# patch NAME FROM TO: replaces the one occurrence of the bytes FROM (a Python bytes literal)
# with TO, of the same length, in NAME.der, and rewrites NAME.pem from it.
patch() {
    "$PYTHON" - "$OUT/$1.der" "$2" "$3" <<'PY'
import ast, sys
path, old, new = sys.argv[1], ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[3])
data = open(path, "rb").read()
assert len(old) == len(new) and data.count(old) == 1, (path, old, data.count(old))
open(path, "wb").write(data.replace(old, new))
PY
    "$OPENSSL" x509 -inform DER -in "$OUT/$1.der" -out "$OUT/$1.pem"
    cat "$OUT/$1.pem" "$OUT/int.pem" > "$OUT/$1-chain.pem"
}

# resign NAME: has NAME's issuer sign its patched content again, so that the certificate verifies
# and a TLS handshake with it completes, as if a careless CA had signed it. The patched subject
# survives the round trip through a request (openssl ca -preserveDN).
resign() {
    "$OPENSSL" x509 -x509toreq -in "$OUT/$1.pem" -key "$OUT/$1.key" -copy_extensions none \
        -out "$W/$1.resign.csr" 2>"$W/$1.log" || { cat "$W/$1.log" >&2; exit 1; }
    next_serial > "$W/serial"
    "$OPENSSL" ca -batch -config "$W/ca.cnf" -notext -preserveDN -utf8 -cert "$OUT/int.pem" \
        -keyfile "$OUT/int.key" -extfile "$W/$1.ext" -extensions x -in "$W/$1.resign.csr" \
        -out "$OUT/$1.pem" 2>"$W/$1.log" || { cat "$W/$1.log" >&2; exit 1; }
    cp "$OUT/$1.key" "$W/$1.resign.key"
    finish "$1" "$W/$1.resign.key"
}

"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OUT/ca.key" 2>/dev/null
"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OUT/int.key" 2>/dev/null

CA_EXT='basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash'
sign ca "/O=Example Corp/CN=mtlsauthz Test Root CA" "$CA_EXT" self utf8only 01
sign int "/O=Example Corp/CN=mtlsauthz Test Intermediate CA" "$CA_EXT
authorityKeyIdentifier = keyid" ca utf8only 02

LEAF='basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
authorityKeyIdentifier = keyid'
CLIENT="$LEAF
extendedKeyUsage = clientAuth"

leaf() { sign "$1" "$2" "$3" int "${4:-utf8only}" "${5:-}"; }

leaf full "/C=US/ST=California/L=San Francisco/O=Example Corp/O=Second Org/OU=one/OU=two/OU=three/CN=full.example.com/emailAddress=alice@example.com" "$LEAF
extendedKeyUsage = clientAuth, serverAuth, 1.2.3.4.5
subjectAltName = DNS:web.example.com, DNS:API.Example.COM, URI:https://example.com/x, email:alice@Example.COM, IP:192.0.2.10, IP:2001:db8::1, IP:::ffff:192.0.2.10" \
    utf8only C0FFEE0123456789ABCDEF
leaf builder "/O=Example Corp/CN=builder" "$CLIENT
subjectAltName = URI:spiffe://prod.example.com/ci/builder"
leaf builder-noeku "/O=Example Corp/CN=builder" "$LEAF
subjectAltName = URI:spiffe://prod.example.com/ci/builder"
leaf ops "/O=Example Corp/OU=ops/CN=alice" "$CLIENT"
leaf sre "/O=Example Corp/OU=sre/OU=oncall/CN=bob" "$CLIENT"
leaf tenant-acme "/O=Acme/CN=acme-api" "$CLIENT
subjectAltName = URI:spiffe://prod.example.com/tenant/acme/api"
leaf tenant-globex "/O=Globex/CN=globex-api" "$CLIENT
subjectAltName = URI:spiffe://prod.example.com/tenant/globex/api"
leaf web "/CN=web" "$CLIENT
subjectAltName = URI:spiffe://td/ns/web/x"
leaf web-admin "/CN=web-admin" "$CLIENT
subjectAltName = URI:spiffe://td/ns/web-admin/x"
leaf dns-wild "/CN=dns-wild" "$CLIENT
subjectAltName = DNS:a.b.example.com, DNS:example.com"
leaf server "/O=Example Corp/CN=localhost" "$LEAF
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1"
leaf plain "/CN=plain" "$LEAF"

leaf bmp-cn "/O=Example Corp/CN=Zoë Ünicode Ω" "$CLIENT" default
leaf teletex-cn "/O=Example Corp/CN=Zoë Ünicode" "$CLIENT" default
leaf utf8-o "/O=Örnek Şirket/CN=utf8-o" "$CLIENT"
leaf multi-ou "/O=Example Corp/OU=zeta/OU=alpha/OU=mid/OU=alpha/CN=multi-ou" "$CLIENT"
# 2001:db8:0:0:1:0:0:1 ties (first run wins), 2001:0:0:1:0:0:0:1 has a longer second run,
# 2001:db8:0:1:1:1:1:1 has a single zero group (never compressed, RFC 5952 4.2.2).
leaf ipv6 "/CN=ipv6" "$CLIENT
subjectAltName = IP:2001:db8:0:0:1:0:0:1, IP:2001:0:0:1:0:0:0:1, IP:2001:db8:0:1:1:1:1:1, IP:2001:0DB8:00A0:0000:0000:0000:0000:0001, IP:::, IP:::1, IP:fe80::, IP:0:0:0:0:0:ffff:c000:20a"
# In -subj a backslash escapes the next character and + starts another value of the same RDN.
leaf dn-special '/O=Example Corp/O=A+OU=B/OU= lead and trail /CN=\#hash\, comma\+plus"quote\\back<lt>gt;semi=eq' "$CLIENT"
leaf cn-injection '/O=Example Corp/CN=mallory,OU=ops' "$CLIENT"
leaf neg-serial "/CN=neg-serial" "$CLIENT" utf8only 4E4547
patch neg-serial "b'\x02\x03NEG'" "b'\x02\x03\xfbEG'"
leaf zero-serial "/CN=zero-serial" "$CLIENT" utf8only 5A
patch zero-serial "b'\x02\x01Z'" "b'\x02\x01\x00'"

spiffe() { leaf "$1" "/CN=$1" "$CLIENT
subjectAltName = $2"; }
spiffe spiffe-upper-td "URI:spiffe://Prod.Example.com/ns/x"
spiffe spiffe-dotdot "URI:spiffe://prod.example.com/a/../b"
spiffe spiffe-query "URI:spiffe://prod.example.com/a?x=1"
spiffe spiffe-port "URI:spiffe://prod.example.com:8443/a"
spiffe spiffe-td-only "URI:spiffe://prod.example.com"
spiffe spiffe-two-uri "URI:spiffe://prod.example.com/a, URI:https://example.com/a"
spiffe spiffe-upper-scheme "URI:SPIFFE://prod.example.com/a"
leaf spiffe-ca "/CN=spiffe-ca" "basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
subjectAltName = URI:spiffe://prod.example.com/a"

# go-spiffe's wrong-leaf vectors (see the header); `wleaf NAME BC KU [SAN]`.
wleaf() {
    ext="basicConstraints = critical, $2
keyUsage = critical, $3
authorityKeyIdentifier = keyid"
    if [ -n "${4:-}" ]; then ext="$ext
subjectAltName = $4"; fi
    leaf "$1" "/C=US/O=SPIFFE" "$ext"
}
WL_ID="URI:spiffe://example.org/workload-1"
wleaf wrong-leaf-ca-true CA:TRUE digitalSignature "$WL_ID"
wleaf wrong-leaf-cert-sign CA:FALSE "digitalSignature, keyCertSign" "$WL_ID"
wleaf wrong-leaf-crl-sign CA:FALSE "digitalSignature, cRLSign" "$WL_ID"
wleaf wrong-leaf-no-digital-signature CA:FALSE "keyCertSign, cRLSign" "$WL_ID"
wleaf wrong-leaf-empty-id CA:FALSE digitalSignature
wleaf wrong-leaf-id-only-root CA:FALSE digitalSignature "URI:spiffe://example.org"
leaf wrong-leaf-ext-key-usage-incomplete "/C=US/O=SPIFFE" "$CLIENT
subjectAltName = $WL_ID"
leaf spiffe-no-ku "/CN=spiffe-no-ku" "basicConstraints = critical, CA:FALSE
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://prod.example.com/a"
spiffe_ku() { leaf "$1" "/CN=$1" "basicConstraints = critical, CA:FALSE
keyUsage = $2
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://prod.example.com/a"; }
spiffe_ku spiffe-ku-extra "critical, digitalSignature, keyEncipherment, keyAgreement"
spiffe_ku spiffe-ku-noncritical "digitalSignature"
spiffe_ku spiffe-ku-two-bytes "critical, digitalSignature, keyAgreement, decipherOnly"

# IA5String SANs with UTF-8 bytes: openssl writes a config value's bytes as they are.
leaf utf8-dns "/CN=utf8-dns" "$CLIENT
subjectAltName = DNS:partner.biztositas.hu, DNS:biztosítás.hu, DNS:xn--biztosts-fza2j.hu"
leaf utf8-email "/CN=utf8-email" "$CLIENT
subjectAltName = email:jürgen@example.com"
leaf utf8-uri "/CN=utf8-uri" "$CLIENT
subjectAltName = URI:https://example.com/über"

# Attribute types a dn pattern names by OpenSSL's short name, and one OpenSSL does not know.
attrs="/C=DE/jurisdictionC=DE/O=Example Corp/organizationIdentifier=VATDE-123456789"
attrs="$attrs/DC=example/DC=com/street=Main Street 1/serialNumber=0042/SN=Doe/GN=Jane"
leaf dn-attrs "$attrs/UID=jdoe/testAttribute=custom/CN=Jane Doe" "$CLIENT"

# A marker byte, then patched to NUL (the CLI cannot write one).
leaf nul-cn "/O=Example Corp/CN=admin!.evil.com" "$CLIENT"
patch nul-cn "b'admin!.evil.com'" "b'admin\x00.evil.com'"
resign nul-cn
leaf nul-dns "/CN=nul-dns" "$CLIENT
subjectAltName = DNS:good.example.com!.evil.com"
patch nul-dns "b'good.example.com!.evil.com'" "b'good.example.com\x00.evil.com'"
leaf latin1-dns "/CN=latin1-dns" "$CLIENT
subjectAltName = DNS:caf!.example.com, DNS:csi!.example.com"
patch latin1-dns "b'caf!.'" "b'caf\xe9.'"
patch latin1-dns "b'csi!.'" "b'csi\x9b.'"

# Broken inputs.
size=$(wc -c < "$OUT/full.der")
head -c $((size / 2)) "$OUT/full.der" > "$OUT/truncated.der"
{ cat "$OUT/full.der"; printf 'JUNK'; } > "$OUT/trailing.der"
printf -- '-----BEGIN CERTIFICATE-----\nThis is not base64 !!! @@@\n-----END CERTIFICATE-----\n' \
    > "$OUT/garbage.pem"
printf -- '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZSBpbiwgZ2FyYmFnZSBvdXQK\n-----END CERTIFICATE-----\n' \
    > "$OUT/junk-der.pem"
: > "$OUT/empty.pem"
cp "$W/leaf.key" "$OUT/key-only.pem"
cat "$OUT/plain.pem" "$W/leaf.key" > "$OUT/cert-key.pem"

rm -rf "$W"
