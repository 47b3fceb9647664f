/* SPDX-License-Identifier: Apache-2.0 */
/* `mtlsauthz http-op METHOD TARGET`: prints the canonical HTTP operation, or why it is refused.
 * Lets people see exactly which operation string a binding will match their policy against. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define HTTP_OP_USAGE "usage: mtlsauthz " CLI_USAGE_HTTP_OP
#define HTTP_OP_HELP                                                                               \
    HTTP_OP_USAGE "\n"                                                                             \
                  "Prints the operation a binding decides for an HTTP request: METHOD, a space\n"  \
                  "and TARGET's path, with the query stripped, percent-escapes decoded, one\n"     \
                  "trailing slash removed and HEAD read as GET; or why the request is refused\n"   \
                  "(docs/policy.md, \"HTTP operations\"). Write -- before a METHOD that starts\n"  \
                  "with '-'.\n"                                                                    \
                  "Exit status: 0 printed, 2 refused or an error.\n"

int cli_http_op(int argc, char **argv)
{
    static char out[MTLSAUTHZ_HTTP_OPERATION_MAX];
    mtlsauthz_error err = {0};
    const char *args[2];
    size_t out_len = 0, nargs = 0;
    int i, rc, options_done = 0;

    for (i = 1; i < argc; i++) {
        if (!options_done && cli_is_help(argv[i])) {
            fputs(HTTP_OP_HELP, stdout);
            return CLI_EXIT_OK;
        }
        if (!options_done && strcmp(argv[i], "--") == 0) {
            options_done = 1;
        } else if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_fail("http-op: unknown option '%s'; " HTTP_OP_USAGE, argv[i]);
        } else if (nargs < 2) {
            args[nargs++] = argv[i];
        } else {
            return cli_fail("http-op: more than METHOD and TARGET; " HTTP_OP_USAGE);
        }
    }
    if (nargs != 2) {
        return cli_fail("http-op: needs METHOD and TARGET; " HTTP_OP_USAGE);
    }
    rc = mtlsauthz_http_operation(out, sizeof(out), &out_len, args[0], strlen(args[0]), args[1],
                                  strlen(args[1]), &err);
    if (rc != 0) {
        return cli_fail("%s", err.message);
    }
    fwrite(out, 1, out_len, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) != 0) {
        return cli_fail("cannot write to stdout");
    }
    return CLI_EXIT_OK;
}
