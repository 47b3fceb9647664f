/* mtlsauthz_policy_lint: each finding kind, positive and negative. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mtlsauthz/mtlsauthz.h"

static mtlsauthz_policy *load(const char *yaml)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err = {0};
    int rc = mtlsauthz_policy_load(&p, yaml, strlen(yaml), &err);
    cr_assert_eq(rc, 0, "load failed: %s", err.message);
    return p;
}

/* Lints `yaml`; returns the report (caller frees) and the count. */
static char *lint(const char *yaml, size_t *count)
{
    mtlsauthz_policy *p = load(yaml);
    mtlsauthz_error err = {0};
    char *report = NULL;
    cr_assert_eq(mtlsauthz_policy_lint(&report, count, p, &err), 0, "%s", err.message);
    cr_assert_not_null(report);
    mtlsauthz_policy_free(p);
    return report;
}

#define HEADER                                                                                     \
    "version: 1\n"                                                                                 \
    "sensitive: ['POST /containers/*/exec', 'host:**']\n"

Test(lint, clean_policy_has_no_findings)
{
    size_t n = 99;
    char *r = lint(HEADER "principals:\n"
                          "  - name: builder\n"
                          "    spiffe: ['spiffe://prod.example.com/ci/builder']\n"
                          "rules:\n"
                          "  - id: build\n"
                          "    effect: allow\n"
                          "    principals: [builder]\n"
                          "    operations: ['POST /images/build']\n"
                          "  - id: health\n"
                          "    effect: allow\n"
                          "    principals: ['*']\n"
                          "    operations: ['GET /healthz']\n"
                          "  - id: no-exec\n"
                          "    effect: deny\n"
                          "    principals: ['*']\n"
                          "    operations: ['POST /containers/*/exec']\n",
                   &n);
    cr_assert_eq(n, 0, "unexpected findings:\n%s", r);
    cr_assert_str_eq(r, "");
    mtlsauthz_string_free(r);
}

Test(lint, sensitive_grant_to_any)
{
    size_t n = 0;
    char *r = lint(HEADER "rules:\n"
                          "  - id: debug\n"
                          "    effect: allow\n"
                          "    principals: ['*']\n"
                          "    operations: ['POST /containers/**']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "sensitive-grant: rule 'debug'") != NULL, "%s", r);
    cr_assert(strstr(r, "\"POST /containers/*/exec\"") != NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, sensitive_grant_to_wildcard_principal)
{
    size_t n = 0;
    char *r = lint(HEADER "principals:\n"
                          "  - name: anyone\n"
                          "    o: ['*']\n"
                          "    eku: [clientAuth]\n"
                          "rules:\n"
                          "  - id: hostwide\n"
                          "    effect: allow\n"
                          "    principals: [anyone]\n"
                          "    operations: ['host:mount']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "sensitive-grant: rule 'hostwide'") != NULL, "%s", r);
    cr_assert(strstr(r, "principal 'anyone'") != NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, sensitive_grant_to_any_ip_block)
{
    size_t n = 0;
    char *r = lint(HEADER "principals:\n"
                          "  - name: net\n"
                          "    ip: ['0.0.0.0/0']\n"
                          "rules:\n"
                          "  - id: r\n"
                          "    effect: allow\n"
                          "    principals: [net]\n"
                          "    operations: ['POST /containers/abc/exec']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "sensitive-grant: rule 'r'") != NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, narrow_principal_or_disjoint_operation_is_not_sensitive_grant)
{
    size_t n = 9;
    /* A specific principal may hold a sensitive grant (that is what the policy is for), and
     * a broad grant of operations that cannot overlap the sensitive ones is fine. */
    char *r = lint(HEADER "principals:\n"
                          "  - name: breakglass\n"
                          "    spiffe: ['spiffe://prod.example.com/ops/breakglass']\n"
                          "  - name: corp\n"
                          "    o: ['Example *']\n"
                          "rules:\n"
                          "  - id: bg\n"
                          "    effect: allow\n"
                          "    principals: [breakglass]\n"
                          "    operations: ['POST /containers/*/exec']\n"
                          "  - id: read\n"
                          "    effect: allow\n"
                          "    principals: ['*', corp]\n"
                          "    operations: ['GET /containers/*']\n",
                   &n);
    cr_assert_eq(n, 0, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, unused_principal)
{
    size_t n = 0;
    char *r = lint("version: 1\n"
                   "principals:\n"
                   "  - name: used\n"
                   "    cn: [a]\n"
                   "  - name: forgotten\n"
                   "    cn: [b]\n"
                   "rules:\n"
                   "  - id: r\n"
                   "    effect: allow\n"
                   "    principals: [used]\n"
                   "    operations: ['x']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "unused-principal: principal 'forgotten'") != NULL, "%s", r);
    cr_assert(strstr(r, "'used'") == NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, shadowed_allow_rule)
{
    size_t n = 0;
    char *r = lint("version: 1\n"
                   "principals:\n"
                   "  - name: ops\n"
                   "    ou: [ops]\n"
                   "rules:\n"
                   "  - id: read-images\n"
                   "    effect: allow\n"
                   "    principals: [ops]\n"
                   "    operations: ['GET /images/*', 'GET /images/*/tags']\n"
                   "  - id: no-images\n"
                   "    effect: deny\n"
                   "    principals: ['*']\n"
                   "    operations: ['GET /images/**']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "shadowed-rule: rule 'read-images'") != NULL, "%s", r);
    cr_assert(strstr(r, "rule 'no-images'") != NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, partly_denied_or_narrower_deny_is_not_shadowed)
{
    size_t n = 9;
    char *r = lint("version: 1\n"
                   "principals:\n"
                   "  - name: ops\n"
                   "    ou: [ops]\n"
                   "  - name: sre\n"
                   "    ou: [sre]\n"
                   "rules:\n"
                   /* One operation is not denied: still useful. */
                   "  - id: a\n"
                   "    effect: allow\n"
                   "    principals: [ops]\n"
                   "    operations: ['GET /images/*', 'GET /containers']\n"
                   /* Denied only for sre, while the rule also grants to ops. */
                   "  - id: b\n"
                   "    effect: allow\n"
                   "    principals: [ops, sre]\n"
                   "    operations: ['GET /volumes/*']\n"
                   "  - id: deny-images\n"
                   "    effect: deny\n"
                   "    principals: ['*']\n"
                   "    operations: ['GET /images/*']\n"
                   "  - id: deny-volumes-sre\n"
                   "    effect: deny\n"
                   "    principals: [sre]\n"
                   "    operations: ['GET /volumes/**']\n"
                   /* A dry-run deny shadows nothing. */
                   "  - id: c\n"
                   "    effect: allow\n"
                   "    principals: [sre]\n"
                   "    operations: ['GET /secrets']\n"
                   "  - id: watch\n"
                   "    effect: deny\n"
                   "    mode: dry-run\n"
                   "    principals: ['*']\n"
                   "    operations: ['GET /secrets']\n",
                   &n);
    cr_assert_eq(n, 0, "%s", r);
    mtlsauthz_string_free(r);
}

/* ---- a sensitive operation granted through a wildcard ---- */

#define ADMINS                                                                                     \
    "version: 1\n"                                                                                 \
    "sensitive: [\"POST /containers/*/exec\"]\n"                                                   \
    "principals:\n"                                                                                \
    "  - name: admins\n"                                                                           \
    "    ou: [admins]\n"                                                                           \
    "  - name: ops\n"                                                                              \
    "    ou: [ops]\n"                                                                              \
    "rules:\n"                                                                                     \
    "  - id: admin-containers\n"                                                                   \
    "    effect: allow\n"                                                                          \
    "    principals: [admins]\n"                                                                   \
    "    operations: [\"* /containers/**\"]\n"                                                     \
    "  - {id: ops-read, effect: allow, principals: [ops], operations: [\"GET /containers\"]}\n"

Test(lint, wildcard_grant_of_sensitive_operation)
{
    size_t n = 0;
    char *r = lint(ADMINS, &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert_str_eq(r, "sensitive-grant: rule 'admin-containers': allows \"* /containers/**\", "
                        "whose wildcard covers sensitive \"POST /containers/*/exec\" without "
                        "naming it, and no enforce-mode deny rule denies it to all of the rule's "
                        "principals\n");
    mtlsauthz_string_free(r);
}

Test(lint, explicit_grant_of_sensitive_operation_is_deliberate)
{
    size_t n = 9;
    char *r = lint("version: 1\n"
                   "sensitive: [\"POST /containers/*/exec\", \"* /host/**\"]\n"
                   "principals:\n"
                   "  - name: admins\n"
                   "    ou: [admins]\n"
                   "rules:\n"
                   "  - id: exec-any\n"
                   "    effect: allow\n"
                   "    principals: [admins]\n"
                   "    operations: [\"POST /containers/*/exec\"]\n"
                   "  - id: exec-one\n"
                   "    effect: allow\n"
                   "    principals: [admins]\n"
                   "    operations: [\"POST /containers/abc/exec\", \"GET /host/x\"]\n",
                   &n);
    cr_assert_eq(n, 0, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, wildcard_grant_taken_back_by_a_deny_is_fine)
{
    static const char *const denies[] = {
        /* For everyone, for exactly these principals, and through a wider pattern. */
        "  - {id: no-exec, effect: deny, principals: [\"*\"], "
        "operations: [\"POST /containers/*/exec\"]}\n",
        "  - {id: no-exec, effect: deny, principals: [ops, admins], "
        "operations: [\"POST /containers/*/exec\"]}\n",
        "  - {id: no-exec, effect: deny, principals: [admins], operations: [\"* "
        "/containers/*/*\"]}\n",
    };
    for (size_t i = 0; i < sizeof(denies) / sizeof(denies[0]); i++) {
        char yaml[2048];
        size_t n = 9;
        char *r;
        snprintf(yaml, sizeof(yaml), "%s%s", ADMINS, denies[i]);
        r = lint(yaml, &n);
        cr_assert_eq(n, 0, "deny %zu:\n%s", i, r);
        mtlsauthz_string_free(r);
    }
}

Test(lint, wildcard_grant_with_a_deny_that_does_not_hold)
{
    static const char *const denies[] = {
        /* Only for another principal. */
        "  - {id: no-exec, effect: deny, principals: [ops], "
        "operations: [\"POST /containers/*/exec\"]}\n",
        /* Only in dry-run. */
        "  - {id: no-exec, effect: deny, mode: dry-run, principals: [\"*\"], "
        "operations: [\"POST /containers/*/exec\"]}\n",
        /* Only part of the sensitive operation. */
        "  - {id: no-exec, effect: deny, principals: [\"*\"], "
        "operations: [\"POST /containers/abc/exec\"]}\n",
        /* Only another method. */
        "  - {id: no-exec, effect: deny, principals: [\"*\"], "
        "operations: [\"PUT /containers/*/exec\"]}\n",
    };
    for (size_t i = 0; i < sizeof(denies) / sizeof(denies[0]); i++) {
        char yaml[2048];
        size_t n = 0;
        char *r;
        snprintf(yaml, sizeof(yaml), "%s%s", ADMINS, denies[i]);
        r = lint(yaml, &n);
        cr_assert_eq(n, 1, "deny %zu:\n%s", i, r);
        cr_assert(strstr(r, "sensitive-grant: rule 'admin-containers'") != NULL, "%s", r);
        mtlsauthz_string_free(r);
    }
}

Test(lint, broad_and_wildcard_grant_is_one_finding)
{
    /* Found by both checks; reported once, as the grant to everyone. */
    size_t n = 0;
    char *r = lint("version: 1\n"
                   "sensitive: [\"POST /containers/*/exec\", \"POST /containers/*/attach\"]\n"
                   "rules:\n"
                   "  - id: debug\n"
                   "    effect: allow\n"
                   "    principals: ['*']\n"
                   "    operations: ['* /containers/**', 'GET /healthz']\n",
                   &n);
    cr_assert_eq(n, 1, "%s", r);
    cr_assert(strstr(r, "to \"*\" (any verified client)") != NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, one_finding_per_wildcard_operation)
{
    size_t n = 0;
    char *r = lint("version: 1\n"
                   "sensitive: [\"POST /containers/*/exec\", \"POST /containers/*/attach\"]\n"
                   "principals:\n"
                   "  - name: admins\n"
                   "    ou: [admins]\n"
                   "rules:\n"
                   "  - id: wide\n"
                   "    effect: allow\n"
                   "    principals: [admins]\n"
                   "    operations: ['POST /containers/**', 'POST /containers/*/*', 'GET /x']\n",
                   &n);
    cr_assert_eq(n, 2, "%s", r);
    mtlsauthz_string_free(r);
}

/* ---- paths without a method ---- */

Test(lint, path_without_method)
{
    size_t n = 0;
    char *r = lint("version: 1\n"
                   "sensitive: [\"/host/**\", \"host:**\"]\n"
                   "rules:\n"
                   "  - id: no-host\n"
                   "    effect: deny\n"
                   "    principals: ['*']\n"
                   "    operations: ['/host/**', '/pkg.Service/Method', '/Greeter/*', 'host:x']\n",
                   &n);
    cr_assert_eq(n, 2, "%s", r);
    cr_assert(strstr(r, "path-without-method: rule 'no-host', operation \"/host/**\": starts with "
                        "'/' but has no method") != NULL,
              "%s", r);
    cr_assert(strstr(r, "write \"* /host/**\" for every method\n") != NULL, "%s", r);
    cr_assert(strstr(r, "path-without-method: sensitive \"/host/**\"") != NULL, "%s", r);
    cr_assert(strstr(r, "Service") == NULL && strstr(r, "Greeter") == NULL, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, gRPC_method_names_are_not_paths_without_a_method)
{
    size_t n = 9;
    char *r = lint("version: 1\n"
                   "rules:\n"
                   "  - id: grpc\n"
                   "    effect: allow\n"
                   "    principals: ['*']\n"
                   "    operations: ['/grpc.health.v1.Health/Check', '/pkg.Service/*']\n",
                   &n);
    cr_assert_eq(n, 0, "%s", r);
    mtlsauthz_string_free(r);
}

Test(lint, every_allocation_failure_is_clean)
{
    /* Lint allocates its report and the deny rules covering each sensitive pattern: failing
     * each allocation in turn gives ENOMEM and nothing (ASan and valgrind see no leak), or the
     * full report. */
    mtlsauthz_policy *p = load(ADMINS "  - {id: no-exec, effect: deny, principals: [ops], "
                                      "operations: [\"POST /containers/*/exec\"]}\n");
    size_t want = 0, n = 0;
    char *full = NULL;
    mtlsauthz_error err = {0};
    int done = 0;
    cr_assert_eq(mtlsauthz_policy_lint(&full, &want, p, &err), 0);
    for (long k = 0; k < 1000 && !done; k++) {
        char *r = (char *)1;
        int rc;
        mtlsauthz__alloc_fail_after(k);
        rc = mtlsauthz_policy_lint(&r, &n, p, &err);
        mtlsauthz__alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert_eq(n, want);
            cr_assert_str_eq(r, full);
            mtlsauthz_string_free(r);
            done = 1;
        } else {
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM);
            cr_assert_null(r);
            cr_assert_eq(n, 0);
        }
    }
    cr_assert(done);
    mtlsauthz_string_free(full);
    mtlsauthz_policy_free(p);
}

Test(lint, null_arguments)
{
    char *r = (char *)1;
    size_t n = 7;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_policy_lint(&r, &n, NULL, &err), MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(n, 0);
    cr_assert_eq(err.code, MTLSAUTHZ_EINVAL);
}
