/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity builder (identity_build.c), and the pieces it takes from the extractors.
 *
 * The identity side flows one way (docs/internals.md, "Data flow"): the public entry points
 * (identity.c) hand certificate bytes to an extractor (the DER walker in der.c, else the
 * OpenSSL extractor in x509.c), and the extractor hands the builder each value of the leaf in
 * certificate order: names as UTF-8, the IA5String SANs as their own bytes. The builder owns
 * every rule that must not differ between extractors: the text forms of the serial, digest,
 * times, IP addresses and EKUs, the per-field limits, the NUL, non-ASCII and SPIFFE
 * (X.509-SVID) rejection rules and their reasons. Two extractors that feed the same pieces
 * build byte-identical identities. The builder calls no extractor.
 */
#ifndef MTLSAUTHZ_IDENTITY_BUILD_H
#define MTLSAUTHZ_IDENTITY_BUILD_H

#include "identity_int.h"

/* An identity under construction. Fields are private to identity_build.c. */
typedef struct mtlsauthz__idb {
    mtlsauthz__buf data; /* every value's bytes, each followed by a NUL */
    struct mtlsauthz__idb_val {
        size_t off, len;
    } * vals[MTLSAUTHZ_FIELD_COUNT_];
    size_t counts[MTLSAUTHZ_FIELD_COUNT_];
    size_t caps[MTLSAUTHZ_FIELD_COUNT_];
    struct mtlsauthz__idb_val *ip_raw; /* parallel to vals[SAN_IP] */
    size_t ip_raw_cap;
    int nul_in_dn_attr;     /* a subject DN attribute other than CN, O, OU held a NUL */
    int bad_ip;             /* an iPAddress SAN was neither 4 nor 16 bytes */
    int is_ca;              /* basicConstraints cA is TRUE */
    int has_key_usage;      /* the leaf has a keyUsage extension */
    unsigned int key_usage; /* its named bits, MTLSAUTHZ__KU_* */
    int partial;            /* built from forwarded fields, not a certificate */
} mtlsauthz__idb;

/* A field's name for messages ("subject CN", "DNS SAN"). Never NULL. */
const char *mtlsauthz__field_name(mtlsauthz_field f);

void mtlsauthz__idb_init(mtlsauthz__idb *b);
void mtlsauthz__idb_free(mtlsauthz__idb *b);

/*
 * Appends a value (may contain NULs) to a text field: SUBJECT_DN, ISSUER_DN, CN, O or OU as
 * UTF-8; SAN_DNS, SAN_URI or SAN_EMAIL as the IA5String's content octets, unconverted, so that
 * a byte from 0x80 up rejects the identity (RFC 5280 §4.2.1.6 allows only ASCII there). The
 * other fields have their own setters below.
 * Errors: MTLSAUTHZ_ELIMIT (more than MTLSAUTHZ__MAX_VALUES values), MTLSAUTHZ_ENOMEM,
 * MTLSAUTHZ_EINTERNAL (a field without a text setter, or a single-valued field set twice).
 */
int mtlsauthz__idb_add(mtlsauthz__idb *b, mtlsauthz_field field, const char *p, size_t len,
                       mtlsauthz_error *err);

/* A subject DN attribute value other than CN, O and OU, as UTF-8: not stored, only checked
 * for NUL (which rejects the identity). */
void mtlsauthz__idb_dn_attribute(mtlsauthz__idb *b, const char *p, size_t len);

/* An iPAddress SAN: 4 or 16 network-order bytes. Other lengths are not stored and reject the
 * identity (RFC 5280 4.2.1.6 allows only these in a SAN). */
int mtlsauthz__idb_add_ip(mtlsauthz__idb *b, const unsigned char *raw, size_t len,
                          mtlsauthz_error *err);

/* An extended key usage as a dotted OID ("1.3.6.1.5.5.7.3.2"); one in the EKU table
 * (identity_int.h) is stored by its name ("clientAuth"). */
int mtlsauthz__idb_add_eku(mtlsauthz__idb *b, const char *dotted, size_t len, mtlsauthz_error *err);

/* The serial as its big-endian magnitude (leading zero bytes allowed) and sign. */
int mtlsauthz__idb_set_serial(mtlsauthz__idb *b, const unsigned char *mag, size_t len, int negative,
                              mtlsauthz_error *err);

/* The SHA-256 digest of the leaf DER. */
int mtlsauthz__idb_set_sha256(mtlsauthz__idb *b, const unsigned char digest[32],
                              mtlsauthz_error *err);

/* NOT_BEFORE or NOT_AFTER, in UTC: year 0-9999, month 1-12, day 1-31, hour 0-23, minute
 * 0-59, second 0-60. Errors: MTLSAUTHZ_ECERT when out of range. */
int mtlsauthz__idb_set_time(mtlsauthz__idb *b, mtlsauthz_field field, int year, int month, int day,
                            int hour, int minute, int second, mtlsauthz_error *err);

/* Whether the leaf is a CA (basicConstraints cA TRUE): a CA is never a SPIFFE workload. */
void mtlsauthz__idb_set_ca(mtlsauthz__idb *b, int is_ca);

/* KeyUsage named bits (RFC 5280 §4.2.1.3): bit n of the BIT STRING is 1u << n. */
#define MTLSAUTHZ__KU_DIGITAL_SIGNATURE (1u << 0)
#define MTLSAUTHZ__KU_KEY_CERT_SIGN (1u << 5)
#define MTLSAUTHZ__KU_CRL_SIGN (1u << 6)
#define MTLSAUTHZ__KU_DECIPHER_ONLY (1u << 8) /* the last named bit */

/*
 * The leaf's keyUsage extension: its named bits 0-8 as MTLSAUTHZ__KU_* (other bits are not
 * passed). An extractor calls this only when the extension is there; a builder it was never
 * called on has none, which the X.509-SVID rules treat as no digitalSignature.
 */
void mtlsauthz__idb_set_key_usage(mtlsauthz__idb *b, unsigned int bits);

/*
 * Marks the identity as partial: built from the fields a proxy forwarded in
 * X-Forwarded-Client-Cert without the certificate (xfcc.c), not from a certificate. Then
 * mtlsauthz__idb_finish() requires none of the single-valued fields (each has 0 or 1 value:
 * what the header did not carry is absent and never matches), and of the X.509-SVID rules it
 * applies those the forwarded names can show (one URI SAN, a valid SPIFFE ID) but not those
 * about the leaf's extensions (not a CA, keyUsage), which the header does not carry and the
 * proxy that verified the certificate answers for (docs/policy.md, "Identities from
 * X-Forwarded-Client-Cert").
 */
void mtlsauthz__idb_set_partial(mtlsauthz__idb *b);

/*
 * Checks that every single-valued field is set, applies the rejection rules, derives the
 * SPIFFE ID and moves everything into a new immutable identity (*out, owned by the caller).
 * `b` is reset either way. Errors: MTLSAUTHZ_ENOMEM, MTLSAUTHZ_EINTERNAL (a field missing).
 */
int mtlsauthz__idb_finish(mtlsauthz_identity **out, mtlsauthz__idb *b, size_t chain_len,
                          mtlsauthz_error *err);

/*
 * Rejects an identity just built, that its entry point has not handed out yet, for a reason
 * the certificate cannot show: the X-Forwarded-Client-Cert header it came with disagrees with
 * it (its Hash is another certificate's). `reason` is a static string. The reason replaces
 * any the builder gave, since it says the input as a whole cannot be trusted.
 */
void mtlsauthz__identity_reject(mtlsauthz_identity *id, const char *reason);

/*
 * NULL when `uri` (len bytes) is a valid SPIFFE ID for an X.509-SVID (SPIFFE ID spec §2,
 * X509-SVID spec §2); otherwise a static reason, "invalid SPIFFE ID: ...".
 */
const char *mtlsauthz__spiffe_validate(const char *uri, size_t len);

/*
 * ---- declared where they live, in der.h and x509.h ----
 * Repeated here for the callers that include only this header (the identity tests); every
 * file that includes both (der.c, x509.c) makes the compiler check that the two declarations
 * agree. See der.h and x509.h for what they do.
 */
size_t mtlsauthz__der_cert_len(const unsigned char *p, size_t avail);
int mtlsauthz__x509_from_der_certs(mtlsauthz_identity **out, const unsigned char *const *certs,
                                   const size_t *lens, size_t count, mtlsauthz_error *err);

#endif
