/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A JSON document writer for the CLI's --format json output: objects, arrays, keys and
 * scalars, indented two spaces a level, with the commas placed for the caller. Every string
 * goes through cli_json_escape(), which escapes as the library's JSON documents do ('"', '\\'
 * and every control byte escaped, valid UTF-8 kept as it is, any other byte as \u00XX), so
 * the CLI's documents are always valid JSON.
 *
 * The document is built in memory and written with cli_json_write() only once complete, so a
 * command that fails half way prints no half document.
 */
#ifndef MTLSAUTHZ_CLI_JSON_H
#define MTLSAUTHZ_CLI_JSON_H

#include <stdio.h>

#include "buf.h"

#define CLI_JSON_MAX_DEPTH 16

typedef struct cli_json {
    cli_buf b;
    unsigned depth;                     /* containers open */
    char open[CLI_JSON_MAX_DEPTH];      /* each one's '{' or '[' */
    size_t members[CLI_JSON_MAX_DEPTH]; /* and how many members it has so far */
    int after_key;                      /* a key was written; its value comes next */
    int misused; /* unbalanced, too deep, a key outside an object or a value without one */
} cli_json;

void cli_json_init(cli_json *j);
void cli_json_free(cli_json *j);

void cli_json_object(cli_json *j); /* { */
void cli_json_array(cli_json *j);  /* [ */
void cli_json_end(cli_json *j);    /* } or ], whichever is open */

/* An object member's key; the next call writes its value. */
void cli_json_key(cli_json *j, const char *key);

void cli_json_string(cli_json *j, const char *p, size_t len);
/* A NUL-terminated string, or null for NULL. */
void cli_json_str(cli_json *j, const char *s);
void cli_json_bool(cli_json *j, int v);
void cli_json_uint(cli_json *j, unsigned long v);
void cli_json_null(cli_json *j);

/* Appends `len` bytes to `b` as a JSON string literal, quotes included: '"', '\\', NUL and every
 * control byte escaped (\u0000), valid UTF-8 kept, and a byte that is not UTF-8 written as
 * \u00XX of the byte, so the output is always valid JSON. */
void cli_json_escape(cli_buf *b, const char *p, size_t len);

/* Writes the complete document and a newline to `f`. Returns 0, or -1 when the document is
 * incomplete, was misused, ran out of memory, or could not be written. */
int cli_json_write(cli_json *j, FILE *f);

#endif
