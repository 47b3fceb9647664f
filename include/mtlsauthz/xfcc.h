/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: identities from the X-Forwarded-Client-Cert (XFCC) header that Envoy, Istio and
 * other proxies that terminate mutual TLS send to the application behind them.
 *
 * The header says who the proxy's client was; anyone else can write it too. Read it only from a
 * proxy you trust, over a connection you know comes from that proxy (a Unix socket, loopback,
 * or mutual TLS with the proxy's own certificate), and make sure the proxy overwrites or
 * sanitizes the header it receives from its own clients (Envoy's forward_client_cert_details
 * SANITIZE_SET, Istio's default). The library cannot tell who wrote the header.
 *
 * Threading: the function keeps no state; the identity it builds is immutable.
 */
#ifndef MTLSAUTHZ_XFCC_H
#define MTLSAUTHZ_XFCC_H

#include "common.h"
#include "error.h"
#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Reads an identity from the value of an X-Forwarded-Client-Cert header (`header_len` bytes,
 * without the header's name), as Envoy writes it: elements separated by `,`, one per proxy,
 * each a list of `Key=value` pairs separated by `;`. Only the last element is read: the one
 * the nearest proxy added. The grammar, the keys and what each one gives the identity are in
 * docs/policy.md, "Identities from X-Forwarded-Client-Cert". In short:
 *
 * - with `Cert` (or `Chain`), the identity is the certificate's, read as
 *   mtlsauthz_identity_from_pem() reads one; a `Hash` that is not that certificate's SHA-256,
 *   or a `Cert` that is not the first certificate of `Chain`, rejects it;
 * - otherwise it is *partial* (mtlsauthz_identity_partial()): the SHA-256 from `Hash`, the
 *   subject DN and its CN, O and OU from `Subject`, the URI SANs (and so the SPIFFE ID) from
 *   `URI`, the DNS SANs from `DNS`; every other field is absent and never matches.
 *
 * Either way the identity is rejected (mtlsauthz_identity_rejected()) for what would reject a
 * certificate's: a NUL byte in a name, a byte from 0x80 up in a SAN, an invalid SPIFFE ID.
 *
 * *out receives a new identity owned by the caller (free with mtlsauthz_identity_free()), or
 * NULL on error; nothing of `header` is kept.
 * Keys other than these are parsed and ignored.
 *
 * Errors: MTLSAUTHZ_EINVAL (NULL arguments), MTLSAUTHZ_ECERT (a header that does not parse:
 * bad quoting, a pair without `=`, a key that may appear once appearing twice, bad
 * percent-encoding, a `Subject` that is not an RFC 2253 DN, a `Cert` that is not a
 * certificate; the message says which and where), MTLSAUTHZ_ELIMIT (a header longer than 65536
 * bytes, more than 256 values of a field or attributes in the Subject; docs/limits.md),
 * MTLSAUTHZ_ENOMEM. A header that does not parse never gives an identity.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_from_xfcc(mtlsauthz_identity **out,
                                                                     const char *header,
                                                                     size_t header_len,
                                                                     mtlsauthz_error *err);

#ifdef __cplusplus
}
#endif

#endif
