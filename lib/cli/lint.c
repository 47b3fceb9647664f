/* mtlsauthz lint POLICY: exit 0 clean, 1 findings, 2 invalid. */
#include <string.h>

#include "cli.h"

int cli_lint(int argc, char **argv)
{
    mtlsauthz_error err = {0};
    mtlsauthz_policy *policy = NULL;
    char *report = NULL;
    size_t count = 0;
    int rc;

    if (argc != 2 || argv[1][0] == '-') {
        return cli_fail("usage: mtlsauthz lint POLICY");
    }
    if (cli_load_policy(&policy, argv[1]) != 0) {
        return CLI_EXIT_ERROR; /* cli_load_policy printed the error */
    }
    if (mtlsauthz_policy_lint(&report, &count, policy, &err) != 0) {
        mtlsauthz_policy_free(policy);
        return cli_fail("lint: %s", err.message);
    }
    if (count == 0) {
        printf("%s: no findings\n", argv[1]);
        rc = CLI_EXIT_OK;
    } else {
        fputs(report, stdout);
        printf("%s: %zu finding%s\n", argv[1], count, count == 1 ? "" : "s");
        rc = CLI_EXIT_NO;
    }
    mtlsauthz_string_free(report);
    mtlsauthz_policy_free(policy);
    return rc;
}
