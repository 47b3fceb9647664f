/* SPDX-License-Identifier: Apache-2.0 */
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

/* ---- the values a failing key compared, and the JSON form ---- */

static const char compared[] = "version: 1\n"
                               "principals:\n"
                               "  - name: ops\n"
                               "    o: [Example Corp]\n"
                               "    ou: [ops, sre-oncall, platform, infra]\n"
                               "  - name: builder\n"
                               "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
                               "rules:\n"
                               "  - id: ops-read\n"
                               "    effect: allow\n"
                               "    principals: [ops]\n"
                               "    operations: [\"GET /containers\"]\n"
                               "  - {id: build, effect: allow, principals: [builder], "
                               "operations: [\"images:build\"]}\n";

static char *explain_as(mtlsauthz_policy *p, const mtlsauthz_identity *id, const char *op,
                        mtlsauthz_format format, mtlsauthz_decision *d)
{
    char *out = NULL;
    mtlsauthz_error err;
    int rc = mtlsauthz_policy_explain_report(&out, d, p, id, op, strlen(op), format, &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_not_null(out);
    return out;
}

Test(explain, failing_key_shows_the_values_it_compared)
{
    mtlsauthz_policy *p = ph_load(compared);
    mtlsauthz_identity *sre = ph_cert("sre"); /* O=Example Corp, OU=sre, OU=oncall */
    char *s = explain(p, sre, "GET /containers", NULL);
    cr_assert_str_eq(s, "operation: GET /containers\n"
                        "identity: accepted\n"
                        "principals:\n"
                        "  no    ops: key 'ou' did not match\n"
                        "        ou has 'sre', 'oncall'\n"
                        "        patterns: 'ops', 'sre-oncall', 'platform' and 1 more\n"
                        "  no    builder: key 'spiffe' did not match\n"
                        "        spiffe: the identity has none\n"
                        "        patterns: 'spiffe://prod.example.com/ci/builder'\n"
                        "rules:\n"
                        "  no    ops-read (allow): no principal of the rule matched\n"
                        "  no    build (allow): no principal of the rule matched\n"
                        "decision: deny (rule none, reason no_match)\n");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(sre);
    mtlsauthz_policy_free(p);
}

Test(explain, matched_principal_has_no_compared_values)
{
    mtlsauthz_policy *p = ph_load(compared);
    mtlsauthz_identity *b = ph_cert("builder"); /* O=Example Corp, no OU */
    char *s = explain(p, b, "images:build", NULL);
    cr_assert_str_eq(s, "operation: images:build\n"
                        "identity: accepted\n"
                        "principals:\n"
                        "  no    ops: key 'ou' did not match\n"
                        "        ou: the identity has none\n"
                        "        patterns: 'ops', 'sre-oncall', 'platform' and 1 more\n"
                        "  match builder\n"
                        "rules:\n"
                        "  no    ops-read (allow): no principal of the rule matched\n"
                        "  match build (allow)\n"
                        "decision: allow (rule build, reason allowed)\n");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(explain, dn_value_is_shown)
{
    mtlsauthz_policy *p =
        ph_load("version: 1\n"
                "principals:\n"
                "  - name: ci\n"
                "    dn: [\"CN=ci-builder,O=Acme\"]\n"
                "rules:\n"
                "  - {id: r, effect: allow, principals: [ci], operations: [x]}\n");
    mtlsauthz_identity *b = ph_cert("builder");
    char *s = explain(p, b, "x", NULL);
    ph_assert_contains(s, "  no    ci: key 'dn' did not match\n"
                          "        dn is 'CN=builder,O=Example Corp'\n"
                          "        patterns: 'CN=ci-builder,O=Acme'\n");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(explain, compared_values_are_escaped_and_bounded)
{
    /* Certificate values are the requester's choice: a value must not add a line, color the
     * terminal, or hide behind a non-ASCII look-alike, and a long one is cut. */
    mtlsauthz_policy *p = ph_load("version: 1\n"
                                  "principals:\n"
                                  "  - name: corp\n"
                                  "    dns: [\"*.corp.example\"]\n"
                                  "  - name: who\n"
                                  "    cn: [alice]\n"
                                  "rules:\n"
                                  "  - {id: r, effect: allow, principals: [corp, who], "
                                  "operations: [x]}\n");
    ph_ident *pi = ph_ident_new();
    char long_cn[201], want[512];
    char *s;
    memset(long_cn, 'a', 200);
    long_cn[200] = '\0';
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, "a.example.com\nforged: line");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, "b\x1b[31m.example.com");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, "\xc3\xbc.example.com");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, "d.example.com");
    ph_add(pi, MTLSAUTHZ_FIELD_SAN_DNS, "e.example.com");
    ph_add(pi, MTLSAUTHZ_FIELD_CN, "it's \\ me");
    ph_add(pi, MTLSAUTHZ_FIELD_CN, long_cn);
    s = explain(p, &pi->id, "x", NULL);
    ph_assert_contains(s, "        dns has 'a.example.com\\x0aforged: line', "
                          "'b\\x1b[31m.example.com', '\\xc3\\xbc.example.com' and 2 more\n");
    /* The synthetic identity's first CN is "synthetic". */
    snprintf(want, sizeof(want),
             "        cn has 'synthetic', 'it\\x27s \\x5c me', '%.128s' (+72 bytes)\n", long_cn);
    ph_assert_contains(s, want);
    cr_assert_null(strstr(s, "\nforged"), "%s", s);
    mtlsauthz_string_free(s);
    /* JSON keeps the values whole (escaped as JSON), up to 16 of them, with the total. */
    s = explain_as(p, &pi->id, "x", MTLSAUTHZ_FORMAT_JSON, NULL);
    ph_assert_contains(s, "\"key\": \"dns\", \"values\": [\"a.example.com\\u000aforged: line\", "
                          "\"b\\u001b[31m.example.com\", \"\xc3\xbc.example.com\", "
                          "\"d.example.com\", \"e.example.com\"], \"values_total\": 5, "
                          "\"patterns\": [\"*.corp.example\"], \"patterns_total\": 1}");
    mtlsauthz_string_free(s);
    free(pi);
    mtlsauthz_policy_free(p);
}

Test(explain, json_is_exact)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    mtlsauthz_decision d;
    char *s = explain_as(p, acme, "images:push", MTLSAUTHZ_FORMAT_JSON, &d);
    cr_assert_eq(d.allowed, 0);
    cr_assert_str_eq(
        s, "{\"decision\": \"deny\", \"rule\": null, \"reason\": \"no_match\", \"dry_run\": "
           "[\"watch\"], \"dry_run_count\": 1,\n"
           "  \"operation\": \"images:push\", \"identity\": \"accepted\", \"rejected\": null,\n"
           "  \"principals\": [\n"
           "    {\"name\": \"builder\", \"line\": 3, \"column\": 11, \"matched\": false, \"why\": "
           "\"key\", \"key\": \"spiffe\", \"values\": "
           "[\"spiffe://prod.example.com/tenant/acme/api\"], \"values_total\": 1, \"patterns\": "
           "[\"spiffe://prod.example.com/ci/builder\"], \"patterns_total\": 1},\n"
           "    {\"name\": \"ops\", \"line\": 6, \"column\": 11, \"matched\": false, \"why\": "
           "\"key\", \"key\": \"o\", \"values\": [\"Acme\"], \"values_total\": 1, \"patterns\": "
           "[\"Example Corp\"], \"patterns_total\": 1},\n"
           "    {\"name\": \"tenant\", \"line\": 9, \"column\": 11, \"matched\": true, \"why\": "
           "null, \"bindings\": [{\"tenant\": \"acme\"}]}\n"
           "  ],\n"
           "  \"rules\": [\n"
           "    {\"id\": \"build\", \"line\": 12, \"column\": 9, \"effect\": \"allow\", \"mode\": "
           "\"enforce\", \"matched\": false, \"why\": \"no_principal\"},\n"
           "    {\"id\": \"tenant-data\", \"line\": 16, \"column\": 9, \"effect\": \"allow\", "
           "\"mode\": \"enforce\", \"matched\": false, \"why\": \"no_operation\"},\n"
           "    {\"id\": \"watch\", \"line\": 20, \"column\": 9, \"effect\": \"deny\", \"mode\": "
           "\"dry-run\", \"matched\": true, \"why\": null}\n"
           "  ]\n"
           "}\n");
    mtlsauthz_string_free(s);
    s = explain_as(p, acme, "GET /tenants/globex/x", MTLSAUTHZ_FORMAT_JSON, &d);
    ph_assert_contains(s, "{\"id\": \"tenant-data\", \"line\": 16, \"column\": 9, \"effect\": "
                          "\"allow\", \"mode\": \"enforce\", \"matched\": false, \"why\": "
                          "\"captures\"}");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}

Test(explain, json_text_form_is_the_text)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *b = ph_cert("builder");
    char *a = explain(p, b, "images:build", NULL);
    char *t = explain_as(p, b, "images:build", MTLSAUTHZ_FORMAT_TEXT, NULL);
    cr_assert_str_eq(a, t);
    mtlsauthz_string_free(a);
    mtlsauthz_string_free(t);
    mtlsauthz_identity_free(b);
    mtlsauthz_policy_free(p);
}

Test(explain, json_without_an_accepted_identity)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *bad = ph_cert("nul-cn");
    char *s = explain_as(p, NULL, "a\"b", MTLSAUTHZ_FORMAT_JSON, NULL);
    cr_assert_str_eq(s, "{\"decision\": \"deny\", \"rule\": null, \"reason\": \"no_identity\", "
                        "\"dry_run\": [], \"dry_run_count\": 0,\n"
                        "  \"operation\": \"a\\\"b\", \"identity\": \"none\", \"rejected\": null,\n"
                        "  \"principals\": [],\n"
                        "  \"rules\": []\n"
                        "}\n");
    mtlsauthz_string_free(s);
    s = explain_as(p, bad, "x", MTLSAUTHZ_FORMAT_JSON, NULL);
    ph_assert_contains(s, "\"reason\": \"identity_rejected\"");
    ph_assert_contains(s, "\"identity\": \"rejected\", \"rejected\": \"NUL byte in subject CN\",\n"
                          "  \"principals\": [],\n");
    mtlsauthz_string_free(s);
    mtlsauthz_identity_free(bad);
    mtlsauthz_policy_free(p);
}

Test(explain, report_refuses_an_unknown_format)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_decision d;
    mtlsauthz_error err;
    char *out = (char *)1;
    d.allowed = 1;
    cr_assert_eq(
        mtlsauthz_policy_explain_report(&out, &d, p, NULL, "x", 1, (mtlsauthz_format)7, &err),
        MTLSAUTHZ_EINVAL);
    cr_assert_null(out);
    cr_assert_eq(d.allowed, 0);
    cr_assert_eq(d.reason, MTLSAUTHZ_REASON_ERROR);
    mtlsauthz_policy_free(p);
}

Test(explain, json_every_allocation_failure_is_clean)
{
    mtlsauthz_policy *p = ph_load(policy);
    mtlsauthz_identity *acme = ph_cert("tenant-acme");
    mtlsauthz_decision d;
    char *full = explain_as(p, acme, "GET /tenants/acme/x", MTLSAUTHZ_FORMAT_JSON, &d);
    int done = 0;
    for (long k = 0; k < 1000 && !done; k++) {
        mtlsauthz_error err;
        char *s = (char *)1;
        int rc;
        mtlsauthz__alloc_fail_after(k);
        rc = mtlsauthz_policy_explain_report(&s, &d, p, acme, "GET /tenants/acme/x", 19,
                                             MTLSAUTHZ_FORMAT_JSON, &err);
        mtlsauthz__alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert_str_eq(s, full);
            cr_assert_eq(d.allowed, 1);
            mtlsauthz_string_free(s);
            done = 1;
        } else {
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "%s", err.message);
            cr_assert_null(s);
            cr_assert_eq(d.allowed, 0);
        }
    }
    cr_assert(done);
    mtlsauthz_string_free(full);
    mtlsauthz_identity_free(acme);
    mtlsauthz_policy_free(p);
}
