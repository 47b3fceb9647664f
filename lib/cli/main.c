/* mtlsauthz: command-line front end to libmtlsauthz. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"identity", cli_identity, "identity [--format text|json] FILE"},
    {"check", cli_check,
     "check --policy P --cert CERT [--chain CHAIN] --op OP [--explain] [--format text|json]"},
    {"lint", cli_lint, "lint POLICY"},
    {"test", cli_test, "test POLICY TESTS.yaml"},
    {"http-op", cli_http_op, "http-op METHOD TARGET"},
};

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("mtlsauthz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

static void usage(FILE *f)
{
    size_t i;
    fprintf(f, "usage:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  mtlsauthz %s\n", commands[i].usage);
    }
    fprintf(f, "  mtlsauthz --version\n");
}

int main(int argc, char **argv)
{
    size_t i;
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_ERROR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mtlsauthz %s\n", mtlsauthz_version());
        return CLI_EXIT_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    usage(stderr);
    return cli_fail("unknown command '%s'", argv[1]);
}
