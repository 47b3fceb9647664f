/* The mtlsauthz command-line tool: one file per subcommand. */
#ifndef MTLSAUTHZ_CLI_H
#define MTLSAUTHZ_CLI_H

#include <stdio.h>

#include "mtlsauthz/mtlsauthz.h"

/* Exit codes shared by every subcommand. For `check`: 0 allow, 1 deny. For `lint`: 0 clean,
 * 1 findings. For `test`: 0 all passed, 1 a case failed. Always 2 for an error, with a
 * one-line reason on stderr. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_NO 1
#define CLI_EXIT_ERROR 2

int cli_identity(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_lint(int argc, char **argv);
int cli_test(int argc, char **argv);
int cli_http_op(int argc, char **argv);

/* Prints "mtlsauthz: <msg>" on one line to stderr and returns CLI_EXIT_ERROR. */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Reads a PEM or DER certificate file (detected by content) into an identity; `chain_path`
 * (may be NULL) names extra chain certificates (PEM or DER) appended after the leaf.
 * Returns 0, or prints the reason and returns CLI_EXIT_ERROR. */
int cli_load_identity(mtlsauthz_identity **out, const char *cert_path, const char *chain_path);

#endif
