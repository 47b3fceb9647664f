#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `mtlsauthz identity --xfcc HEADER` (docs/policy.md, "Identities from X-Forwarded-Client-Cert"):
# for every test certificate, the header Envoy would write for it gives the certificate's
# identity: with Cert (and Chain) exactly, in JSON byte for byte; without, a partial identity
# whose subject, SANs and SHA-256 are the certificate's, its Subject written as Envoy's
# BoringSSL prints it (openssl -nameopt RFC2253: non-ASCII escaped). Then the text form, stdin,
# a rejection, and the error contract: exit status 2, one line on stderr, nothing on stdout.
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

H64=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688

# Every certificate, both ways. The comparison is in Python: it builds the headers (quoting a
# URI that holds ';', ',' or '=', as a value must be) and compares the JSON documents.
if "$PYTHON" - "$CLI" "$CERTS" "$OPENSSL" >"$TMP/all" 2>&1 <<'EOF'; then
import glob, json, os, subprocess, sys, urllib.parse

cli, certs, openssl = sys.argv[1:4]
broken = {"garbage.pem", "junk-der.pem", "empty.pem", "key-only.pem", "cert-key.pem"}
failures = checked = 0


def identity(*args, data=None):
    r = subprocess.run([cli, "identity", "--format", "json", *args], input=data,
                       capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode("utf-8", "replace").strip())
    return json.loads(r.stdout)


def xfcc(header):
    return identity("--xfcc", "-", data=header)


def encode(path):
    # As Envoy's encoder: everything but letters, digits and "-._*".
    return urllib.parse.quote(open(path, "rb").read(), safe="-._*").encode()


def fail(name, what):
    global failures
    failures += 1
    print("FAIL: %s: %s" % (name, what))


for pem in sorted(glob.glob(os.path.join(certs, "*.pem"))):
    name = os.path.basename(pem)
    if name in broken or name.endswith("-chain.pem") or name in ("ca.pem", "int.pem"):
        continue
    want = identity(pem)
    sha = want["sha256"].encode()
    checked += 1

    # With Cert: the certificate's identity, byte for byte.
    try:
        got = xfcc(b"Hash=" + sha + b';Cert="' + encode(pem) + b'"')
        if got != want:
            fail(name, "Cert: %s != %s" % (got, want))
    except RuntimeError as e:
        fail(name, "Cert: %s" % e)
    chain = pem[:-4] + "-chain.pem"
    if os.path.exists(chain):
        try:
            got = xfcc(b'Cert="' + encode(pem) + b'";Chain="' + encode(chain) + b'"')
            if got != want:
                fail(name, "Chain: %s != %s" % (got, want))
        except RuntimeError as e:
            fail(name, "Chain: %s" % e)

    # Without: what Envoy writes for Hash, Subject, URI and DNS. A NUL or control byte in a SAN
    # cannot be sent in a header at all.
    sans = want["san"]["uri"] + want["san"]["dns"]
    if any(ord(c) < 0x20 for v in sans for c in v):
        continue
    subject = subprocess.run([openssl, "x509", "-in", pem, "-noout", "-subject", "-nameopt",
                              "RFC2253"], capture_output=True, check=True).stdout
    subject = subject.rstrip(b"\n")[len(b"subject="):]
    h = b"By=spiffe://example.org/proxy;Hash=" + sha + b';Subject="' + subject + b'"'
    for u in want["san"]["uri"]:
        u = u.encode("utf-8", "surrogateescape")
        h += b';URI="' + u + b'"' if any(c in u for c in b";,=") else b";URI=" + u
    if not want["san"]["uri"]:
        h += b";URI="
    for d in want["san"]["dns"]:
        h += b";DNS=" + d.encode("utf-8", "surrogateescape")
    try:
        got = xfcc(h)
    except RuntimeError as e:
        fail(name, "partial: %s" % e)
        continue
    if got["partial"] is not True:
        fail(name, "not partial")
    for k in ("subject", "sha256", "san"):
        w = dict(want[k], email=[], ip=[]) if k == "san" else want[k]
        if got[k] != w:
            fail(name, "partial %s: %s != %s" % (k, got[k], w))
    for k in ("serial", "not_before", "not_after"):
        if got[k] is not None:
            fail(name, "partial %s is %s" % (k, got[k]))
    if got["issuer"] != {"dn": None} or got["eku"] != []:
        fail(name, "partial issuer or eku: %s %s" % (got["issuer"], got["eku"]))
    # The header cannot show the leaf's extensions (CA, keyUsage): a certificate rejected for
    # those alone is the verifying proxy's to refuse, and its ID is kept.
    reason = want["rejected"] or ""
    if "leaf" in reason:
        if got["rejected"] is not None:
            fail(name, "partial rejected: %s" % got["rejected"])
        if got["spiffe_id"] != want["san"]["uri"][0]:
            fail(name, "partial spiffe_id: %s" % got["spiffe_id"])
    elif want["san"]["email"] and "email" in reason:
        pass  # an email SAN is not in the header, nor then its rejection
    else:
        if got["rejected"] != want["rejected"]:
            fail(name, "partial rejected: %s != %s" % (got["rejected"], want["rejected"]))
        if got["spiffe_id"] != want["spiffe_id"]:
            fail(name, "partial spiffe_id: %s != %s" % (got["spiffe_id"], want["spiffe_id"]))

print("checked %d certificates" % checked)
sys.exit(1 if failures or checked < 20 else 0)
EOF
    ok
else
    bad "every certificate through XFCC:"
    cat "$TMP/all" >&2
fi

# The text form marks a partial identity and its absent fields.
if "$CLI" identity --xfcc "Hash=$H64;Subject=\"\";URI=spiffe://cluster.local/ns/a/sa/b" \
    >"$TMP/text" 2>"$TMP/err" &&
    grep -q '^SPIFFE ID: *spiffe://cluster.local/ns/a/sa/b$' "$TMP/text" &&
    grep -q '^issuer: *(absent)$' "$TMP/text" &&
    grep -q '^EKU: *(absent)$' "$TMP/text" &&
    grep -q '^partial: *yes' "$TMP/text" &&
    grep -q '^status: *ok$' "$TMP/text" && [ ! -s "$TMP/err" ]; then
    ok
else
    bad "partial text form: $(cat "$TMP/text" "$TMP/err")"
fi

# A certificate's identity has no partial line; the option may come after --format or before.
enc=$("$PYTHON" -c 'import sys, urllib.parse
sys.stdout.write(urllib.parse.quote(open(sys.argv[1], "rb").read(), safe="-._*"))' \
    "$CERTS/builder.pem")
if "$CLI" identity --xfcc="Cert=\"$enc\"" --format text >"$TMP/text" 2>"$TMP/err" &&
    ! grep -q '^partial:' "$TMP/text" && grep -q '^EKU: *clientAuth$' "$TMP/text"; then
    ok
else
    bad "Cert text form: $(cat "$TMP/text" "$TMP/err")"
fi

# A Hash that is not the Cert's rejects the identity: shown, exit 0.
if "$CLI" identity --xfcc "Hash=$H64;Cert=\"$enc\"" >"$TMP/text" 2>"$TMP/err" &&
    grep -q "^status: *REJECTED: XFCC Hash is not the certificate's SHA-256$" "$TMP/text"; then
    ok
else
    bad "mismatching Hash: $(cat "$TMP/text" "$TMP/err")"
fi

# From stdin, without the line end.
if printf 'Hash=%s;DNS=a.example\n' "$H64" | "$CLI" identity --format json --xfcc - \
    >"$TMP/out" 2>"$TMP/err" &&
    "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["san"]["dns"] == ["a.example"] and d["partial"] is True, d' "$TMP/out"; then
    ok
else
    bad "stdin: $(cat "$TMP/out" "$TMP/err")"
fi

# Errors: exit 2, one line on stderr that says what is wrong, nothing on stdout.
refused() {
    want=$1
    shift
    "$CLI" identity "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ $rc -eq 2 ] && [ ! -s "$TMP/out" ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] &&
        grep -q -F -- "$want" "$TMP/err"; then
        ok
    else
        bad "identity $*: exit $rc, stderr: $(cat "$TMP/err"), stdout: $(cat "$TMP/out")"
    fi
}
refused "has no closing '\"'" --xfcc 'Subject="CN=a'
refused "Hash appears twice in one element" --xfcc "Hash=$H64;hash=$H64"
refused "the header is JSON" --xfcc "[{\"hash\":\"$H64\"}]"
refused "old one-line form" --xfcc "Hash=$H64;Subject=\"/C=US/CN=Test Client\""
refused "'+' in Cert is not URL-encoded" --xfcc 'Cert="a+b"'
refused "the header is empty" --xfcc ''
refused "give a FILE or --xfcc, not both" --xfcc "Hash=$H64" "$CERTS/builder.pem"
refused "--xfcc needs a value" --xfcc
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/long"
refused "longer than 65536 bytes" --xfcc - <"$TMP/long"

# --help names the option.
if "$CLI" identity --help | grep -q -- '--xfcc HEADER'; then ok; else bad "--help"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
