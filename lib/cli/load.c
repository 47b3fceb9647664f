/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a policy for a subcommand, and printing a load error once, in the form editors and
 * CI annotators read (GNU: "FILE:LINE:COLUMN: error: message"; docs/policy.md, "Errors").
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *skip_str(const char *m, const char *s)
{
    size_t n = strlen(s);
    return strncmp(m, s, n) == 0 ? m + n : NULL;
}

/* Skips "LINE:COL: " if the message starts with err's position. */
static const char *skip_position(const char *m, const mtlsauthz_error *err)
{
    char pos[64];
    if (err->line == 0) {
        return NULL;
    }
    snprintf(pos, sizeof(pos), "%u:%u: ", err->line, err->column);
    return skip_str(m, pos);
}

/* The message without the "PATH:LINE:COL: ", "PATH: " or "LINE:COL: " the library put in
 * front of it: the CLI prints the path and the position itself. */
static const char *bare_message(const char *path, const mtlsauthz_error *err)
{
    const char *m = err->message, *p, *q;
    if (path != NULL && (p = skip_str(m, path)) != NULL && *p == ':') {
        p++;
        if ((q = skip_position(p, err)) != NULL) {
            return q;
        }
        if (*p == ' ') {
            return p + 1;
        }
    }
    q = skip_position(m, err);
    return q != NULL ? q : m;
}

void cli_report_error(const char *path, const mtlsauthz_error *err)
{
    const char *text = bare_message(path, err);
    if (text[0] == '\0') {
        text = mtlsauthz_strerror(err->code);
    }
    if (path != NULL && err->line != 0) {
        fprintf(stderr, "%s:%u:%u: error: %s\n", path, err->line, err->column, text);
    } else if (path != NULL) {
        fprintf(stderr, "%s: error: %s\n", path, text);
    } else {
        fprintf(stderr, "mtlsauthz: error: %s\n", text);
    }
}

int cli_load_policy(mtlsauthz_policy **out, const char *path)
{
    mtlsauthz_error err;
    mtlsauthz_error_clear(&err);
    if (mtlsauthz_policy_load_file(out, path, &err) != 0) {
        cli_report_error(path, &err);
        return CLI_EXIT_ERROR;
    }
    return 0;
}
