/* SPDX-License-Identifier: Apache-2.0 */
/* mtlsauthz_policy_lint and mtlsauthz_policy_lint_report: each finding kind, positive and
 * negative; positions, file order, and the three forms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mtlsauthz/mtlsauthz.h"
#include "policy_int.h"

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
                        "principals (line: 9, column: 9)\n");
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
    cr_assert(strstr(r, "write \"* /host/**\" for every method (line: 4, column: 9)\n") != NULL,
              "%s", r);
    /* At the sensitive entry itself; it comes first, in file order. */
    const char *first = "path-without-method: sensitive \"/host/**\": starts with";
    cr_assert(strncmp(r, first, strlen(first)) == 0, "%s", r);
    cr_assert(strstr(r, "for every method (line: 2, column: 13)\n") != NULL, "%s", r);
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

/* ---- positions, order and forms ---- */

/* One finding of each of three kinds, found in another order than the file's. */
#define THREE                                                                                      \
    "version: 1\n"                                                                                 \
    "sensitive: [\"POST /containers/*/exec\"]\n"                                                   \
    "principals:\n"                                                                                \
    "  - name: admins\n"                                                                           \
    "    ou: [admins]\n"                                                                           \
    "  - name: old-team\n"                                                                         \
    "    ou: [legacy]\n"                                                                           \
    "rules:\n"                                                                                     \
    "  - id: admin-containers\n"                                                                   \
    "    effect: allow\n"                                                                          \
    "    principals: [admins]\n"                                                                   \
    "    operations: [\"* /containers/**\"]\n"                                                     \
    "  - id: read-images\n"                                                                        \
    "    effect: allow\n"                                                                          \
    "    principals: [\"*\"]\n"                                                                    \
    "    operations: [\"GET /images/*\"]\n"                                                        \
    "  - id: no-images\n"                                                                          \
    "    effect: deny\n"                                                                           \
    "    principals: [\"*\"]\n"                                                                    \
    "    operations: [\"GET /images/**\"]\n"

#define GRANT_MSG                                                                                  \
    "rule 'admin-containers': allows \"* /containers/**\", whose wildcard covers sensitive "       \
    "\"POST /containers/*/exec\" without naming it, and no enforce-mode deny rule denies it to "   \
    "all of the rule's principals"
#define GRANT_MSG_JSON                                                                             \
    "rule 'admin-containers': allows \\\"* /containers/**\\\", whose wildcard covers sensitive "   \
    "\\\"POST /containers/*/exec\\\" without naming it, and no enforce-mode deny rule denies it "  \
    "to all of the rule's principals"
#define UNUSED_MSG "principal 'old-team': no rule names it"
#define SHADOW_MSG                                                                                 \
    "rule 'read-images': every operation it allows is denied to the same principals by rule "      \
    "'no-images'"

static char *report(const mtlsauthz_policy *p, const char *file, mtlsauthz_format format,
                    size_t *count)
{
    mtlsauthz_error err = {0};
    char *r = NULL;
    cr_assert_eq(mtlsauthz_policy_lint_report(&r, count, p, file, format, &err), 0, "%s",
                 err.message);
    cr_assert_not_null(r);
    return r;
}

Test(lint, lines_give_positions_in_file_order)
{
    size_t n = 0;
    char *r = lint(THREE, &n);
    cr_assert_eq(n, 3);
    /* The position is that of the subject's `name:` or `id:` value. */
    cr_assert_str_eq(r, "unused-principal: " UNUSED_MSG " (line: 6, column: 11)\n"
                        "sensitive-grant: " GRANT_MSG " (line: 9, column: 9)\n"
                        "shadowed-rule: " SHADOW_MSG " (line: 13, column: 9)\n");
    mtlsauthz_string_free(r);
}

Test(lint, positions_follow_the_yaml_layout)
{
    /* A flow mapping, a quoted name, and comments and blank lines before. */
    size_t n = 0;
    char *r = lint("# comment\n"
                   "\n"
                   "version: 1\n"
                   "principals:\n"
                   "  -   {cn: [a], name: \"spare\"}\n"
                   "rules:\n"
                   "  - {effect: allow, id: r, principals: [\"*\"], operations: [x]}\n",
                   &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(r, "unused-principal: principal 'spare': no rule names it "
                        "(line: 5, column: 23)\n");
    mtlsauthz_string_free(r);
}

Test(lint, report_text_is_gnu_style)
{
    mtlsauthz_policy *p = load(THREE);
    size_t n = 0;
    char *r = report(p, "policies/p.yaml", MTLSAUTHZ_FORMAT_TEXT, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(r, "policies/p.yaml:6:11: warning: unused-principal: " UNUSED_MSG "\n"
                        "policies/p.yaml:9:9: warning: sensitive-grant: " GRANT_MSG "\n"
                        "policies/p.yaml:13:9: warning: shadowed-rule: " SHADOW_MSG "\n");
    mtlsauthz_string_free(r);
    /* Without a file name the line starts at the position. */
    r = report(p, NULL, MTLSAUTHZ_FORMAT_TEXT, &n);
    cr_assert_eq(n, 3);
    cr_assert(strncmp(r, "6:11: warning: unused-principal: ", 33) == 0, "%s", r);
    mtlsauthz_string_free(r);
    mtlsauthz_policy_free(p);
}

Test(lint, report_json_is_exact)
{
    mtlsauthz_policy *p = load(THREE);
    size_t n = 0;
    char *r = report(p, "p.yaml", MTLSAUTHZ_FORMAT_JSON, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(r, "{\"file\": \"p.yaml\", \"count\": 3, \"findings\": [\n"
                        "  {\"kind\": \"unused-principal\", \"rule\": null, \"principal\": "
                        "\"old-team\", \"line\": 6, \"column\": 11, \"message\": \"" UNUSED_MSG
                        "\"},\n"
                        "  {\"kind\": \"sensitive-grant\", \"rule\": \"admin-containers\", "
                        "\"principal\": null, \"line\": 9, \"column\": 9, \"message\": "
                        "\"" GRANT_MSG_JSON "\"},\n"
                        "  {\"kind\": \"shadowed-rule\", \"rule\": \"read-images\", \"principal\": "
                        "null, \"line\": 13, \"column\": 9, \"message\": \"" SHADOW_MSG "\"}\n"
                        "]}\n");
    mtlsauthz_string_free(r);
    mtlsauthz_policy_free(p);
}

Test(lint, report_json_when_clean_and_file_escaped)
{
    mtlsauthz_policy *p =
        load("version: 1\n"
             "rules:\n"
             "  - {id: r, effect: allow, principals: [\"*\"], operations: [x]}\n");
    size_t n = 9;
    char *r = report(p, "a\"b\n\xff.yaml", MTLSAUTHZ_FORMAT_JSON, &n);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(r,
                     "{\"file\": \"a\\\"b\\u000a\\u00ff.yaml\", \"count\": 0, \"findings\": []}\n");
    mtlsauthz_string_free(r);
    r = report(p, NULL, MTLSAUTHZ_FORMAT_JSON, &n);
    cr_assert_str_eq(r, "{\"file\": null, \"count\": 0, \"findings\": []}\n");
    mtlsauthz_string_free(r);
    r = report(p, "p.yaml", MTLSAUTHZ_FORMAT_TEXT, &n);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(r, "");
    mtlsauthz_string_free(r);
    mtlsauthz_policy_free(p);
}

Test(lint, sensitive_entry_has_no_rule_or_principal)
{
    mtlsauthz_policy *p = load("version: 1\n"
                               "sensitive:\n"
                               "  - \"GET /x\"\n"
                               "  - /host/**\n"
                               "rules:\n"
                               "  - {id: r, effect: deny, principals: [\"*\"], operations: [x]}\n");
    size_t n = 0;
    char *r = report(p, "p.yaml", MTLSAUTHZ_FORMAT_JSON, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(r,
                     "{\"file\": \"p.yaml\", \"count\": 1, \"findings\": [\n"
                     "  {\"kind\": \"path-without-method\", \"rule\": null, \"principal\": null, "
                     "\"line\": 4, \"column\": 5, \"message\": \"sensitive \\\"/host/**\\\": "
                     "starts with '/' but has no method, so no HTTP request matches it (the "
                     "canonical operation is 'METHOD /path'); write \\\"* /host/**\\\" for "
                     "every method\"}\n"
                     "]}\n");
    mtlsauthz_string_free(r);
    mtlsauthz_policy_free(p);
}

Test(lint, unknown_positions_are_left_out)
{
    /* The front end drops every position when it cannot vouch for them (policy_ast.h); each
     * form then leaves the position out instead of printing a wrong one, and such findings come
     * last. */
    mtlsauthz_policy *p = load(THREE);
    size_t n = 0;
    char *r;
    p->principals[1].pos = (mtlsauthz__pos){0, 0};
    r = report(p, "p.yaml", MTLSAUTHZ_FORMAT_TEXT, &n);
    cr_assert_str_eq(r, "p.yaml:9:9: warning: sensitive-grant: " GRANT_MSG "\n"
                        "p.yaml:13:9: warning: shadowed-rule: " SHADOW_MSG "\n"
                        "p.yaml: warning: unused-principal: " UNUSED_MSG "\n");
    mtlsauthz_string_free(r);
    r = report(p, NULL, MTLSAUTHZ_FORMAT_TEXT, &n);
    cr_assert(strstr(r, "\nwarning: unused-principal: " UNUSED_MSG "\n") != NULL, "%s", r);
    mtlsauthz_string_free(r);
    r = report(p, NULL, MTLSAUTHZ_FORMAT_JSON, &n);
    cr_assert(strstr(r, "\"principal\": \"old-team\", \"line\": null, \"column\": null, ") != NULL,
              "%s", r);
    mtlsauthz_string_free(r);
    cr_assert_eq(mtlsauthz_policy_lint(&r, &n, p, NULL), 0);
    cr_assert(strstr(r, "\nunused-principal: " UNUSED_MSG "\n") != NULL, "%s", r);
    cr_assert(strstr(r, UNUSED_MSG " (line") == NULL, "%s", r);
    mtlsauthz_string_free(r);
    mtlsauthz_policy_free(p);
}

Test(lint, report_refuses_bad_arguments)
{
    mtlsauthz_policy *p = load(THREE);
    mtlsauthz_error err = {0};
    char *r = (char *)1;
    size_t n = 7;
    cr_assert_eq(mtlsauthz_policy_lint_report(&r, &n, p, "p", (mtlsauthz_format)2, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(n, 0);
    cr_assert(strstr(err.message, "unknown format 2") != NULL, "%s", err.message);
    /* -1 is the value lint.c uses inside for the one-line-per-finding form: still refused. */
    r = (char *)1;
    n = 7;
    cr_assert_eq(mtlsauthz_policy_lint_report(&r, &n, p, "p", (mtlsauthz_format)-1, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(n, 0);
    cr_assert(strstr(err.message, "unknown format -1") != NULL, "%s", err.message);
    r = (char *)1;
    n = 7;
    cr_assert_eq(mtlsauthz_policy_lint_report(&r, &n, NULL, "p", MTLSAUTHZ_FORMAT_JSON, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(n, 0);
    cr_assert_eq(mtlsauthz_policy_lint_report(NULL, &n, p, "p", MTLSAUTHZ_FORMAT_JSON, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_lint_report(&r, NULL, p, "p", MTLSAUTHZ_FORMAT_JSON, &err),
                 MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    mtlsauthz_policy_free(p);
}

Test(lint, report_every_allocation_failure_is_clean)
{
    /* Enough findings that the list grows past its first block (16). */
    char yaml[8192];
    size_t off = (size_t)snprintf(yaml, sizeof(yaml), "version: 1\nprincipals:\n");
    for (int i = 0; i < 20; i++) {
        off += (size_t)snprintf(yaml + off, sizeof(yaml) - off, "  - {name: p%d, cn: [x]}\n", i);
    }
    snprintf(yaml + off, sizeof(yaml) - off,
             "rules:\n  - {id: r, effect: allow, principals: [\"*\"], operations: [x]}\n");
    mtlsauthz_policy *p = load(yaml);
    for (int form = 0; form < 2; form++) {
        size_t want = 0, n = 0;
        char *full = report(p, "p.yaml", (mtlsauthz_format)form, &want);
        int done = 0;
        cr_assert_eq(want, 20);
        for (long k = 0; k < 1000 && !done; k++) {
            mtlsauthz_error err = {0};
            char *r = (char *)1;
            int rc;
            mtlsauthz__alloc_fail_after(k);
            rc = mtlsauthz_policy_lint_report(&r, &n, p, "p.yaml", (mtlsauthz_format)form, &err);
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
    }
    mtlsauthz_policy_free(p);
}
