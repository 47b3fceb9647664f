/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: PEM bundle extraction (mtlsauthz_identity_from_pem). Checks, beyond "no crash,
 * no leak": an error leaves *out NULL and fills the error; a built identity keeps its
 * invariants and renders as JSON; decisions on it keep the decision invariants, and a peer
 * agrees with the one-call path (fuzz_util.h). A rejected identity is never allowed.
 * Seeds: tests/fuzz/corpus/pem/ (bundles from tests/certs/gen-certs.sh, and broken ones).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mtlsauthz_policy *policy;
    mtlsauthz_identity *id = (mtlsauthz_identity *)&id;
    mtlsauthz_error err;
    int rc;

    if (policy == NULL) {
        policy = fz_policy();
    }
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_pem(&id, (const char *)data, size, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && id == NULL);
        FZ_CHECK(err.code == rc && err.message[0] != '\0');
        return 0;
    }
    FZ_CHECK(id != NULL);
    fz_check_identity(id);
    fz_decide_some(policy, id);
    mtlsauthz_identity_free(id);
    return 0;
}
