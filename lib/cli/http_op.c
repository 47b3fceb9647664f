/* `mtlsauthz http-op METHOD TARGET`: prints the canonical HTTP operation, or why it is refused.
 * Lets people see exactly which operation string a binding will match their policy against. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The library refuses targets over 8192 bytes and methods over 32, so this always suffices. */
#define HTTP_OP_BUF (32 + 1 + 8192 + 1)

int cli_http_op(int argc, char **argv)
{
    static char out[HTTP_OP_BUF];
    mtlsauthz_error err = {0};
    size_t out_len = 0;
    int rc;

    if (argc != 3) {
        return cli_fail("usage: mtlsauthz http-op METHOD TARGET");
    }
    rc = mtlsauthz_http_operation(out, sizeof(out), &out_len, argv[1], strlen(argv[1]), argv[2],
                                  strlen(argv[2]), &err);
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
