/*
 * mtlsauthz_policy_explain() (lib/explain.c): which principals and rules matched, why the
 * others did not, and the same decision as mtlsauthz_policy_decide().
 */
#include "policy_helpers.h"

static const char policy[] = "version: 1\n"
                             "principals:\n"
                             "  - name: builder\n"
                             "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
                             "    eku: [clientAuth]\n"
                             "  - name: ops\n"
                             "    o: [Example Corp]\n"
                             "    ou: [ops]\n"
                             "  - name: tenant\n"
                             "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/*\"]\n"
                             "rules:\n"
                             "  - id: build\n"
                             "    effect: allow\n"
                             "    principals: [builder]\n"
                             "    operations: [\"images:build\"]\n"
                             "  - id: tenant-data\n"
                             "    effect: allow\n"
                             "    principals: [tenant]\n"
                             "    operations: [\"GET /tenants/{tenant}/**\"]\n"
                             "  - id: watch\n"
                             "    effect: deny\n"
                             "    mode: dry-run\n"
                             "    principals: [\"*\"]\n"
                             "    operations: [\"images:*\"]\n";

static char *explain(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op,
                     mtlsauthz_decision *d)
{
    char *out = NULL;
    mtlsauthz_error err;
    int rc = mtlsauthz_policy_explain(&out, d, p, id, op, strlen(op), &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_not_null(out);
    return out;
}

Test(explain, principals_rules_and_decision)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_decision d;
    char *s = explain(p, b, "images:build", &d);
    cr_assert_eq(d.allowed, 1);
    cr_assert_str_eq(d.rule, "build");
    ph_assert_contains(s, "match builder");
    ph_assert_contains(s, "ops: key 'ou' did not match"); /* builder is O=Example Corp */
    ph_assert_contains(s, "tenant: key 'spiffe' did not match");
    ph_assert_contains(s, "match build (allow)");
    ph_assert_contains(s, "tenant-data (allow): no principal of the rule matched");
    ph_assert_contains(s, "match watch (deny, dry-run): would have denied");
    ph_assert_contains(s, "decision: allow (rule build, reason allowed)");
    mtlsauthz_string_free(s);
    s = explain(p, b, "GET /x", &d);
    cr_assert_eq(d.allowed, 0);
    ph_assert_contains(s, "build (allow): no operation pattern matched");
    ph_assert_contains(s, "decision: deny (rule none, reason no_match)");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(explain, failing_key_is_named)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *sre = ph_cert("sre"), *noeku = ph_cert("builder-noeku");
    char *s = explain(p, sre, "x", NULL);
    ph_assert_contains(s, "ops: key 'ou' did not match");
    mtlsauthz_string_free(s);
    s = explain(p, noeku, "images:build", NULL);
    ph_assert_contains(s, "builder: key 'eku' did not match");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(sre);
    mtlsauthz_identity_free(noeku);
    mtlsauthz_policy_free(p);
}

Test(explain, capture_mismatch)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    mtlsauthz_decision d;
    char *s = explain(p, acme, "GET /tenants/globex/x", &d);
    cr_assert_eq(d.allowed, 0);
    ph_assert_contains(s, "match tenant (binds tenant=acme)");
    ph_assert_contains(s, "tenant-data (allow): the operation's captures do not agree");
    mtlsauthz_string_free(s);
    s = explain(p, acme, "GET /tenants/acme/x", &d);
    cr_assert_eq(d.allowed, 1);
    ph_assert_contains(s, "match tenant-data (allow)");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(explain, rejected_and_missing_identity)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *bad = ph_cert("nul-cn");
    mtlsauthz_decision d;
    char *s = explain(p, bad, "images:build", &d);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_IDENTITY_REJECTED);
    ph_assert_contains(s, "identity: rejected");
    ph_assert_contains(s, "reason identity_rejected");
    mtlsauthz_string_free(s);
    s = explain(p, NULL, "images:build", &d);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_NO_IDENTITY);
    ph_assert_contains(s, "identity: none");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(bad);
    mtlsauthz_policy_free(p);
}

Test(explain, errors_deny)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *b = ph_cert("builder");
    mtlsauthz_decision d;
    char *out = (char *)1;
    d.allowed = 1;
    cr_assert_eq(mtlsauthz_policy_explain(&out, &d, p, b, "a\0b", 3, NULL), MTLSAUTHZ_EOPERATION);
    cr_assert_null(out);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(mtlsauthz_policy_explain(NULL, &d, p, b, "a", 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_explain(&out, &d, NULL, b, "a", 1, NULL), MTLSAUTHZ_EINVAL);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(explain, control_bytes_escaped)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *b = ph_cert("builder");
    char *s = explain(p, b, "a\nb", NULL);
    ph_assert_contains(s, "operation: a\\x0ab\n");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}
