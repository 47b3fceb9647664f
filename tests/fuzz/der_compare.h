/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The differential check between the DER walker (lib/der.c) and the OpenSSL extractor
 * (lib/x509.c), shared by tests/unit/test_der.c and tests/fuzz/fuzz_der_diff.c.
 *
 * The invariant (lib/der.h): the walker either falls back, or succeeds where the OpenSSL
 * extractor also succeeds, with an identity equal in every field, every value's bytes, the raw
 * IP addresses, the rejection reason and the chain length.
 *
 * And for the X509 entry point (docs/internals.md, "The DER of an X509"):
 * mtlsauthz_identity_from_x509() gives what mtlsauthz_identity_from_der() gives for i2d_X509()
 * of the same X509, and what the OpenSSL extractor reads from the X509 itself.
 */
#ifndef MTLSAUTHZ_TEST_DER_COMPARE_H
#define MTLSAUTHZ_TEST_DER_COMPARE_H

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "der.h"
#include "identity_build.h"
#include "x509.h"

/* NULL when equal, otherwise which part differs (static text). */
static inline const char *dc_identity_diff(const mtlsauthz_identity *a, const mtlsauthz_identity *b)
{
    size_t f, i, ips;
    if (a == NULL || b == NULL) {
        return "identity missing";
    }
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        if (a->counts[f] != b->counts[f]) {
            return "a field has a different number of values";
        }
        for (i = 0; i < a->counts[f]; i++) {
            const mtlsauthz__str *x = &a->values[f][i], *y = &b->values[f][i];
            if (x->len != y->len || memcmp(x->ptr, y->ptr, x->len) != 0) {
                return "a value differs";
            }
            /* The identity invariant: every value is followed by a NUL in memory. */
            if (x->ptr[x->len] != '\0' || y->ptr[y->len] != '\0') {
                return "a value is not NUL-terminated";
            }
        }
    }
    ips = a->counts[MTLSAUTHZ_FIELD_SAN_IP];
    for (i = 0; i < ips; i++) {
        if (a->ip_raw[i].len != b->ip_raw[i].len ||
            memcmp(a->ip_raw[i].ptr, b->ip_raw[i].ptr, a->ip_raw[i].len) != 0) {
            return "a raw IP address differs";
        }
    }
    if ((a->rejected == NULL) != (b->rejected == NULL) ||
        (a->rejected != NULL && strcmp(a->rejected, b->rejected) != 0)) {
        return "the rejection reason differs";
    }
    if (a->chain_len != b->chain_len) {
        return "the chain length differs";
    }
    return NULL;
}

/*
 * Runs both extractors on one chain. Returns NULL when the invariant holds, otherwise why not.
 * *walker_ok (may be NULL) tells whether the walker built the identity itself.
 */
static inline const char *dc_check(const unsigned char *const *certs, const size_t *lens,
                                   size_t count, int *walker_ok)
{
    mtlsauthz_identity *w = NULL, *o = NULL;
    mtlsauthz_error err;
    const char *diff = NULL;
    int rw, ro;

    memset(&err, 0, sizeof(err));
    rw = mtlsauthz__der_from_der_certs(&w, certs, lens, count, count);
    if (walker_ok != NULL) {
        *walker_ok = rw == 0;
    }
    if (rw != 0) {
        if (rw != MTLSAUTHZ__DER_FALLBACK) {
            diff = "the walker returned neither 0 nor MTLSAUTHZ__DER_FALLBACK";
        } else if (w != NULL) {
            diff = "the walker fell back but set *out";
        }
        mtlsauthz_identity_free(w);
        return diff;
    }
    ro = mtlsauthz__x509_from_der_certs(&o, certs, lens, count, &err);
    if (ro != 0) {
        diff = "the walker succeeded where the OpenSSL extractor failed";
    } else {
        diff = dc_identity_diff(w, o);
    }
    mtlsauthz_identity_free(w);
    mtlsauthz_identity_free(o);
    return diff;
}

/* dc_check() on one buffer taken as a single certificate. */
static inline const char *dc_check_one(const unsigned char *der, size_t len, int *walker_ok)
{
    const unsigned char *certs[1];
    size_t lens[1];
    certs[0] = der;
    lens[0] = len;
    return dc_check(certs, lens, 1, walker_ok);
}

/*
 * Parses `len` bytes with d2i_X509(), as a TLS stack parses a peer's certificate, and compares
 * for that X509 (A) mtlsauthz_identity_from_x509(), (B) mtlsauthz_identity_from_der() of its
 * encoding i2d_X509(), and (C) the OpenSSL extractor reading the X509 itself: the same return
 * code, and on success identities equal in every part. A must give the same identity with a
 * verified chain of two that starts with (a copy of) the leaf, but for a chain length of 2. Returns
 * NULL when all agree or OpenSSL does not parse the bytes, otherwise what differs. *parsed (may be
 * NULL): whether d2i_X509() parsed them; *reencoded (may be NULL): whether the encoding differs
 * from the bytes d2i_X509() consumed (non-DER input OpenSSL accepts).
 */
static inline const char *dc_check_x509(const unsigned char *der, size_t len, int *parsed,
                                        int *reencoded)
{
    const unsigned char *p = der;
    mtlsauthz_identity *a = NULL, *b = NULL, *c = NULL;
    mtlsauthz_error err;
    unsigned char *enc = NULL;
    STACK_OF(X509) *chain = NULL;
    const char *diff = NULL;
    X509 *x = NULL, *dup = NULL;
    int ra, rb, rc, enc_len;

    if (parsed != NULL) {
        *parsed = 0;
    }
    if (reencoded != NULL) {
        *reencoded = 0;
    }
    if (len > MTLSAUTHZ__MAX_INPUT_BYTES || (x = d2i_X509(NULL, &p, (long)len)) == NULL) {
        return NULL;
    }
    if (parsed != NULL) {
        *parsed = 1;
    }
    memset(&err, 0, sizeof(err));
    enc_len = i2d_X509(x, &enc);
    ra = mtlsauthz_identity_from_x509(&a, x, NULL, &err);
    if (enc_len <= 0) {
        diff = ra == 0 ? "from_x509 succeeded on an X509 that does not encode" : NULL;
        goto out;
    }
    if (reencoded != NULL) {
        *reencoded = (size_t)enc_len != (size_t)(p - der) || memcmp(enc, der, (size_t)enc_len) != 0;
    }
    rb = mtlsauthz_identity_from_der(&b, enc, (size_t)enc_len, &err);
    rc = (size_t)enc_len > MTLSAUTHZ__MAX_CERT_BYTES
             ? MTLSAUTHZ_ELIMIT
             : mtlsauthz__x509_from_x509(&c, x, enc, (size_t)enc_len, 1, &err);
    if (ra != rb) {
        diff = "from_x509 and from_der of the X509's encoding return different codes";
    } else if (ra != rc) {
        diff = "from_x509 and the OpenSSL extractor on the X509 return different codes";
    } else if (ra == 0 && ((diff = dc_identity_diff(a, b)) != NULL ||
                           (diff = dc_identity_diff(a, c)) != NULL)) {
        goto out;
    }
    if (diff != NULL || ra != 0) {
        goto out;
    }
    /* A verified chain starts with the leaf (SSL_get0_verified_chain()), here an equal copy of
     * it, so that the leaf is recognised by content and not only by pointer. */
    mtlsauthz_identity_free(b);
    b = NULL;
    chain = sk_X509_new_null();
    if (chain == NULL || (dup = X509_dup(x)) == NULL || !sk_X509_push(chain, dup)) {
        X509_free(dup);
        goto out; /* an X509 that does not copy: nothing more to compare */
    }
    if (!sk_X509_push(chain, x)) {
        diff = "out of memory in the test";
        goto out;
    }
    if (mtlsauthz_identity_from_x509(&b, x, chain, &err) != 0) {
        diff = "from_x509 failed with a chain where it succeeded without";
    } else if (mtlsauthz_identity_chain_length(b) != 2) {
        diff = "from_x509 with a chain of two: the chain length is not 2";
    } else {
        /* Only the chain length may differ. */
        b->chain_len = a->chain_len;
        diff = dc_identity_diff(a, b);
    }
out:
    sk_X509_free(chain);
    X509_free(dup);
    mtlsauthz_identity_free(a);
    mtlsauthz_identity_free(b);
    mtlsauthz_identity_free(c);
    OPENSSL_free(enc);
    X509_free(x);
    return diff;
}

#endif
