/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast extractor: a hand-written DER walker for X.509 certificates (RFC 5280 §4.1, X.690
 * DER) that feeds the identity builder (identity_build.h) without a full d2i_X509(), which in
 * OpenSSL 3.0 spends most of its time decoding the public key we never read (docs/performance.md).
 *
 * The walker is an accelerator, never a judge. It accepts a strict subset of what the OpenSSL
 * extractor (x509.c) accepts, and builds byte-identical identities for it. Anything it does not
 * fully support, and anything malformed, makes it return MTLSAUTHZ__DER_FALLBACK, and the
 * one dispatch in identity.c then runs the OpenSSL extractor, which decides: malformed input
 * fails exactly as it would without the walker. tests/unit/test_der.c and
 * tests/fuzz/fuzz_der_diff.c check the invariant: whenever the walker succeeds, the OpenSSL
 * extractor succeeds with the same identity.
 *
 * der.c also holds the DER framing reader (mtlsauthz__der_cert_len), so there is one reader of
 * DER headers in the library.
 */
#ifndef MTLSAUTHZ_DER_H
#define MTLSAUTHZ_DER_H

#include "identity_int.h"

/* "Use the OpenSSL extractor": positive, so it is never mistaken for an MTLSAUTHZ_E* code. */
#define MTLSAUTHZ__DER_FALLBACK 1

/*
 * Builds an identity from `count` DER certificates, leaf first, as mtlsauthz__x509_from_der_certs()
 * would, recording `chain_len` as its chain length (`count` for a chain given as DER; more when
 * only the leaf is walked, for mtlsauthz_identity_from_x509()). Returns 0 with *out set (owned by
 * the caller, mtlsauthz_identity_free), or MTLSAUTHZ__DER_FALLBACK with *out NULL. Never reports an
 * error itself: every failure, including allocation failure, is a fallback, so that the OpenSSL
 * extractor produces the error. Reads only within certs[i][0..lens[i]). Thread-safe: no shared
 * mutable state besides a lazily fetched, immutable SHA-256 implementation.
 */
int mtlsauthz__der_from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                                  const size_t *lens, size_t count, size_t chain_len);

/*
 * The DER framing reader, for the entry points that split a buffer into certificates: the total
 * length of the DER certificate at the start of `p` (tag, length and content), read by the same
 * element reader as every read in the walker, so it must be a SEQUENCE with a definite, minimally
 * encoded length of at most three octets (16 MiB, far above MTLSAUTHZ__MAX_INPUT_BYTES). 0 when
 * the header is malformed or claims more than `avail` bytes. Reads only the header, within
 * `avail`.
 */
size_t mtlsauthz__der_cert_len(const unsigned char *p, size_t avail);

/*
 * The walker's element reader on its own, for tests of its bounds: reads the header of the DER
 * element at the start of `p` (`avail` bytes) exactly as every read in the walker does. *tag
 * receives the identifier octet, *hdr_len the length of the identifier and length octets and
 * *content_len the length of the content. Returns 0, or -1 when the header is not DER the
 * walker takes (high tag number, indefinite or non-minimal length, more than three length
 * octets) or when the header or the content does not fit in `avail`. Reads only p[0..avail).
 */
int mtlsauthz__der_read_header(unsigned char *tag, size_t *hdr_len, size_t *content_len,
                               const unsigned char *p, size_t avail);

/*
 * Writes the dotted text of an OBJECT IDENTIFIER, given its content octets (X.690 §8.19), to
 * buf (NUL-terminated) and returns its length: byte for byte what OBJ_obj2txt(buf, n, obj, 1)
 * prints. Returns -1, writing nothing useful, for an invalid encoding (empty, a leading 0x80 in a
 * subidentifier, a truncated last subidentifier), more than MTLSAUTHZ__DER_MAX_OID bytes, an arc
 * beyond 64 bits, or a buffer too small.
 */
#define MTLSAUTHZ__DER_MAX_OID 128u
int mtlsauthz__der_oid_text(char *buf, size_t bufsz, const unsigned char *oid, size_t len);

/*
 * The DN attribute types the walker names itself, without OpenSSL's object table (which costs
 * ~180 ns per lookup). Each short name must equal OBJ_nid2sn(OBJ_obj2nid(oid)), which
 * test_der.c checks. `field` is MTLSAUTHZ_FIELD_CN, _O or _OU for the attributes the identity
 * keeps by value, and MTLSAUTHZ_FIELD_COUNT_ for the others. Any other type is looked up in
 * OpenSSL's table.
 */
typedef struct mtlsauthz__der_attr_type {
    const unsigned char *oid; /* content octets */
    size_t oid_len;
    const char *sn;
    mtlsauthz_field field;
} mtlsauthz__der_attr_type;

const mtlsauthz__der_attr_type *mtlsauthz__der_attr_types(size_t *count);

#endif
