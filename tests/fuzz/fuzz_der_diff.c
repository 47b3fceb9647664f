/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the DER walker (lib/der.c) against the OpenSSL extractor (lib/x509.c) on
 * arbitrary bytes. It aborts when the walker succeeds where the OpenSSL extractor fails or
 * builds a different identity (der.h), and when the public entry point disagrees with the
 * OpenSSL extractor on a chain. It also parses the input with d2i_X509(), as a TLS stack parses a
 * peer's certificate, and aborts when mtlsauthz_identity_from_x509() on that X509 disagrees with
 * mtlsauthz_identity_from_der() on its encoding or with the OpenSSL extractor reading it
 * (dc_check_x509(); docs/internals.md, "The DER of an X509"). Seeds: tests/fuzz/corpus/der_diff/,
 * certificates made by tests/certs/gen-certs.sh and crafted ones from tests/fuzz/der_diff_seeds.py.
 * Run with `make fuzz`; `make fuzz-replay` replays the seeds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "der_compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void mismatch(const char *what, const char *diff)
{
    fprintf(stderr, "fuzz_der_diff: %s: %s\n", what, diff);
    abort();
}

/* mtlsauthz_identity_from_der() on a chain it can split must give the OpenSSL extractor's
 * result: the same code, and an equal identity on success. */
static void check_public(const uint8_t *data, size_t size, const unsigned char *const *certs,
                         const size_t *lens, size_t count)
{
    mtlsauthz_identity *a = NULL, *b = NULL;
    mtlsauthz_error ea, eb;
    const char *diff;
    int ra = mtlsauthz_identity_from_der(&a, data, size, &ea);
    int rb = mtlsauthz__x509_from_der_certs(&b, certs, lens, count, &eb);
    if (ra != rb) {
        mismatch("public entry point", "a different return code");
    }
    if (ra == 0 && (diff = dc_identity_diff(a, b)) != NULL) {
        mismatch("public entry point", diff);
    }
    mtlsauthz_identity_free(a);
    mtlsauthz_identity_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN];
    size_t lens[MTLSAUTHZ__MAX_CHAIN];
    size_t off = 0, n = 0, len;
    const char *diff;

    /* The whole input as one certificate, as bytes and as the X509 OpenSSL parses from them. */
    if ((diff = dc_check_one(data, size, NULL)) != NULL) {
        mismatch("one certificate", diff);
    }
    if ((diff = dc_check_x509(data, size, NULL, NULL)) != NULL) {
        mismatch("one certificate as an X509", diff);
    }
    /* Split as mtlsauthz_identity_from_der() splits a chain (identity.c). */
    while (off < size && n < MTLSAUTHZ__MAX_CHAIN) {
        len = mtlsauthz__der_cert_len(data + off, size - off);
        if (len == 0 || len > MTLSAUTHZ__MAX_CERT_BYTES) {
            break;
        }
        certs[n] = data + off;
        lens[n] = len;
        n++;
        off += len;
    }
    if (n == 0) {
        return 0;
    }
    if ((n > 1 || off != size) && (diff = dc_check(certs, lens, n, NULL)) != NULL) {
        mismatch("chain", diff);
    }
    if (off == size && size <= MTLSAUTHZ__MAX_INPUT_BYTES) {
        check_public(data, size, certs, lens, n);
    }
    return 0;
}
