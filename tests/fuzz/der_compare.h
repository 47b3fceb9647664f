/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The differential check between the DER walker (lib/der.c) and the OpenSSL extractor
 * (lib/x509.c), shared by tests/unit/test_der.c and tests/fuzz/fuzz_der_diff.c.
 *
 * The invariant (lib/der.h): the walker either falls back, or succeeds where the OpenSSL
 * extractor also succeeds, with an identity equal in every field, every value's bytes, the raw
 * IP addresses, the rejection reason and the chain length.
 */
#ifndef MTLSAUTHZ_TEST_DER_COMPARE_H
#define MTLSAUTHZ_TEST_DER_COMPARE_H

#include <string.h>

#include "der.h"
#include "identity_build.h"

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

#endif
