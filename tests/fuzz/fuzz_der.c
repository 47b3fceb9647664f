/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: DER chain extraction (mtlsauthz_identity_from_der). The input is a DER chain,
 * leaf first. Checks, beyond "no crash, no leak":
 *   - an error leaves *out NULL and fills the error;
 *   - a built identity keeps its invariants (fuzz_util.h) and renders as JSON;
 *   - the same chain given as separate buffers (mtlsauthz_identity_from_der_chain) gives the
 *     same result, byte for byte;
 *   - decisions on it against a fixed policy keep the decision invariants, and the per-request
 *     path (a peer) agrees with the one-call path.
 * Seeds: tests/fuzz/corpus/der/ (certificates from tests/certs/gen-certs.sh).
 */
#include "fuzz_util.h"

/* Up to MTLSAUTHZ__MAX_CHAIN + 1 pieces, so the chain-length limit is reached too. */
#define MAX_PIECES (MTLSAUTHZ__MAX_CHAIN + 1u)

static char *json_of(const mtlsauthz_identity *id)
{
    char *json = NULL;
    mtlsauthz_error err;
    if (mtlsauthz_identity_to_json(&json, NULL, id, &err) != 0) {
        return NULL;
    }
    return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mtlsauthz_policy *policy;
    const unsigned char *pieces[MAX_PIECES];
    size_t lens[MAX_PIECES], n = 0, off = 0, len;
    mtlsauthz_identity *id = (mtlsauthz_identity *)&id, *id2 = NULL;
    mtlsauthz_error err;
    int rc, rc2;

    if (policy == NULL) {
        policy = fz_policy();
    }
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_der(&id, data, size, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && id == NULL);
        FZ_CHECK(err.code == rc && err.message[0] != '\0');
    } else {
        FZ_CHECK(id != NULL);
        fz_check_identity(id);
        fz_decide_some(policy, id);
    }

    /* The same bytes as separate certificates, split where from_der would split them. */
    while (off < size && n < MAX_PIECES) {
        len = mtlsauthz__der_cert_len(data + off, size - off);
        if (len == 0) {
            break;
        }
        pieces[n] = data + off;
        lens[n] = len;
        n++;
        off += len;
    }
    if (off == size && n > 0) {
        rc2 = mtlsauthz_identity_from_der_chain(&id2, pieces, lens, n, &err);
        FZ_CHECK(rc2 == rc);
        if (rc == 0) {
            char *a = json_of(id), *b = json_of(id2);
            FZ_CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
            FZ_CHECK(mtlsauthz_identity_chain_length(id) == mtlsauthz_identity_chain_length(id2));
            mtlsauthz_string_free(a);
            mtlsauthz_string_free(b);
        }
        mtlsauthz_identity_free(id2);
    }
    if (rc == 0) {
        mtlsauthz_identity_free(id);
    }
    return 0;
}
