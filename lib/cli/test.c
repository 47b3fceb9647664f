/*
 * mtlsauthz test [--certs DIR] POLICY TESTS.yaml: policy unit tests for the user's own CI.
 * Exit 0 when every case passes, 1 when any fails, 2 on an error (unreadable policy, tests or
 * certificate).
 */
#include <limits.h>
#include <string.h>

#include "cli.h"
#include "policy_ast.h"

/* Resolves `name` against `base` unless it is absolute. */
static int resolve(char *dst, size_t cap, const char *base, const char *name)
{
    int n =
        name[0] == '/' ? snprintf(dst, cap, "%s", name) : snprintf(dst, cap, "%s/%s", base, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The directory part of `path` ("." when there is none). */
static void dirname_of(char *dst, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dst, cap, ".");
    } else if (slash == path) {
        snprintf(dst, cap, "/");
    } else {
        snprintf(dst, cap, "%.*s", (int)(slash - path), path);
    }
}

static int run_case(const mtlsauthz__test_case *tc, unsigned index, mtlsauthz_policy *policy,
                    const char *base, int *passed)
{
    char cert[PATH_MAX], chain[PATH_MAX];
    mtlsauthz_identity *id = NULL;
    mtlsauthz_decision d;
    mtlsauthz_error err = {0};
    const char *name = tc->name != NULL ? tc->name : tc->op;
    int rc;

    *passed = 0;
    if (resolve(cert, sizeof(cert), base, tc->cert) != 0 ||
        (tc->chain != NULL && resolve(chain, sizeof(chain), base, tc->chain) != 0)) {
        return cli_fail("case %u (%s): certificate path too long", index + 1, name);
    }
    /* On failure this has printed the one-line reason, naming the file. */
    rc = cli_load_identity(&id, cert, tc->chain != NULL ? chain : NULL);
    if (rc != 0) {
        return CLI_EXIT_ERROR;
    }
    rc = mtlsauthz_policy_decide(&d, policy, id, tc->op, strlen(tc->op), &err);
    mtlsauthz_identity_free(id);
    if (rc != 0) {
        /* A decision that errs is a deny, as everywhere; the case may expect exactly that. */
        printf("  note: %s\n", err.message);
    }
    if ((d.allowed != 0) != (tc->expect_allow != 0)) {
        printf("FAIL %s: expected %s, got %s (reason %s, rule %s)\n", name,
               tc->expect_allow ? "allow" : "deny", d.allowed ? "allow" : "deny",
               mtlsauthz_reason_string(d.reason), d.rule != NULL ? d.rule : "none");
        return 0;
    }
    if (tc->rule != NULL && (d.rule == NULL || strcmp(tc->rule, d.rule) != 0)) {
        printf("FAIL %s: %s as expected, but by rule %s, not %s\n", name,
               d.allowed ? "allowed" : "denied", d.rule != NULL ? d.rule : "none", tc->rule);
        return 0;
    }
    printf("PASS %s: %s (%s%s%s)\n", name, d.allowed ? "allow" : "deny",
           mtlsauthz_reason_string(d.reason), d.rule != NULL ? " by " : "",
           d.rule != NULL ? d.rule : "");
    *passed = 1;
    return 0;
}

int cli_test(int argc, char **argv)
{
    const char *certs_dir = NULL, *policy_path, *tests_path;
    char base[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    mtlsauthz_error err = {0};
    mtlsauthz_policy *policy = NULL;
    mtlsauthz__test_cases *tcs = NULL;
    unsigned i, passed = 0, failed = 0;
    int rc = CLI_EXIT_ERROR;

    if (argc == 5 && strcmp(argv[1], "--certs") == 0) {
        certs_dir = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        return cli_fail("usage: mtlsauthz test [--certs DIR] POLICY TESTS.yaml");
    }
    policy_path = argv[1];
    tests_path = argv[2];
    if (certs_dir != NULL) {
        snprintf(base, sizeof(base), "%s", certs_dir);
    } else {
        dirname_of(base, sizeof(base), tests_path);
    }

    if (cli_load_policy(&policy, policy_path) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (mtlsauthz__read_file(&text, &len, tests_path, MTLSAUTHZ__POLICY_MAX_BYTES, &err) != 0 ||
        mtlsauthz__test_cases_load(&tcs, text, len, &err) != 0) {
        cli_report_error(tests_path, &err);
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    for (i = 0; i < tcs->ncases; i++) {
        int ok;
        if (run_case(&tcs->cases[i], i, policy, base, &ok) != 0) {
            rc = CLI_EXIT_ERROR;
            goto out;
        }
        if (ok) {
            passed++;
        } else {
            failed++;
        }
    }
    printf("%s: %u passed, %u failed\n", tests_path, passed, failed);
    rc = failed == 0 ? CLI_EXIT_OK : CLI_EXIT_NO;
out:
    mtlsauthz__test_cases_free(tcs);
    mtlsauthz__free(text);
    mtlsauthz_policy_free(policy);
    return rc;
}
