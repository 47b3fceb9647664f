/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities written out by hand instead of read from a certificate: the `identity:` of a
 * policy test (docs/policy.md, "Policy tests").
 *
 * The values go through the identity builder (identity_build.h) as an extractor would hand
 * them over, so the builder's rejection rules (NUL bytes, non-ASCII bytes in an IA5String SAN,
 * invalid SPIFFE IDs) apply unchanged and a test cannot pass on an identity that no
 * certificate could produce. What the builder cannot check, because an extractor never hands
 * it over, is checked here: text a certificate cannot carry at all (an IP address that does
 * not parse, an EKU that is neither a known name nor a dotted OID, a serial or fingerprint not
 * spelt as the identity shows it, a name that is not UTF-8) is an error, not an identity.
 *
 * The identity stands for an end-entity leaf: basicConstraints cA FALSE and keyUsage
 * digitalSignature (what a client certificate and an X.509-SVID carry, X509-SVID spec §4.3),
 * a subject of the O, then OU, then CN attributes given (so the DN reads
 * "CN=...,OU=...,O=..."), one SAN per value, and fixed values for what a test does not name
 * (below).
 */
#ifndef MTLSAUTHZ_IDENTITY_INLINE_H
#define MTLSAUTHZ_IDENTITY_INLINE_H

#include "internal.h"

/* What an inline identity has when the test does not say: the issuer CN, and a serial of 0
 * and an all-zero fingerprint, values no CA issues (RFC 5280 §4.1.2.2 asks for a positive
 * serial), so that a `serial` or `sha256` pin in a policy never matches them by accident. Its
 * validity is always 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (RFC 5280 §4.1.2.5's "no
 * well-defined expiration date"): no policy reads it. */
#define MTLSAUTHZ__INLINE_ISSUER_CN "mtlsauthz inline identity"
#define MTLSAUTHZ__INLINE_SERIAL "0"

/* The longest `serial` accepted, in hex digits: 64 octets, where RFC 5280 §4.1.2.2 allows 20
 * and certificates in use exceed that. */
#define MTLSAUTHZ__INLINE_SERIAL_MAX 128u

/* A list of values; n == 0: absent. */
typedef struct mtlsauthz__inline_list {
    const mtlsauthz__str *v;
    size_t n;
} mtlsauthz__inline_list;

/*
 * The keys of an inline identity, each a list of byte strings (pointer and length; NULs are
 * passed on to the builder, which rejects them as it would in a certificate):
 *   spiffe  at most one SPIFFE ID, carried as the leaf's first URI SAN;
 *   cn, o, ou  subject attribute values (UTF-8);
 *   dns, uri, email  SAN values (IA5String bytes);
 *   ip  IPv4 or IPv6 addresses as text ("192.0.2.10", "2001:db8::1"), one address each;
 *   eku  clientAuth, serverAuth, codeSigning, emailProtection, timeStamping, OCSPSigning or a
 *        dotted OID, as a policy's `eku` spells them;
 *   serial  at most one, lowercase hex without leading zeros, '-' if negative (as the identity
 *           shows it); sha256  at most one, 64 lowercase hex digits.
 */
typedef struct mtlsauthz__inline_identity {
    mtlsauthz__inline_list spiffe;
    mtlsauthz__inline_list cn, o, ou;
    mtlsauthz__inline_list dns, uri, email, ip, eku;
    mtlsauthz__inline_list serial, sha256;
} mtlsauthz__inline_identity;

/*
 * Builds the identity `in` describes. *out is a new identity owned by the caller
 * (mtlsauthz_identity_free()); it may be rejected (mtlsauthz_identity_rejected()), exactly as
 * the certificate it stands for would be. Nothing in `in` is kept.
 * Errors: MTLSAUTHZ_EPOLICY (a value no certificate can carry; the message names the key and
 * the value, and says how to write it), MTLSAUTHZ_ELIMIT (more values than a certificate's
 * field may hold), MTLSAUTHZ_ENOMEM, MTLSAUTHZ_EINVAL. Thread-safe.
 */
int mtlsauthz__identity_from_inline(mtlsauthz_identity **out, const mtlsauthz__inline_identity *in,
                                    mtlsauthz_error *err);

#endif
