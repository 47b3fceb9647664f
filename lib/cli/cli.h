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

/* Loads the policy file at `path` into *out. Returns 0, or prints the error (once, with
 * cli_report_error) and returns CLI_EXIT_ERROR. */
int cli_load_policy(mtlsauthz_policy **out, const char *path);

/* Prints a load error of the file `path` on one line of stderr, GNU style:
 * "PATH:LINE:COL: error: message", or "PATH: error: message" when err has no position. The
 * library's own "PATH:LINE:COL: " in front of the message is not repeated. */
void cli_report_error(const char *path, const mtlsauthz_error *err);

/* Reads a PEM or DER certificate file (detected by content) into an identity; `chain_path`
 * (may be NULL) names extra chain certificates (PEM or DER) appended after the leaf.
 * Returns 0, or prints the reason and returns CLI_EXIT_ERROR. */
int cli_load_identity(mtlsauthz_identity **out, const char *cert_path, const char *chain_path);

#endif
