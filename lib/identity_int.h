/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity's internal layout, read by the policy engine, and the names the identity gives
 * extended key usages, which the policy compiler uses too. Built only by the identity builder
 * (identity_build.c), which every extractor feeds and which guarantees the invariants below
 * (docs/internals.md, "Invariants of the identity side").
 */
#ifndef MTLSAUTHZ_IDENTITY_INT_H
#define MTLSAUTHZ_IDENTITY_INT_H

#include "internal.h"

/* Limits that bound every allocation made from certificate bytes (docs/limits.md). */
#define MTLSAUTHZ__MAX_CERT_BYTES (64u * 1024u)    /* one DER certificate */
#define MTLSAUTHZ__MAX_INPUT_BYTES (1024u * 1024u) /* a whole DER chain or PEM bundle */
#define MTLSAUTHZ__MAX_CHAIN 16u                   /* certificates in a chain */
#define MTLSAUTHZ__MAX_VALUES 256u                 /* values per field (SANs, OUs, ...) */
#define MTLSAUTHZ__MAX_XFCC_BYTES (64u * 1024u)    /* an X-Forwarded-Client-Cert value */

/*
 * Invariants:
 * - values[f] has counts[f] entries; each value's ptr is followed by a NUL in memory, and
 *   len is its true length (it may contain NULs only if `rejected` is set);
 * - ip_raw has counts[MTLSAUTHZ_FIELD_SAN_IP] entries, parallel to values[SAN_IP]: the 4 or 16
 *   network-order address bytes (len 4 or 16; other lengths are malformed and rejected);
 * - SPIFFE_ID has 0 or 1 value, and 1 only for a valid X.509-SVID leaf;
 * - SERIAL, SHA256, SUBJECT_DN, ISSUER_DN, NOT_BEFORE and NOT_AFTER have exactly 1 value,
 *   except in a partial identity, where each has 0 or 1;
 * - partial is 1 only for an identity built from the fields a proxy forwarded without the
 *   certificate (X-Forwarded-Client-Cert, xfcc.c); its chain_len is 0;
 * - rejected is NULL or a static string;
 * - all memory is owned by the identity and freed by mtlsauthz_identity_free().
 */
struct mtlsauthz_identity {
    mtlsauthz__str *values[MTLSAUTHZ_FIELD_COUNT_];
    size_t counts[MTLSAUTHZ_FIELD_COUNT_];
    mtlsauthz__str *ip_raw;
    const char *rejected;
    size_t chain_len;
    int partial;
    void *storage; /* implementation-defined backing memory */
};

/*
 * The well-known extended key usages (RFC 5280 §4.2.1.12) and the names an identity gives
 * them: the one table both sides read (identity_build.c). The builder stores an EKU whose OID
 * is here under its name and any other as its dotted OID; the policy compiler accepts a name
 * or an OID from here and compiles both to the name, so a policy names a purpose exactly as an
 * identity reports it.
 */
typedef struct mtlsauthz__eku {
    const char *name; /* "clientAuth": OpenSSL's short name */
    const char *oid;  /* "1.3.6.1.5.5.7.3.2" */
} mtlsauthz__eku;

/* The whole table (*count entries), for tests and documentation. */
const mtlsauthz__eku *mtlsauthz__eku_table(size_t *count);
/* The entry whose dotted OID is exactly `len` bytes of `dotted`, or NULL. */
const mtlsauthz__eku *mtlsauthz__eku_by_oid(const char *dotted, size_t len);
/* The entry whose name is exactly `len` bytes of `name` (case-sensitive), or NULL. */
const mtlsauthz__eku *mtlsauthz__eku_by_name(const char *name, size_t len);
/* 1 if `len` bytes of `s` are a dotted OID as OBJ_obj2txt() prints one and a policy may write
 * one: at least two arcs, the first 0 to 2 (X.660), decimal arcs of at most 20 digits without
 * leading zeros. */
int mtlsauthz__eku_is_oid(const char *s, size_t len);

#endif
