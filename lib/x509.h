/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenSSL side of identity extraction (x509.c): the PEM decoder, the OpenSSL extractor
 * that feeds the identity builder (identity_build.h) from a parsed X509, and the encoding of a
 * caller's X509 for the DER walker. Only identity.c calls these, through its one dispatch
 * (docs/internals.md, "Data flow"), except mtlsauthz__x509_add_subject(), which xfcc.c uses
 * so that a subject read from X-Forwarded-Client-Cert is printed as a certificate's is.
 *
 * OpenSSL reports failures on its thread-local error queue. Every function here sets a mark on
 * entry and pops back to it on exit, so the library neither leaves errors behind in the
 * caller's thread nor discards ones the caller had queued; failures are reported through our
 * own mtlsauthz_error.
 */
#ifndef MTLSAUTHZ_X509_H
#define MTLSAUTHZ_X509_H

#include "identity_int.h"
#include "mtlsauthz/openssl.h"

/*
 * Builds an identity from `count` DER certificates, leaf first, each exactly one certificate
 * of at most MTLSAUTHZ__MAX_CERT_BYTES: every one must parse, and the leaf is read. The caller
 * has checked count (1..MAX_CHAIN) and the total size. Errors as mtlsauthz_identity_from_der().
 */
int mtlsauthz__x509_from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                                   const size_t *lens, size_t count, mtlsauthz_error *err);

/*
 * Builds an identity from the caller's parsed leaf, whose DER encoding (the bytes its SHA-256
 * is taken over) is `der` (der_len bytes, from mtlsauthz__x509_leaf_der()), recording
 * `chain_len`. Errors as mtlsauthz_identity_from_x509().
 */
int mtlsauthz__x509_from_x509(mtlsauthz_identity **out, X509 *leaf, const unsigned char *der,
                              size_t der_len, size_t chain_len, mtlsauthz_error *err);

/*
 * The first half of mtlsauthz_identity_from_x509(): the length of the chain the caller passed
 * (the leaf counted once, whether or not `chain` starts with it) and the leaf's DER, i2d_X509()
 * of it (docs/internals.md, "The DER of an X509"), in *der (der_len bytes, at most
 * MTLSAUTHZ__MAX_CERT_BYTES). *der is `scratch` when the encoding fits in its `scratch_len`
 * bytes, else an allocation the caller frees with mtlsauthz__free() when *der != scratch.
 * Errors: MTLSAUTHZ_ELIMIT (chain or certificate too long), MTLSAUTHZ_ECERT (does not encode),
 * MTLSAUTHZ_ENOMEM.
 */
int mtlsauthz__x509_leaf_der(unsigned char **der, size_t *der_len, size_t *chain_len,
                             unsigned char *scratch, size_t scratch_len, X509 *leaf,
                             STACK_OF(X509) * chain, mtlsauthz_error *err);

/*
 * Decodes the CERTIFICATE blocks of a PEM bundle (RFC 7468) to DER, and does nothing else:
 * blocks[0..*count) receive the decoded bytes (free with mtlsauthz__x509_free_der()) and lens
 * their lengths, which nothing has checked yet. Any other block, a block with headers, an empty
 * block, more than MTLSAUTHZ__MAX_CHAIN blocks, or none, is MTLSAUTHZ_ECERT or
 * MTLSAUTHZ_ELIMIT, and then *count is 0. The caller has checked pem_len.
 */
int mtlsauthz__x509_pem_to_der(unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN],
                               size_t lens[MTLSAUTHZ__MAX_CHAIN], size_t *count, const char *pem,
                               size_t pem_len, mtlsauthz_error *err);

struct mtlsauthz__idb; /* identity_build.h */

/*
 * Feeds the builder a subject name as the OpenSSL extractor feeds a certificate's: the DN in
 * RFC 2253 form (`openssl x509 -nameopt RFC2253,-esc_msb`), then its CN, O and OU values as
 * UTF-8, every other attribute only checked for NUL. Errors: MTLSAUTHZ_ECERT (a value that does
 * not decode), the builder's.
 */
int mtlsauthz__x509_add_subject(struct mtlsauthz__idb *b, const X509_NAME *name,
                                mtlsauthz_error *err);

/* Frees `count` buffers from mtlsauthz__x509_pem_to_der(). */
void mtlsauthz__x509_free_der(unsigned char *const *ders, size_t count);

#endif
