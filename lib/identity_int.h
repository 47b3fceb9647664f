/*
 * The identity's internal layout, read by the policy engine. Built only by identity.c
 * (and, later, the fast DER path), which guarantees the invariants below.
 */
#ifndef MTLSAUTHZ_IDENTITY_INT_H
#define MTLSAUTHZ_IDENTITY_INT_H

#include "internal.h"

/* Limits that bound every allocation made from certificate bytes (docs/limits.md). */
#define MTLSAUTHZ__MAX_CERT_BYTES (64u * 1024u)    /* one DER certificate */
#define MTLSAUTHZ__MAX_INPUT_BYTES (1024u * 1024u) /* a whole DER chain or PEM bundle */
#define MTLSAUTHZ__MAX_CHAIN 16u                   /* certificates in a chain */
#define MTLSAUTHZ__MAX_VALUES 256u                 /* values per field (SANs, OUs, ...) */

/*
 * Invariants:
 * - values[f] has counts[f] entries; each value's ptr is followed by a NUL in memory, and
 *   len is its true length (it may contain NULs only if `rejected` is set);
 * - ip_raw has counts[MTLSAUTHZ_FIELD_SAN_IP] entries, parallel to values[SAN_IP]: the 4 or 16
 *   network-order address bytes (len 4 or 16; other lengths are malformed and rejected);
 * - SPIFFE_ID has 0 or 1 value, and 1 only for a valid X.509-SVID leaf;
 * - SERIAL, SHA256, SUBJECT_DN, ISSUER_DN, NOT_BEFORE and NOT_AFTER have exactly 1 value;
 * - rejected is NULL or a static string;
 * - all memory is owned by the identity and freed by mtlsauthz_identity_free().
 */
struct mtlsauthz_identity {
    mtlsauthz__str *values[MTLSAUTHZ_FIELD_COUNT_];
    size_t counts[MTLSAUTHZ_FIELD_COUNT_];
    mtlsauthz__str *ip_raw;
    const char *rejected;
    size_t chain_len;
    void *storage; /* implementation-defined backing memory */
};

#endif
