/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: X-Forwarded-Client-Cert headers (mtlsauthz_identity_from_xfcc). Checks, beyond
 * "no crash, no leak": an error leaves *out NULL and fills the error; a header that parses
 * holds no control byte but the tabs around its ','; a partial identity's URI and DNS SANs are
 * bytes of the header, never made up; a built identity keeps its invariants and renders as
 * JSON; decisions on it keep the decision invariants, and a peer agrees with the one-call path
 * (fuzz_util.h). A rejected identity is never allowed.
 * Seeds: tests/fuzz/corpus/xfcc/ (Envoy's documented examples, Istio's format, certificates
 * from tests/certs/gen-certs.sh URL-encoded in Cert and Chain, and refused headers).
 */
#include "fuzz_util.h"

/* Whether `len` bytes at `v` occur in the input. */
static int in_input(const uint8_t *data, size_t size, const char *v, size_t len)
{
    size_t i;
    if (len > size) {
        return 0;
    }
    for (i = 0; i + len <= size; i++) {
        if (memcmp(data + i, v, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mtlsauthz_policy *policy;
    static const mtlsauthz_field copied[] = {MTLSAUTHZ_FIELD_SAN_URI, MTLSAUTHZ_FIELD_SAN_DNS};
    mtlsauthz_identity *id = (mtlsauthz_identity *)&id;
    mtlsauthz_error err;
    size_t i, k;
    int rc;

    if (policy == NULL) {
        policy = fz_policy();
    }
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_identity_from_xfcc(&id, (const char *)data, size, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && id == NULL);
        FZ_CHECK(err.code == rc && err.message[0] != '\0');
        return 0;
    }
    FZ_CHECK(id != NULL);
    for (i = 0; i < size; i++) {
        FZ_CHECK((data[i] >= 0x20 && data[i] != 0x7f) || data[i] == '\t');
    }
    if (mtlsauthz_identity_partial(id)) {
        for (k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
            for (i = 0; i < mtlsauthz_identity_count(id, copied[k]); i++) {
                const char *v;
                size_t len;
                FZ_CHECK(mtlsauthz_identity_get(&v, &len, id, copied[k], i) == 0);
                FZ_CHECK(len > 0 && in_input(data, size, v, len));
            }
        }
    }
    fz_check_identity(id);
    fz_decide_some(policy, id);
    mtlsauthz_identity_free(id);
    return 0;
}
