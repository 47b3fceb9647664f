/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: the OpenSSL entry point. The only public header that includes OpenSSL.
 *
 * For servers that terminate TLS with OpenSSL (NGINX, a C server): read the identity straight
 * from the X509 objects the TLS stack has already parsed and verified.
 */
#ifndef MTLSAUTHZ_OPENSSL_H
#define MTLSAUTHZ_OPENSSL_H

#include <openssl/x509.h>

#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Reads an identity from `leaf` and an optional verified `chain` (may be NULL; when given, it
 * is the chain as OpenSSL reports it, and the leaf may or may not be its first element).
 * Neither is modified or kept: the identity copies what it needs.
 * Same ownership and errors as mtlsauthz_identity_from_der().
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_from_x509(mtlsauthz_identity **out,
                                                                     X509 *leaf,
                                                                     STACK_OF(X509) * chain,
                                                                     mtlsauthz_error *err);

#ifdef __cplusplus
}
#endif

#endif
