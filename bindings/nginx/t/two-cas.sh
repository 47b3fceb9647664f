#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Generates the certificates of the two-CA tests in bindings/nginx/t/run.sh, with the openssl
# CLI (EC P-256, valid for two days from now).
#
#   bindings/nginx/t/two-cas.sh OUTDIR
#
# A production CA (prod, root; prodint, its intermediate) and a partner CA (partner, root),
# both of which issue a valid X.509-SVID leaf for the same SPIFFE ID,
# spiffe://prod.example.com/ci/builder (CA:FALSE, keyUsage digitalSignature, clientAuth):
#   builder           issued by prodint; builder-chain.pem is the leaf, then prodint
#   partner-builder   issued by partner; partner-builder-chain.pem is the leaf alone
# and:
#   server            the TLS server, issued by prod: DNS docker.example, partner.example,
#                     gateway.example, strict.example, revoked.example, ocsp.example,
#                     noverify.example, IP 127.0.0.1
#   both.pem          partner then prod: a bundle that trusts both roots
#   crl.pem           prod's CRL (empty) then prodint's (revoking builder): ssl_crl checks
#                     every level of the chain, so it needs both
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
cd "$1"
OPENSSL=${OPENSSL:-openssl}

key() {
    "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
}

# root NAME ORG
root() {
    key "$1"
    "$OPENSSL" req -x509 -new -key "$1.key" -days 2 -subj "/O=$2/CN=$2 Root CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

# issue NAME ISSUER SUBJECT EXTENSIONS
issue() {
    key "$1"
    "$OPENSSL" req -new -key "$1.key" -subj "$3" -out "$1.csr"
    printf '%b' "$4" > "$1.ext"
    "$OPENSSL" x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(
        "$OPENSSL" rand -hex 8)" -days 2 -extfile "$1.ext" -out "$1.pem"
    rm -f "$1.csr" "$1.ext"
}

svid='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
svid="${svid}extendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://prod.example.com/ci/builder\n"

root prod "Production"
issue prodint prod "/O=Production/CN=Production Issuing CA" \
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n'
issue builder prodint "/O=Example Corp/CN=builder" "$svid"
cat builder.pem prodint.pem > builder-chain.pem

root partner "Partner"
issue partner-builder partner "/O=Partner/CN=builder" "$svid"
cp partner-builder.pem partner-builder-chain.pem

names=DNS:docker.example,DNS:partner.example,DNS:gateway.example,DNS:strict.example
names=$names,DNS:revoked.example,DNS:ocsp.example,DNS:noverify.example,IP:127.0.0.1
issue server prod "/CN=docker.example" \
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=$names\n"

cat partner.pem prod.pem > both.pem

# crl CA [CERT_TO_REVOKE]: `openssl ca` is the CLI that writes CRLs.
crl() {
    : > "$1.index"
    echo 01 > "$1.crlnumber"
    cat > "$1.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
database = $1.index
crlnumber = $1.crlnumber
default_md = sha256
default_crl_days = 2
EOF
    if [ $# -gt 1 ]; then
        "$OPENSSL" ca -config "$1.cnf" -keyfile "$1.key" -cert "$1.pem" -revoke "$2" 2>/dev/null
    fi
    "$OPENSSL" ca -config "$1.cnf" -keyfile "$1.key" -cert "$1.pem" -gencrl -out "$1.crl" \
        2>/dev/null
    rm -f "$1.cnf" "$1.index"* "$1.crlnumber"*
}
crl prod
crl prodint builder.pem
cat prod.crl prodint.crl > crl.pem
rm -f prod.crl prodint.crl
