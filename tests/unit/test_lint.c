/* mtlsauthz_policy_lint: each finding kind, positive and negative. */
#include <criterion/criterion.h>
#include <string.h>

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
