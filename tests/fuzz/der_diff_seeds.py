#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the crafted seeds of tests/fuzz/corpus/der_diff/ (the other seeds are certificates
from tests/certs/gen-certs.sh, copied under their own names, plus builder-int-chain.der, which
is builder.der followed by int.der).

    tests/fuzz/der_diff_seeds.py tests/fuzz/corpus/der_diff

The certificates are unsigned (neither extractor verifies signatures) and reach the corners of
lib/der.c: a multi-valued RDN, an unknown attribute type, BMP and Universal strings, every
supported SAN form, a 64-bit EKU arc, an RSASSA-PSS algorithm with parameters and an otherName
SAN (both left to OpenSSL), and a v1 certificate with a negative serial.
"""
import os
import sys


def length(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


def tlv(tag, *parts):
    content = b"".join(parts)
    return bytes([tag]) + length(len(content)) + content


H = bytes.fromhex
SIG = H("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
SPKI = H(
    "3059301306072a8648ce3d020106082a8648ce3d0301070342000452b9882ae2f3c399ce5217f10c93bcfada5b"
    "121ebf009a54b13c8001a340b8622baef19bd6fd6d1705c54eba84e6fa5147c06a354103c79efdbcd97d9d5748c4"
)


def atv(oid, tag, value):
    return tlv(0x30, tlv(0x06, H(oid)), tlv(tag, value))


def rdn(*atvs):
    return tlv(0x31, *atvs)


def ext(oid, value, critical=False):
    return tlv(0x30, tlv(0x06, H(oid)), H("0101ff") if critical else b"", tlv(0x04, value))


def cert(subject, exts=None, version=H("a003020102"), serial=H("01"), sig=SIG,
         validity=tlv(0x17, b"200101000000Z") + tlv(0x18, b"20510102030405Z")):
    issuer = rdn(atv("550403", 0x0C, b"crafted CA"))
    tbs = tlv(0x30, version, tlv(0x02, serial), sig, tlv(0x30, issuer), tlv(0x30, validity),
              tlv(0x30, subject), SPKI, tlv(0xA3, tlv(0x30, *exts)) if exts else b"")
    return tlv(0x30, tbs, SIG, tlv(0x03, H("00010203")))


SEEDS = {
    "crafted-names-sans.der": cert(
        rdn(atv("550406", 0x13, b"US"))
        + rdn(atv("55040a", 0x0C, b"a"), atv("55040b", 0x1E, H("005a03a9")),
              atv("550403", 0x0C, b"#c,d "))
        + rdn(atv("2a0304", 0x0C, b"x"))
        + rdn(atv("0992268993f22c640103", 0x16, b"m@x"))
        + rdn(atv("550403", 0x1C, H("0001f600"))),
        [
            ext("551d11", tlv(0x30, tlv(0x81, b"a@b"), tlv(0x82, H("e92e78")),
                              tlv(0x86, b"spiffe://td/x"), tlv(0x87, H("0a000001")),
                              tlv(0x87, bytes(15) + b"\x01")), True),
            ext("551d25", tlv(0x30, tlv(0x06, H("2b06010505070302")),
                              tlv(0x06, H("8180808080808080800001")), tlv(0x06, H("883703")))),
            ext("551d13", tlv(0x30, H("0101ff"), H("020100")), True),
        ],
    ),
    "crafted-pss-othername.der": cert(
        b"",
        [ext("551d11", tlv(0x30, tlv(0xA0, tlv(0x06, H("2a03")), tlv(0xA0, tlv(0x0C, b"u"))),
                           tlv(0x82, b"a.example")))],
        sig=tlv(0x30, tlv(0x06, H("2a864886f70d01010a")), tlv(0x30)),
    ),
    "crafted-v1.der": cert(
        rdn(atv("550403", 0x14, H("5a6feb"))), None, version=b"", serial=H("ff7f"),
        validity=tlv(0x17, b"491231235959Z") + tlv(0x18, b"20240229120000Z"),
    ),
}

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: der_diff_seeds.py OUTDIR")
    for name, der in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(der)
