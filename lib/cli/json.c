/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's JSON document writer (json.h). */
#include <string.h>

#include "json.h"

void cli_json_init(cli_json *j)
{
    memset(j, 0, sizeof(*j));
    cli_buf_init(&j->b);
}

void cli_json_free(cli_json *j)
{
    cli_buf_free(&j->b);
    cli_json_init(j);
}

static void newline(cli_json *j, unsigned depth)
{
    cli_buf_append(&j->b, "\n", 1);
    for (unsigned i = 0; i < depth; i++) {
        cli_buf_append(&j->b, "  ", 2);
    }
}

/* Starts a member of the innermost container: its comma and line break. */
static void next_member(cli_json *j)
{
    if (j->members[j->depth - 1]++ > 0) {
        cli_buf_append(&j->b, ",", 1);
    }
    newline(j, j->depth);
}

/* Before a value: nothing after a key; in an array, the member's start; at the top level,
 * only one value. Returns -1 (and marks the misuse) where no value may go. */
static int before_value(cli_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return 0;
    }
    if (j->depth == 0 ? j->b.len > 0 : j->open[j->depth - 1] != '[') {
        j->misused = 1;
        return -1;
    }
    if (j->depth > 0) {
        next_member(j);
    }
    return 0;
}

static void open_container(cli_json *j, char c)
{
    if (before_value(j) != 0) {
        return;
    }
    if (j->depth == CLI_JSON_MAX_DEPTH) {
        j->misused = 1;
        return;
    }
    cli_buf_append(&j->b, &c, 1);
    j->open[j->depth] = c;
    j->members[j->depth] = 0;
    j->depth++;
}

void cli_json_object(cli_json *j)
{
    open_container(j, '{');
}

void cli_json_array(cli_json *j)
{
    open_container(j, '[');
}

void cli_json_end(cli_json *j)
{
    if (j->depth == 0 || j->after_key) {
        j->misused = 1;
        return;
    }
    j->depth--;
    if (j->members[j->depth] > 0) {
        newline(j, j->depth);
    }
    cli_buf_append(&j->b, j->open[j->depth] == '{' ? "}" : "]", 1);
}

void cli_json_key(cli_json *j, const char *key)
{
    if (j->depth == 0 || j->after_key || j->open[j->depth - 1] != '{') {
        j->misused = 1;
        return;
    }
    next_member(j);
    cli_json_escape(&j->b, key, strlen(key));
    cli_buf_append(&j->b, ": ", 2);
    j->after_key = 1;
}

void cli_json_string(cli_json *j, const char *p, size_t len)
{
    if (before_value(j) == 0) {
        cli_json_escape(&j->b, p, len);
    }
}

void cli_json_str(cli_json *j, const char *s)
{
    if (s == NULL) {
        cli_json_null(j);
    } else {
        cli_json_string(j, s, strlen(s));
    }
}

void cli_json_bool(cli_json *j, int v)
{
    if (before_value(j) == 0) {
        cli_buf_puts(&j->b, v ? "true" : "false");
    }
}

void cli_json_uint(cli_json *j, unsigned long v)
{
    if (before_value(j) == 0) {
        cli_buf_printf(&j->b, "%lu", v);
    }
}

void cli_json_null(cli_json *j)
{
    if (before_value(j) == 0) {
        cli_buf_puts(&j->b, "null");
    }
}

int cli_json_write(cli_json *j, FILE *f)
{
    if (j->misused || j->b.failed || j->depth != 0 || j->after_key || j->b.len == 0) {
        return -1;
    }
    if (fwrite(j->b.ptr, 1, j->b.len, f) != j->b.len || fputc('\n', f) == EOF) {
        return -1;
    }
    return 0;
}

void cli_json_escape(cli_buf *b, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run;
    uint32_t cp;
    cli_buf_append(b, "\"", 1);
    while (i < len) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            cli_buf_append(b, "\\", 1);
            cli_buf_append(b, &s[i], 1);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            cli_buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            cli_buf_append(b, &s[i], 1);
            i++;
        } else if ((run = cli_utf8_decode(s + i, len - i, &cp)) > 0) {
            cli_buf_append(b, &s[i], run);
            i += run;
        } else {
            /* Not UTF-8: the byte as the code point of the same number, so the JSON stays
             * valid and the byte is still visible. */
            cli_buf_printf(b, "\\u%04x", c);
            i++;
        }
    }
    cli_buf_append(b, "\"", 1);
}
