/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: identities read from an already-verified peer certificate chain.
 *
 * The library does NOT verify chains: pass only a chain your TLS stack has verified. It reads
 * the leaf certificate's names (subject, SANs, SPIFFE ID, EKU, serial, fingerprint, validity)
 * into an immutable identity that the policy engine can match.
 *
 * Values are bytes with explicit lengths. A value that contains a NUL byte is kept whole; such
 * an identity is marked *rejected* (see mtlsauthz_identity_rejected()) and is denied every
 * operation by the policy engine, so a name like "admin\0.evil.com" can never pass for "admin".
 * Names from the subject are UTF-8. DNS, URI and email SANs are the certificate's own bytes:
 * RFC 5280 makes them ASCII (IA5String), and one holding a byte from 0x80 up is kept as sent,
 * never re-read as another name, and rejects the identity.
 *
 * Threading: an identity is immutable once built; any number of threads may read it at once.
 */
#ifndef MTLSAUTHZ_IDENTITY_H
#define MTLSAUTHZ_IDENTITY_H

#include "common.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An identity. Opaque; create with mtlsauthz_identity_from_*(), free with _free(). */
typedef struct mtlsauthz_identity mtlsauthz_identity;

/**
 * The fields of an identity. Every field is a list of values; single-valued fields have zero
 * or one value. The numbers are ABI and never change.
 */
typedef enum mtlsauthz_field {
    MTLSAUTHZ_FIELD_SUBJECT_DN = 0, /* RFC 2253 form, as `openssl x509 -nameopt RFC2253,-esc_msb` */
    MTLSAUTHZ_FIELD_CN = 1,         /* subject commonName values, in certificate order */
    MTLSAUTHZ_FIELD_O = 2,          /* subject organizationName values */
    MTLSAUTHZ_FIELD_OU = 3,         /* subject organizationalUnitName values */
    MTLSAUTHZ_FIELD_ISSUER_DN = 4,  /* issuer DN, same form as the subject DN */
    MTLSAUTHZ_FIELD_SERIAL = 5,     /* lowercase hex, no colons or leading zeros, "-" if negative */
    MTLSAUTHZ_FIELD_SHA256 = 6,     /* SHA-256 of the leaf DER, lowercase hex */
    MTLSAUTHZ_FIELD_SPIFFE_ID = 7,  /* the SPIFFE ID, only for a valid X.509-SVID leaf */
    MTLSAUTHZ_FIELD_SAN_DNS = 8,    /* dNSName SANs */
    MTLSAUTHZ_FIELD_SAN_URI = 9,    /* uniformResourceIdentifier SANs */
    MTLSAUTHZ_FIELD_SAN_EMAIL = 10, /* rfc822Name SANs */
    MTLSAUTHZ_FIELD_SAN_IP = 11,    /* iPAddress SANs: IPv4 dotted, IPv6 RFC 5952 */
    MTLSAUTHZ_FIELD_EKU = 12,       /* "clientAuth", ... or a dotted OID */
    MTLSAUTHZ_FIELD_NOT_BEFORE = 13, /* RFC 3339 UTC, "2026-01-02T03:04:05Z" */
    MTLSAUTHZ_FIELD_NOT_AFTER = 14,
    MTLSAUTHZ_FIELD_COUNT_ = 15
} mtlsauthz_field;

/**
 * The name of `field`: its enumerator in lowercase without the prefix ("subject_dn" for
 * MTLSAUTHZ_FIELD_SUBJECT_DN, "san_ip", "not_after"), a static string; NULL for a number that
 * is not a field. With mtlsauthz_field_count() it lets an FFI binding check its copy of the
 * field numbers at load (docs/abi.md). Thread-safe.
 */
MTLSAUTHZ_API const char *mtlsauthz_field_name(mtlsauthz_field field);

/**
 * How many fields the library loaded at run time knows (MTLSAUTHZ_FIELD_COUNT_ of its build):
 * the fields are numbered 0 to count - 1. A later minor release may add fields at the end,
 * never renumber them. Thread-safe.
 */
MTLSAUTHZ_API size_t mtlsauthz_field_count(void);

/**
 * Reads an identity from a DER-encoded chain: one or more certificates concatenated, leaf
 * first. Every certificate must parse and the input must end exactly after the last one.
 *
 * *out receives a new identity owned by the caller (free with mtlsauthz_identity_free()), or
 * NULL on error. `der` is copied as needed; nothing is kept.
 * Errors: MTLSAUTHZ_EINVAL (NULL args), MTLSAUTHZ_ECERT (malformed or empty), MTLSAUTHZ_ELIMIT
 * (too large, chain too long, too many names), MTLSAUTHZ_ENOMEM.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_from_der(mtlsauthz_identity **out,
                                                                    const unsigned char *der,
                                                                    size_t der_len,
                                                                    mtlsauthz_error *err);

/**
 * As mtlsauthz_identity_from_der(), with the chain given as `count` separate DER buffers,
 * leaf first (`certs[i]` of `lens[i]` bytes), so callers that hold certificates apart (Go's
 * x509.Certificate.Raw) need not concatenate them.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int
mtlsauthz_identity_from_der_chain(mtlsauthz_identity **out, const unsigned char *const *certs,
                                  const size_t *lens, size_t count, mtlsauthz_error *err);

/**
 * Reads an identity from a PEM bundle: one or more "CERTIFICATE" blocks, the first being the
 * leaf. Text around the blocks is ignored; any other PEM block type, or a block that does not
 * decode, is an error. Same ownership and errors as mtlsauthz_identity_from_der().
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_from_pem(mtlsauthz_identity **out,
                                                                    const char *pem, size_t pem_len,
                                                                    mtlsauthz_error *err);

/**
 * Reads an identity from the certificate file at `cert_path`, and the chain file at
 * `chain_path` (NULL for none), whose certificates follow the leaf file's. Each file is PEM or
 * DER, told apart by its content: DER when it starts with a well-formed certificate header,
 * else PEM when it holds a PEM boundary line ("-----BEGIN "), else DER (so the DER reader
 * says what is wrong). A PEM file is read as mtlsauthz_identity_from_pem() reads a bundle and
 * a DER file as mtlsauthz_identity_from_der() reads a chain; the leaf is the first certificate
 * of `cert_path`. Each file is at most the input limit (docs/limits.md).
 * Ownership as mtlsauthz_identity_from_der(). The message starts with the file it is about:
 * "PATH: text", or "CERT with chain CHAIN: text" for a certificate of the joined chain. Errors:
 * those of mtlsauthz_identity_from_der() and MTLSAUTHZ_EIO (with the system's reason).
 * Thread-safe.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_from_file(mtlsauthz_identity **out,
                                                                     const char *cert_path,
                                                                     const char *chain_path,
                                                                     mtlsauthz_error *err);

/** Frees an identity. NULL is a no-op. */
MTLSAUTHZ_API void mtlsauthz_identity_free(mtlsauthz_identity *id);

/**
 * Number of values the identity holds for `field`; 0 for an unknown field or a NULL identity.
 */
MTLSAUTHZ_API size_t mtlsauthz_identity_count(const mtlsauthz_identity *id, mtlsauthz_field field);

/**
 * The `index`th value of `field`. *value receives borrowed bytes that live as long as `id`;
 * they are followed by a NUL for convenience, but may contain NULs: always use *len.
 * Returns 0, or MTLSAUTHZ_EINVAL for a bad field, index or argument (then *value is NULL and
 * *len is 0).
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_get(const char **value, size_t *len,
                                                               const mtlsauthz_identity *id,
                                                               mtlsauthz_field field, size_t index);

/**
 * NULL when the identity may be authorized; otherwise a short static reason why it is
 * rejected: "NUL byte in subject CN" (or O, OU, subject DN attribute, DNS SAN, URI SAN, email
 * SAN), "non-ASCII byte in DNS SAN" (or URI SAN, email SAN), "malformed iPAddress SAN", or
 * "invalid SPIFFE ID: ..." for a spiffe URI on a leaf that is not a valid X.509-SVID: a bad
 * URI, more than one URI SAN, "leaf is a CA", "leaf has no keyUsage extension", "leaf keyUsage
 * lacks digitalSignature", "leaf keyUsage has keyCertSign", "leaf keyUsage has cRLSign"
 * (X509-SVID spec §4.1, §4.3). From mtlsauthz_identity_from_xfcc() also "XFCC Hash is not the
 * certificate's SHA-256" and "XFCC Cert is not the first certificate of Chain". A rejected
 * identity is denied every operation. A NULL identity is reported as rejected.
 */
MTLSAUTHZ_API const char *mtlsauthz_identity_rejected(const mtlsauthz_identity *id);

/**
 * Number of certificates in the chain the identity was read from (1 = leaf only); 0 for a
 * partial identity, which was read from no certificate.
 */
MTLSAUTHZ_API size_t mtlsauthz_identity_chain_length(const mtlsauthz_identity *id);

/**
 * 1 when the identity is *partial*: built by mtlsauthz_identity_from_xfcc() from the names a
 * proxy forwarded (Hash, Subject, URI, DNS) without the certificate. Only those fields are
 * set; the fields the header cannot carry (issuer, serial, EKU, email and IP SANs, validity,
 * and O/OU unless the Subject holds them) have no value, so no selector on them matches
 * (docs/policy.md, "Identities from X-Forwarded-Client-Cert"). 0 for an identity read from a
 * certificate, and for NULL.
 */
MTLSAUTHZ_API int mtlsauthz_identity_partial(const mtlsauthz_identity *id);

/**
 * Renders the identity as one JSON object (the `mtlsauthz identity --format json` document):
 * its fields, `"partial"` (see mtlsauthz_identity_partial()) and `"rejected"` (the reason, or
 * null). A field without a value is null, a list without values [].
 * *out receives a NUL-terminated string owned by the caller, freed with mtlsauthz_string_free();
 * *out_len (may be NULL) its length. Errors: MTLSAUTHZ_EINVAL, MTLSAUTHZ_ENOMEM.
 */
MTLSAUTHZ_API MTLSAUTHZ_WARN_UNUSED int mtlsauthz_identity_to_json(char **out, size_t *out_len,
                                                                   const mtlsauthz_identity *id,
                                                                   mtlsauthz_error *err);

/** Frees a string returned by the library. NULL is a no-op. */
MTLSAUTHZ_API void mtlsauthz_string_free(char *s);

#ifdef __cplusplus
}
#endif

#endif
