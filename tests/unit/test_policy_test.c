/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy tests through the public API (lib/policy_test.c, include/mtlsauthz/policy_test.h):
 * loading (errors at FILE:LINE:COL, inline identities built at load), running (every outcome a
 * case can have), the accessors, ownership, and every allocation failure.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"

static const char POLICY[] = "version: 1\n"
                             "protocol: http\n"
                             "principals:\n"
                             "  - name: builder\n"
                             "    spiffe: [\"spiffe://prod.example.com/ci/builder\"]\n"
                             "    eku: [clientAuth]\n"
                             "  - name: ops\n"
                             "    o: [Example Corp]\n"
                             "    ou: [ops, sre]\n"
                             "rules:\n"
                             "  - id: health\n"
                             "    effect: allow\n"
                             "    principals: [\"*\"]\n"
                             "    operations: [\"GET /healthz\"]\n"
                             "  - id: build-images\n"
                             "    effect: allow\n"
                             "    principals: [builder]\n"
                             "    operations: [\"POST /images/build\"]\n"
                             "  - id: ops-read\n"
                             "    effect: allow\n"
                             "    principals: [ops]\n"
                             "    operations: [\"GET /containers\", \"GET /containers/*/logs\"]\n"
                             "  - id: no-container-escape\n"
                             "    effect: deny\n"
                             "    principals: [\"*\"]\n"
                             "    operations: [\"POST /containers/*/exec\"]\n"
                             "  - id: watch-logs\n"
                             "    effect: deny\n"
                             "    mode: dry-run\n"
                             "    principals: [ops]\n"
                             "    operations: [\"GET /containers/*/logs\"]\n";

#define OPS "{cn: [alice], o: [Example Corp], ou: [ops]}"

/* One case of each outcome, in this order. */
static const char CASES[] =
    "- name: builder builds\n" /* 1 */
    "  identity: {spiffe: \"spiffe://prod.example.com/ci/builder\", eku: [clientAuth]}\n"
    "  op: POST /images/build\n"
    "  expect: allow\n"
    "  rule: build-images\n"
    "- identity: " OPS "\n" /* 6: no name, a request, dry-run asserted */
    "  request: GET /containers/abc/logs/?tail=1\n"
    "  expect: allow\n"
    "  dry_run: [watch-logs]\n"
    "- name: ops may exec\n" /* 10: a failed decision */
    "  identity: " OPS "\n"
    "  op: POST /containers/abc/exec\n"
    "  expect: allow\n"
    "- name: refused as expected\n" /* 14 */
    "  identity: {cn: [x]}\n"
    "  request: GET /containers/../host\n"
    "  expect: error\n"
    "- name: refused, allow expected\n" /* 18 */
    "  identity: {cn: [x]}\n"
    "  request: GET /a//b\n"
    "  expect: allow\n"
    "- name: wrong rule\n" /* 22 */
    "  identity: {cn: [x]}\n"
    "  op: GET /healthz\n"
    "  expect: allow\n"
    "  rule: build-images\n"
    "- name: wrong dry-run\n" /* 27 */
    "  identity: " OPS "\n"
    "  op: GET /containers/abc/logs\n"
    "  expect: allow\n"
    "  dry_run: [health]\n"
    "- name: decided, error expected\n" /* 32 */
    "  identity: {cn: [x]}\n"
    "  op: GET /healthz\n"
    "  expect: error\n"
    "- name: rejected identity\n" /* 36 */
    "  identity: {spiffe: \"spiffe://prod.example.com/ci/../builder\", eku: [clientAuth]}\n"
    "  op: POST /images/build\n"
    "  expect: deny\n";

static mtlsauthz_policy *policy(void)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_policy_load(&p, POLICY, strlen(POLICY), &err), 0, "%s", err.message);
    return p;
}

static mtlsauthz_policy_test *load(const char *yaml)
{
    mtlsauthz_policy_test *t = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_policy_test_load(&t, yaml, strlen(yaml), &err), 0, "%s", err.message);
    cr_assert_not_null(t);
    return t;
}

static mtlsauthz_policy_test_results *run(const mtlsauthz_policy_test *t, mtlsauthz_policy *p,
                                          const char *cert_dir)
{
    mtlsauthz_policy_test_results *r = NULL;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_policy_test_run(&r, t, p, cert_dir, &err), 0, "%s", err.message);
    cr_assert_not_null(r);
    return r;
}

static void assert_str(const char *got, const char *want, const char *what)
{
    if (want == NULL) {
        cr_assert_null(got, "%s: got '%s', want NULL", what, got);
    } else {
        cr_assert_not_null(got, "%s: got NULL, want '%s'", what, want);
        cr_assert_str_eq(got, want, "%s", what);
    }
}

Test(policy_test, every_outcome_of_a_case)
{
    mtlsauthz_policy *p = policy();
    mtlsauthz_policy_test *t = load(CASES);
    mtlsauthz_policy_test_results *r = run(t, p, NULL);
    const mtlsauthz_policy_test_result *c;

    /* The results copy what they report: they outlive the test file and the policy. */
    mtlsauthz_policy_test_free(t);
    mtlsauthz_policy_free(p);
    cr_assert_eq(mtlsauthz_policy_test_results_count(r), 9);
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 4);
    cr_assert_null(mtlsauthz_policy_test_results_get(r, 9));

    c = mtlsauthz_policy_test_results_get(r, 0);
    assert_str(mtlsauthz_policy_test_result_name(c), "builder builds", "name");
    cr_assert_eq(mtlsauthz_policy_test_result_line(c), 1);
    assert_str(mtlsauthz_policy_test_result_request(c), NULL, "request");
    assert_str(mtlsauthz_policy_test_result_operation(c), "POST /images/build", "operation");
    assert_str(mtlsauthz_policy_test_result_expected(c), "allow", "expected");
    assert_str(mtlsauthz_policy_test_result_got(c), "allow", "got");
    cr_assert(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_rule(c), "build-images", "rule");
    assert_str(mtlsauthz_policy_test_result_reason(c), "allowed", "reason");
    cr_assert_eq(mtlsauthz_policy_test_result_dry_run_count(c), 0);
    assert_str(mtlsauthz_policy_test_result_dry_run(c, 0), NULL, "dry_run 0");
    assert_str(mtlsauthz_policy_test_result_error(c), NULL, "error");
    assert_str(mtlsauthz_policy_test_result_failure(c), NULL, "failure");
    assert_str(mtlsauthz_policy_test_result_explanation(c), NULL, "explanation");

    /* Without a name, the request names the case; the operation is the canonical one. */
    c = mtlsauthz_policy_test_results_get(r, 1);
    assert_str(mtlsauthz_policy_test_result_name(c), "GET /containers/abc/logs/?tail=1", "name");
    cr_assert_eq(mtlsauthz_policy_test_result_line(c), 6);
    assert_str(mtlsauthz_policy_test_result_request(c), "GET /containers/abc/logs/?tail=1",
               "request");
    assert_str(mtlsauthz_policy_test_result_operation(c), "GET /containers/abc/logs", "op");
    cr_assert(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_rule(c), "ops-read", "rule");
    cr_assert_eq(mtlsauthz_policy_test_result_dry_run_count(c), 1);
    assert_str(mtlsauthz_policy_test_result_dry_run(c, 0), "watch-logs", "dry_run 0");
    assert_str(mtlsauthz_policy_test_result_dry_run(c, 1), NULL, "dry_run 1");

    /* A failed decision explains itself as check --explain does. */
    c = mtlsauthz_policy_test_results_get(r, 2);
    cr_assert_not(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_got(c), "deny", "got");
    assert_str(mtlsauthz_policy_test_result_failure(c),
               "expected allow, got deny (reason denied, rule no-container-escape)", "failure");
    cr_assert_not_null(mtlsauthz_policy_test_result_explanation(c));
    cr_assert(strncmp(mtlsauthz_policy_test_result_explanation(c),
                      "operation: POST /containers/abc/exec\nidentity: accepted\n", 56) == 0,
              "%s", mtlsauthz_policy_test_result_explanation(c));
    cr_assert_not_null(
        strstr(mtlsauthz_policy_test_result_explanation(c), "match no-container-escape (deny)"));

    /* A refused request has no decision: `error`, and the reason it was refused. */
    c = mtlsauthz_policy_test_results_get(r, 3);
    cr_assert(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_got(c), "error", "got");
    assert_str(mtlsauthz_policy_test_result_operation(c), NULL, "operation");
    assert_str(mtlsauthz_policy_test_result_rule(c), NULL, "rule");
    assert_str(mtlsauthz_policy_test_result_reason(c), NULL, "reason");
    assert_str(mtlsauthz_policy_test_result_error(c), "HTTP request refused: dot segment in path",
               "error");
    assert_str(mtlsauthz_policy_test_result_failure(c), NULL, "failure");

    c = mtlsauthz_policy_test_results_get(r, 4);
    cr_assert_not(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_failure(c),
               "expected allow, got error (HTTP request refused: empty segment in path)",
               "failure");
    /* No decision to explain: the failure says it all. */
    assert_str(mtlsauthz_policy_test_result_explanation(c), NULL, "explanation");

    c = mtlsauthz_policy_test_results_get(r, 5);
    assert_str(mtlsauthz_policy_test_result_failure(c),
               "allowed as expected, but by rule health, not build-images", "failure");
    c = mtlsauthz_policy_test_results_get(r, 6);
    assert_str(mtlsauthz_policy_test_result_failure(c),
               "allowed as expected, but dry-run matched watch-logs, not health", "failure");
    c = mtlsauthz_policy_test_results_get(r, 7);
    assert_str(mtlsauthz_policy_test_result_failure(c),
               "expected error, got allow (reason allowed, rule health): operation 'GET "
               "/healthz' was decided",
               "failure");
    cr_assert_eq(mtlsauthz_policy_test_result_line(c), 32);

    /* A rejected inline identity is denied as its certificate would be. */
    c = mtlsauthz_policy_test_results_get(r, 8);
    cr_assert(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_reason(c), "identity_rejected", "reason");
    mtlsauthz_policy_test_results_free(r);
}

Test(policy_test, one_test_file_runs_against_several_policies)
{
    static const char other[] = "version: 1\n"
                                "rules:\n"
                                "  - id: everything\n"
                                "    effect: allow\n"
                                "    principals: [\"*\"]\n"
                                "    operations: [\"**\"]\n";
    mtlsauthz_policy *p = policy(), *q = NULL;
    mtlsauthz_policy_test *t = load(CASES);
    mtlsauthz_policy_test_results *a, *b;
    cr_assert_eq(mtlsauthz_policy_load(&q, other, strlen(other), NULL), 0);
    a = run(t, p, NULL);
    b = run(t, q, NULL);
    cr_assert_eq(mtlsauthz_policy_test_results_passed(a), 4);
    /* Under allow-everything the allows pass, and a deny or a rule expected fails. */
    cr_assert(mtlsauthz_policy_test_result_passed(mtlsauthz_policy_test_results_get(b, 2)));
    cr_assert_not(mtlsauthz_policy_test_result_passed(mtlsauthz_policy_test_results_get(b, 0)));
    assert_str(mtlsauthz_policy_test_result_rule(mtlsauthz_policy_test_results_get(b, 0)),
               "everything", "rule");
    mtlsauthz_policy_test_results_free(a);
    mtlsauthz_policy_test_results_free(b);
    mtlsauthz_policy_test_free(t);
    mtlsauthz_policy_free(p);
    mtlsauthz_policy_free(q);
}

/* ---- load errors: the position in err, and in front of the message as a policy's ---- */

Test(policy_test, load_errors_are_at_line_and_column)
{
    mtlsauthz_policy_test *t = (mtlsauthz_policy_test *)(uintptr_t)1;
    mtlsauthz_error err = {0};
    static const char unknown[] = "- identity: {cn: [x]}\n  op: x\n  expect: deny\n  cert2: a\n";
    cr_assert_eq(mtlsauthz_policy_test_load(&t, unknown, strlen(unknown), &err), MTLSAUTHZ_EPOLICY);
    cr_assert_null(t);
    cr_assert_eq(err.line, 4);
    cr_assert_eq(err.column, 3);
    cr_assert(strncmp(err.message, "4:3: unknown key 'cert2'", 24) == 0, "%s", err.message);
}

Test(policy_test, an_inline_identity_no_certificate_can_carry_fails_the_load_at_its_case)
{
    static const char yaml[] = "- {identity: {cn: [x]}, op: GET /healthz, expect: allow}\n"
                               "- name: cidr\n"
                               "  identity: {ip: [10.0.0.0/8]}\n"
                               "  op: x\n"
                               "  expect: deny\n";
    mtlsauthz_policy_test *t = (mtlsauthz_policy_test *)(uintptr_t)1;
    mtlsauthz_error err = {0};
    cr_assert_eq(mtlsauthz_policy_test_load(&t, yaml, strlen(yaml), &err), MTLSAUTHZ_EPOLICY);
    cr_assert_null(t);
    cr_assert_eq(err.line, 2);
    cr_assert_eq(err.column, 3);
    cr_assert(
        strncmp(err.message, "2:3: case 2 'cidr': identity: ip '10.0.0.0/8' is a block", 56) == 0,
        "%s", err.message);
}

/* Writes `text` to a new file in a new directory; returns its path (static). */
static const char *temp_file(const char *text)
{
    static char dir[] = "/tmp/mtlsauthz-policy-test-XXXXXX";
    static char path[sizeof(dir) + 32];
    FILE *f;
    memcpy(dir + sizeof(dir) - 7, "XXXXXX", 6);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tests.yaml", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void remove_temp(const char *path, const char *also)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (also != NULL) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, also);
        unlink(p);
    }
    unlink(path);
    rmdir(dir);
}

Test(policy_test, file_errors_start_with_the_path_once)
{
    const char *path = temp_file("- {identity: {cn: [x]}, op: x, expect: maybe}\n");
    mtlsauthz_policy_test *t = NULL;
    mtlsauthz_error err = {0};
    char want[4200];
    cr_assert_eq(mtlsauthz_policy_test_load_file(&t, path, &err), MTLSAUTHZ_EPOLICY);
    cr_assert_null(t);
    snprintf(want, sizeof(want), "%s:1:40: invalid value 'maybe' for 'expect'", path);
    cr_assert(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
    cr_assert_null(strstr(err.message + strlen(path), path), "path twice: %s", err.message);
    remove_temp(path, NULL);

    cr_assert_eq(mtlsauthz_policy_test_load_file(&t, "/nonexistent/tests.yaml", &err),
                 MTLSAUTHZ_EIO);
    cr_assert_str_eq(err.message, "/nonexistent/tests.yaml: No such file or directory");
    cr_assert_eq(err.line, 0);
}

Test(policy_test, bad_arguments)
{
    mtlsauthz_policy_test *t = (mtlsauthz_policy_test *)(uintptr_t)1;
    mtlsauthz_policy_test_results *r = (mtlsauthz_policy_test_results *)(uintptr_t)1;
    mtlsauthz_policy *p = policy();
    cr_assert_eq(mtlsauthz_policy_test_load(NULL, "x", 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_test_load(&t, NULL, 1, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(t);
    t = (mtlsauthz_policy_test *)(uintptr_t)1;
    cr_assert_eq(mtlsauthz_policy_test_load_file(&t, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(t);
    t = load(CASES);
    cr_assert_eq(mtlsauthz_policy_test_run(NULL, t, p, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_policy_test_run(&r, NULL, p, NULL, NULL), MTLSAUTHZ_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(mtlsauthz_policy_test_run(&r, t, NULL, NULL, NULL), MTLSAUTHZ_EINVAL);
    /* NULL objects read as empty, and free as nothing. */
    cr_assert_eq(mtlsauthz_policy_test_count(NULL), 0);
    cr_assert_eq(mtlsauthz_policy_test_count(t), 9);
    cr_assert_eq(mtlsauthz_policy_test_results_count(NULL), 0);
    cr_assert_null(mtlsauthz_policy_test_results_get(NULL, 0));
    cr_assert_null(mtlsauthz_policy_test_result_name(NULL));
    cr_assert_null(mtlsauthz_policy_test_result_expected(NULL));
    cr_assert_not(mtlsauthz_policy_test_result_passed(NULL));
    cr_assert_eq(mtlsauthz_policy_test_result_dry_run_count(NULL), 0);
    mtlsauthz_policy_test_free(NULL);
    mtlsauthz_policy_test_results_free(NULL);
    mtlsauthz_policy_test_free(t);
    mtlsauthz_policy_free(p);
}

/* ---- certificate cases ---- */

static const char CERT_CASES[] = "- name: builder\n"
                                 "  cert: builder.pem\n"
                                 "  op: POST /images/build\n"
                                 "  expect: allow\n"
                                 "- name: builder, DER, with its chain\n"
                                 "  cert: builder.der\n"
                                 "  chain: int.pem\n"
                                 "  op: POST /images/build\n"
                                 "  expect: allow\n"
                                 "- name: missing\n"
                                 "  cert: no-such.pem\n"
                                 "  op: GET /healthz\n"
                                 "  expect: error\n";

Test(policy_test, certificates_are_read_relative_to_the_directory_given)
{
    mtlsauthz_policy *p = policy();
    mtlsauthz_policy_test *t = load(CERT_CASES);
    const char *dir = getenv("MTLSAUTHZ_TEST_CERTS");
    mtlsauthz_policy_test_results *r;
    const mtlsauthz_policy_test_result *c;
    char want[4200];

    cr_assert_not_null(dir);
    r = run(t, p, dir);
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 2);
    /* A certificate that cannot be read fails its own case, naming the file; the case got
     * nothing, not an error: even `expect: error` fails. */
    c = mtlsauthz_policy_test_results_get(r, 2);
    cr_assert_not(mtlsauthz_policy_test_result_passed(c));
    assert_str(mtlsauthz_policy_test_result_got(c), NULL, "got");
    snprintf(want, sizeof(want), "%s/no-such.pem: No such file or directory", dir);
    assert_str(mtlsauthz_policy_test_result_error(c), want, "error");
    snprintf(want, sizeof(want),
             "cannot use the certificate: %s/no-such.pem: No such file or "
             "directory",
             dir);
    assert_str(mtlsauthz_policy_test_result_failure(c), want, "failure");
    mtlsauthz_policy_test_results_free(r);

    /* A buffer's paths are relative to the working directory when no directory is given. */
    r = run(t, p, NULL);
    assert_str(mtlsauthz_policy_test_result_error(mtlsauthz_policy_test_results_get(r, 0)),
               "builder.pem: No such file or directory", "error");
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 0);
    mtlsauthz_policy_test_results_free(r);
    mtlsauthz_policy_test_free(t);
    mtlsauthz_policy_free(p);
}

Test(policy_test, a_files_certificates_are_relative_to_its_directory)
{
    size_t len;
    char *pem = th_cert("builder.pem", &len);
    char abs_cases[4400];
    const char *path = temp_file("- {cert: leaf.pem, op: POST /images/build, expect: allow}\n");
    char leaf[4200];
    mtlsauthz_policy *p = policy();
    mtlsauthz_policy_test *t = NULL;
    mtlsauthz_policy_test_results *r;
    FILE *f;

    snprintf(leaf, sizeof(leaf), "%.*s/leaf.pem", (int)(strrchr(path, '/') - path), path);
    f = fopen(leaf, "w");
    cr_assert_not_null(f);
    fwrite(pem, 1, len, f);
    fclose(f);
    cr_assert_eq(mtlsauthz_policy_test_load_file(&t, path, NULL), 0);
    r = run(t, p, NULL);
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 1, "%s",
                 mtlsauthz_policy_test_result_failure(mtlsauthz_policy_test_results_get(r, 0)));
    mtlsauthz_policy_test_results_free(r);
    mtlsauthz_policy_test_free(t);

    /* An absolute path is used as it is, whatever the directory. */
    snprintf(abs_cases, sizeof(abs_cases),
             "- {cert: \"%s\", op: POST /images/build, expect: allow}\n", leaf);
    t = load(abs_cases);
    r = run(t, p, "/nonexistent");
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 1);
    mtlsauthz_policy_test_results_free(r);
    mtlsauthz_policy_test_free(t);
    remove_temp(path, "leaf.pem");
    mtlsauthz_policy_free(p);
    free(pem);
}

/* ---- allocation failures: the load and the run fail whole, or give the same answer ---- */

Test(policy_test, every_allocation_failure_is_clean)
{
    mtlsauthz_policy *p = policy();
    mtlsauthz_policy_test *t = NULL;
    mtlsauthz_policy_test_results *r = NULL;
    const char *dir = getenv("MTLSAUTHZ_TEST_CERTS");
    char *cases;
    size_t n1 = strlen(CASES), n2 = strlen(CERT_CASES);
    long n;
    int rc = -1;

    cases = malloc(n1 + n2 + 1);
    cr_assert_not_null(cases);
    memcpy(cases, CASES, n1);
    memcpy(cases + n1, CERT_CASES, n2 + 1);
    for (n = 0; n < 100000 && rc != 0; n++) {
        mtlsauthz__alloc_fail_after(n);
        rc = mtlsauthz_policy_test_load(&t, cases, n1 + n2, NULL);
        mtlsauthz__alloc_fail_after(-1);
        if (rc != 0) {
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "allocation %ld: %s", n, mtlsauthz_errname(rc));
            cr_assert_null(t);
        }
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(mtlsauthz_policy_test_count(t), 12);
    rc = -1;
    for (n = 0; n < 100000 && rc != 0; n++) {
        mtlsauthz__alloc_fail_after(n);
        rc = mtlsauthz_policy_test_run(&r, t, p, dir, NULL);
        mtlsauthz__alloc_fail_after(-1);
        if (rc != 0) {
            /* Never a case that passed or failed because memory ran out. */
            cr_assert_eq(rc, MTLSAUTHZ_ENOMEM, "allocation %ld: %s", n, mtlsauthz_errname(rc));
            cr_assert_null(r);
        }
    }
    cr_assert_eq(rc, 0);
    cr_assert_gt(n, 20);
    cr_assert_eq(mtlsauthz_policy_test_results_count(r), 12);
    cr_assert_eq(mtlsauthz_policy_test_results_passed(r), 6);
    mtlsauthz_policy_test_results_free(r);
    mtlsauthz_policy_test_free(t);
    mtlsauthz_policy_free(p);
    free(cases);
}
