/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity's fields (docs/api.md, "Identity fields"): the one list of what the library
 * knows about each of them besides its number, which include/mtlsauthz/identity.h fixes for
 * the ABI.
 *
 * One row per field, in enum order:
 *   ENUM    the public constant's suffix (MTLSAUTHZ_FIELD_<ENUM>);
 *   name    its machine name (mtlsauthz_field_name(), the bindings' and the JSON's key);
 *   label   how messages name it ("more than 256 DNS SAN values");
 *   ARITY   ONE: exactly one value in every identity (the builder refuses a second and
 *           requires the first); LIST: zero or more, in certificate order; DERIVED: zero or
 *           one, set by the builder itself (the SPIFFE ID, from the URI SANs), never by an
 *           extractor.
 * Adding a field: docs/internals.md, "Adding an identity field".
 */
#ifndef MTLSAUTHZ_FIELDS_H
#define MTLSAUTHZ_FIELDS_H

#include "mtlsauthz/identity.h"

/* The table keeps its columns. */
/* clang-format off */
#define MTLSAUTHZ__FIELDS(X)                                                                       \
    /* ENUM        name          label         ARITY */                                            \
    X(SUBJECT_DN,  "subject_dn", "subject DN", ONE)                                                \
    X(CN,          "cn",         "subject CN", LIST)                                               \
    X(O,           "o",          "subject O",  LIST)                                               \
    X(OU,          "ou",         "subject OU", LIST)                                               \
    X(ISSUER_DN,   "issuer_dn",  "issuer DN",  ONE)                                                \
    X(SERIAL,      "serial",     "serial",     ONE)                                                \
    X(SHA256,      "sha256",     "SHA-256",    ONE)                                                \
    X(SPIFFE_ID,   "spiffe_id",  "SPIFFE ID",  DERIVED)                                               \
    X(SAN_DNS,     "san_dns",    "DNS SAN",    LIST)                                               \
    X(SAN_URI,     "san_uri",    "URI SAN",    LIST)                                               \
    X(SAN_EMAIL,   "san_email",  "email SAN",  LIST)                                               \
    X(SAN_IP,      "san_ip",     "IP SAN",     LIST)                                               \
    X(EKU,         "eku",        "EKU",        LIST)                                               \
    X(NOT_BEFORE,  "not_before", "notBefore",  ONE)                                                \
    X(NOT_AFTER,   "not_after",  "notAfter",   ONE)
/* clang-format on */

typedef enum mtlsauthz__field_arity {
    MTLSAUTHZ__ARITY_ONE,
    MTLSAUTHZ__ARITY_LIST,
    MTLSAUTHZ__ARITY_DERIVED,
} mtlsauthz__field_arity;

#endif
