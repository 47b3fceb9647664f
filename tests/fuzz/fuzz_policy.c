/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: policy YAML (mtlsauthz_policy_load: libcyaml/libyaml front end, compiler,
 * index), then lint, explain and decisions on whatever loads, and the policy-test loader on
 * the same bytes. Checks, beyond "no crash, no leak, no hang": a failed load leaves *out NULL
 * with an error of one line of text (no control byte: names, ids and patterns are quoted
 * escaped); lint gives exactly `count` lines; decisions keep their invariants and a peer
 * agrees with the one-call path; explain reports the same decision as decide.
 * Seeds: tests/fuzz/corpus/policy/ (examples/, tests/data/policies/, and small cases).
 */
#include "fuzz_util.h"
#include "policy_ast.h"

static void check_lint(const mtlsauthz_policy *p)
{
    char *text = NULL;
    size_t count = 0, lines = 0, i, len;
    mtlsauthz_error err;
    int rc = mtlsauthz_policy_lint(&text, &count, p, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && text == NULL);
        return;
    }
    FZ_CHECK(text != NULL);
    len = strlen(text);
    for (i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    FZ_CHECK(lines == count);
    FZ_CHECK(count == 0 || text[len - 1] == '\n');
    mtlsauthz_string_free(text);
}

static void check_explain(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op)
{
    mtlsauthz_decision de, dd;
    mtlsauthz_error err;
    char *text = NULL;
    int re = mtlsauthz_policy_explain(&text, &de, p, id, op, strlen(op), &err);
    int rd = mtlsauthz_policy_decide(&dd, p, id, op, strlen(op), &err);
    fz_check_decision(&de, re);
    fz_check_decision(&dd, rd);
    if (re == 0) {
        FZ_CHECK(text != NULL);
        FZ_CHECK(rd == 0 && fz_same_decision(&de, &dd));
        mtlsauthz_string_free(text);
    } else {
        FZ_CHECK(text == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mtlsauthz_identity *id;
    mtlsauthz_policy *p = (mtlsauthz_policy *)&p;
    mtlsauthz__test_cases *tc = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err;
    int rc;

    if (id == NULL) {
        id = fz_identity();
    }
    mtlsauthz_error_clear(&err);
    rc = mtlsauthz_policy_load(&p, (const char *)data, size, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && p == NULL);
        FZ_CHECK(err.code == rc && err.message[0] != '\0');
        for (const char *m = err.message; *m != '\0'; m++) {
            FZ_CHECK((unsigned char)*m >= 0x20 && *m != 0x7f);
        }
    } else {
        FZ_CHECK(p != NULL);
        check_lint(p);
        fz_decide_some(p, id);
        check_explain(p, id, "GET /tenants/acme/x");
        /* No identity: denied, whatever the policy says. */
        rc = mtlsauthz_policy_decide(&d, p, NULL, "GET /healthz", 12, &err);
        fz_check_decision(&d, rc);
        FZ_CHECK(rc == 0 && d.reason == MTLSAUTHZ_REASON_NO_IDENTITY);
        mtlsauthz_policy_free(p);
    }

    /* The policy-test file loader shares the front end's strictness. */
    rc = mtlsauthz__test_cases_load(&tc, (const char *)data, size, &err);
    if (rc == 0) {
        FZ_CHECK(tc != NULL);
        mtlsauthz__test_cases_free(tc);
    } else {
        FZ_CHECK(rc < 0 && tc == NULL);
    }
    return 0;
}
