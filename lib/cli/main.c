/* SPDX-License-Identifier: Apache-2.0 */
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
    {"identity", cli_identity, CLI_USAGE_IDENTITY},
    {"check", cli_check, CLI_USAGE_CHECK},
    {"lint", cli_lint, CLI_USAGE_LINT},
    {"test", cli_test, CLI_USAGE_TEST},
    {"http-op", cli_http_op, CLI_USAGE_HTTP_OP},
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

int cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_option(const char **value, int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) {
        return 0;
    }
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') {
        return 0;
    }
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

static void usage(FILE *f)
{
    size_t i;
    fprintf(f, "usage:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  mtlsauthz %s\n", commands[i].usage);
    }
    fprintf(f, "  mtlsauthz help [COMMAND]\n");
    fprintf(f, "  mtlsauthz --version\n");
    fprintf(f, "Each command takes --help.\n");
}

/* `mtlsauthz help [COMMAND]`: the overview, or COMMAND's own --help. */
static int help(int argc, char **argv)
{
    static char help_arg[] = "--help";
    size_t i;
    if (argc < 3) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[2], commands[i].name) == 0) {
            char *args[] = {argv[2], help_arg, NULL};
            return commands[i].run(2, args);
        }
    }
    return cli_fail("help: unknown command '%s' (mtlsauthz --help lists them)", argv[2]);
}

int main(int argc, char **argv)
{
    size_t i;
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_ERROR;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        return help(argc, argv);
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
