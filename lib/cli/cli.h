/* SPDX-License-Identifier: Apache-2.0 */
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

/* The synopses of the subcommands that share them between their --help and the overview of
 * `mtlsauthz --help`. */
#define CLI_USAGE_IDENTITY "identity [--format text|json] FILE | --xfcc HEADER"
#define CLI_USAGE_CHECK                                                                            \
    "check --policy P --cert CERT [--chain CHAIN] --op OP [--explain] [--format text|json]"
#define CLI_USAGE_LINT "lint [--format text|json] POLICY"
#define CLI_USAGE_TEST "test [--certs DIR] [--format text|json] POLICY TESTS.yaml"
#define CLI_USAGE_HTTP_OP "http-op METHOD TARGET"

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

/* 1 if `arg` asks for help (-h or --help): usage on stdout, exit 0. */
int cli_is_help(const char *arg);

/*
 * Reads option `name` ("--format") at argv[*i], written "--format VALUE" or "--format=VALUE".
 * Returns 1 with *value set and *i on the last argument it used, 0 when argv[*i] is not that
 * option, or -1 when its value is missing (the reason printed; exit CLI_EXIT_ERROR).
 */
int cli_option(const char **value, int argc, char **argv, int *i, const char *name);

/* Writes `len` bytes for a terminal: control bytes, backslashes and bytes that are not UTF-8
 * escaped, so a value can neither hide its tail nor drive the terminal. */
void cli_print_safe(FILE *f, const char *p, size_t len);

/* Loads the policy file at `path` into *out. Returns 0, or prints the error (once, with
 * cli_report_error) and returns CLI_EXIT_ERROR. */
int cli_load_policy(mtlsauthz_policy **out, const char *path);

/* Prints a load error of the file `path` on one line of stderr, GNU style:
 * "PATH:LINE:COL: error: message", or "PATH: error: message" when err has no position. The
 * library's own "PATH:LINE:COL: " in front of the message is not repeated. */
void cli_report_error(const char *path, const mtlsauthz_error *err);

/* Reads a certificate file, and an optional chain file (NULL for none), into an identity
 * (mtlsauthz_identity_from_file(): PEM or DER, told apart by content). Returns 0, or prints
 * the library's reason, which names the file, and returns CLI_EXIT_ERROR. */
int cli_load_identity(mtlsauthz_identity **out, const char *cert_path, const char *chain_path);

#endif
