/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtlsauthz lint [--format text|json] POLICY: exit 0 clean, 1 findings, 2 invalid.
 *
 * Text: one GNU-style line per finding, "POLICY:LINE:COL: warning: kind: message", then
 * "POLICY: N findings" (or "POLICY: no findings"). JSON: the document of
 * mtlsauthz_policy_lint_report() alone. docs/policy.md, "Lint".
 */
#include <string.h>

#include "cli.h"

#define LINT_USAGE "mtlsauthz " CLI_USAGE_LINT

static void lint_help(void)
{
    printf("usage: %s\n"
           "\n"
           "Checks a policy for grants that are broader than they look (docs/policy.md, Lint).\n"
           "\n"
           "  --format text  one line per finding, FILE:LINE:COL: warning: kind: message,\n"
           "                 then a count (the default)\n"
           "  --format json  one JSON document: {\"file\", \"count\", \"findings\": [{\"kind\",\n"
           "                 \"rule\", \"principal\", \"line\", \"column\", \"message\"}]}\n"
           "  --help         this text\n"
           "\n"
           "Exit status: 0 no findings, 1 findings, 2 the policy does not load or a usage "
           "error.\n",
           LINT_USAGE);
}

int cli_lint(int argc, char **argv)
{
    mtlsauthz_error err = {0};
    mtlsauthz_policy *policy = NULL;
    mtlsauthz_format format = MTLSAUTHZ_FORMAT_TEXT;
    const char *path = NULL;
    char *report = NULL;
    size_t count = 0;
    int rc, options = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            lint_help();
            return CLI_EXIT_OK;
        }
        if (options && strcmp(a, "--") == 0) {
            options = 0;
        } else if (options && strcmp(a, "--format") == 0) {
            if (i + 1 >= argc) {
                return cli_fail("lint: --format needs a value, text or json (usage: %s)",
                                LINT_USAGE);
            }
            a = argv[++i];
            if (strcmp(a, "text") == 0) {
                format = MTLSAUTHZ_FORMAT_TEXT;
            } else if (strcmp(a, "json") == 0) {
                format = MTLSAUTHZ_FORMAT_JSON;
            } else {
                return cli_fail("lint: --format must be text or json, not '%s'", a);
            }
        } else if (options && a[0] == '-' && a[1] != '\0') {
            return cli_fail("lint: unknown option '%s' (usage: %s)", a, LINT_USAGE);
        } else if (path != NULL) {
            return cli_fail("lint: one POLICY at a time, not '%s' and '%s' (usage: %s)", path, a,
                            LINT_USAGE);
        } else {
            path = a;
        }
    }
    if (path == NULL) {
        return cli_fail("lint: no POLICY given (usage: %s)", LINT_USAGE);
    }
    if (cli_load_policy(&policy, path) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (mtlsauthz_policy_lint_report(&report, &count, policy, path, format, &err) != 0) {
        mtlsauthz_policy_free(policy);
        return cli_fail("lint: %s", err.message);
    }
    fputs(report, stdout);
    if (format == MTLSAUTHZ_FORMAT_TEXT) {
        if (count == 0) {
            printf("%s: no findings\n", path);
        } else {
            printf("%s: %zu finding%s\n", path, count, count == 1 ? "" : "s");
        }
    }
    rc = count == 0 ? CLI_EXIT_OK : CLI_EXIT_NO;
    mtlsauthz_string_free(report);
    mtlsauthz_policy_free(policy);
    return rc;
}
