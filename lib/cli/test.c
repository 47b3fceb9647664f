/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtlsauthz test [--certs DIR] [--format text|json] POLICY TESTS.yaml: policy unit tests for
 * the user's own CI (docs/policy.md, "Policy tests"). Exit 0 when every case passes, 1 when
 * any fails (a certificate that cannot be read fails its case), 2 on an error: an unreadable
 * policy or test file, or a test file that is not valid (an inline identity no certificate
 * could carry is one).
 *
 * A printer over the public policy-test API (mtlsauthz/policy_test.h): the library loads the
 * file, runs the cases and judges them; this file only prints what it reports.
 */
#include <string.h>

#include "cli.h"
#include "json.h"

#define TEST_USAGE "usage: mtlsauthz " CLI_USAGE_TEST
#define TEST_HELP                                                                                  \
    TEST_USAGE "\n"                                                                                \
               "Runs the cases in TESTS.yaml against POLICY (docs/policy.md, \"Policy tests\").\n" \
               "  --certs DIR         where cert and chain paths are relative to (default:\n"      \
               "                      the directory of TESTS.yaml)\n"                              \
               "  --format text|json  a PASS or FAIL line per case, a failure's explanation\n"     \
               "                      under it and a count (text, the default), or one JSON\n"     \
               "                      document\n"                                                  \
               "Exit status: 0 every case passed, 1 a case failed, 2 an error.\n"

/* Prints the dry-run rules that matched: "a, b", and " and N more" past those a decision
 * names. Rule ids hold no control bytes (the compiler refuses them). */
static void print_dry_run(const mtlsauthz_policy_test_result *r)
{
    size_t total = mtlsauthz_policy_test_result_dry_run_count(r), i;
    const char *id;
    for (i = 0; (id = mtlsauthz_policy_test_result_dry_run(r, i)) != NULL; i++) {
        printf("%s%s", i > 0 ? ", " : "", id);
    }
    if (total > i) {
        printf(" and %zu more", total - i);
    }
}

/* "deny (denied by no-host; dry-run: watch-logs; operation 'GET /x')" and the like. */
static void print_detail(const mtlsauthz_policy_test_result *r)
{
    const char *reason = mtlsauthz_policy_test_result_reason(r);
    const char *rule = mtlsauthz_policy_test_result_rule(r);
    const char *op = mtlsauthz_policy_test_result_operation(r);
    if (reason == NULL) {
        /* No decision: what stood in for one. */
        const char *error = mtlsauthz_policy_test_result_error(r);
        fputs("error (", stdout);
        cli_print_safe(stdout, error, strlen(error));
        fputs(")", stdout);
        return;
    }
    printf("%s (%s%s%s", mtlsauthz_policy_test_result_got(r), reason, rule != NULL ? " by " : "",
           rule != NULL ? rule : "");
    if (mtlsauthz_policy_test_result_dry_run_count(r) > 0) {
        fputs("; dry-run: ", stdout);
        print_dry_run(r);
    }
    if (mtlsauthz_policy_test_result_request(r) != NULL) {
        fputs("; operation '", stdout);
        cli_print_safe(stdout, op, strlen(op));
        fputs("'", stdout);
    }
    fputs(")", stdout);
}

static void print_text(const mtlsauthz_policy_test_result *r)
{
    const char *name = mtlsauthz_policy_test_result_name(r);
    const char *failure = mtlsauthz_policy_test_result_failure(r);
    const char *line = mtlsauthz_policy_test_result_explanation(r);
    int pass = mtlsauthz_policy_test_result_passed(r);
    fputs(pass ? "PASS " : "FAIL ", stdout);
    cli_print_safe(stdout, name, strlen(name));
    fputs(": ", stdout);
    if (pass) {
        print_detail(r);
    } else {
        cli_print_safe(stdout, failure, strlen(failure));
    }
    fputc('\n', stdout);
    /* The explanation, indented under its FAIL line, so a log reader sees whose it is. */
    while (line != NULL && *line != '\0') {
        const char *nl = strchr(line, '\n');
        size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
        fputs("    ", stdout);
        fwrite(line, 1, n, stdout);
        fputc('\n', stdout);
        line += n + (nl != NULL);
    }
}

static void add_json(cli_json *j, const mtlsauthz_policy_test_result *r)
{
    const char *explanation = mtlsauthz_policy_test_result_explanation(r);
    const char *id;
    cli_json_object(j);
    cli_json_key(j, "name");
    cli_json_str(j, mtlsauthz_policy_test_result_name(r));
    cli_json_key(j, "operation");
    cli_json_str(j, mtlsauthz_policy_test_result_operation(r));
    cli_json_key(j, "expected");
    cli_json_str(j, mtlsauthz_policy_test_result_expected(r));
    cli_json_key(j, "got");
    cli_json_str(j, mtlsauthz_policy_test_result_got(r));
    cli_json_key(j, "pass");
    cli_json_bool(j, mtlsauthz_policy_test_result_passed(r));
    cli_json_key(j, "rule");
    cli_json_str(j, mtlsauthz_policy_test_result_rule(r));
    cli_json_key(j, "reason");
    cli_json_str(j, mtlsauthz_policy_test_result_reason(r));
    cli_json_key(j, "dry_run");
    cli_json_array(j);
    for (size_t i = 0; (id = mtlsauthz_policy_test_result_dry_run(r, i)) != NULL; i++) {
        cli_json_str(j, id);
    }
    cli_json_end(j);
    cli_json_key(j, "error");
    cli_json_str(j, mtlsauthz_policy_test_result_error(r));
    cli_json_key(j, "failure");
    cli_json_str(j, mtlsauthz_policy_test_result_failure(r));
    /* A failed case always explains itself: the decision's account, or why there is none. */
    cli_json_key(j, "explanation");
    cli_json_str(j, explanation != NULL ? explanation : mtlsauthz_policy_test_result_failure(r));
    cli_json_end(j);
}

int cli_test(int argc, char **argv)
{
    const char *certs_dir = NULL, *format = "text", *policy_path = NULL, *tests_path = NULL;
    mtlsauthz_error err = {0};
    mtlsauthz_policy *policy = NULL;
    mtlsauthz_policy_test *tests = NULL;
    mtlsauthz_policy_test_results *results = NULL;
    cli_json j;
    size_t i, count, passed;
    int rc = CLI_EXIT_ERROR, json, options_done = 0;

    cli_json_init(&j);
    for (int a = 1; a < argc; a++) {
        int got = 0;
        if (!options_done && cli_is_help(argv[a])) {
            fputs(TEST_HELP, stdout);
            return CLI_EXIT_OK;
        }
        if (!options_done && ((got = cli_option(&certs_dir, argc, argv, &a, "--certs")) != 0 ||
                              (got = cli_option(&format, argc, argv, &a, "--format")) != 0)) {
            if (got < 0) {
                return CLI_EXIT_ERROR;
            }
        } else if (!options_done && strcmp(argv[a], "--") == 0) {
            options_done = 1;
        } else if (!options_done && argv[a][0] == '-' && argv[a][1] != '\0') {
            return cli_fail("test: unknown option '%s'; " TEST_USAGE, argv[a]);
        } else if (policy_path == NULL) {
            policy_path = argv[a];
        } else if (tests_path == NULL) {
            tests_path = argv[a];
        } else {
            return cli_fail("test: more than POLICY and TESTS.yaml; " TEST_USAGE);
        }
    }
    if (tests_path == NULL) {
        return cli_fail("test: needs POLICY and TESTS.yaml; " TEST_USAGE);
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        return cli_fail("test: --format must be text or json, not '%s'", format);
    }
    json = strcmp(format, "json") == 0;

    if (cli_load_policy(&policy, policy_path) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (mtlsauthz_policy_test_load_file(&tests, tests_path, &err) != 0) {
        cli_report_error(tests_path, &err);
        goto out;
    }
    /* Certificate paths are relative to --certs, or by default to the test file's directory. */
    if (mtlsauthz_policy_test_run(&results, tests, policy, certs_dir, &err) != 0) {
        rc = cli_fail("%s", err.message);
        goto out;
    }
    count = mtlsauthz_policy_test_results_count(results);
    passed = mtlsauthz_policy_test_results_passed(results);
    if (json) {
        cli_json_object(&j);
        cli_json_key(&j, "policy");
        cli_json_str(&j, policy_path);
        cli_json_key(&j, "tests");
        cli_json_str(&j, tests_path);
        cli_json_key(&j, "cases");
        cli_json_array(&j);
    }
    for (i = 0; i < count; i++) {
        const mtlsauthz_policy_test_result *r = mtlsauthz_policy_test_results_get(results, i);
        if (json) {
            add_json(&j, r);
        } else {
            print_text(r);
        }
    }
    if (json) {
        cli_json_end(&j);
        cli_json_key(&j, "totals");
        cli_json_object(&j);
        cli_json_key(&j, "cases");
        cli_json_uint(&j, count);
        cli_json_key(&j, "passed");
        cli_json_uint(&j, passed);
        cli_json_key(&j, "failed");
        cli_json_uint(&j, count - passed);
        cli_json_end(&j);
        cli_json_end(&j);
        if (cli_json_write(&j, stdout) != 0) {
            rc = cli_fail("cannot write the JSON document");
            goto out;
        }
    } else {
        printf("%s: %zu passed, %zu failed\n", tests_path, passed, count - passed);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = cli_fail("cannot write to standard output");
        goto out;
    }
    rc = passed == count ? CLI_EXIT_OK : CLI_EXIT_NO;
out:
    cli_json_free(&j);
    mtlsauthz_policy_test_results_free(results);
    mtlsauthz_policy_test_free(tests);
    mtlsauthz_policy_free(policy);
    return rc;
}
