/* The CLI's JSON document writer (json.h). */
#include "json.h"

void cli_json_init(cli_json *j)
{
    memset(j, 0, sizeof(*j));
    mtlsauthz__buf_init(&j->b);
}

void cli_json_free(cli_json *j)
{
    mtlsauthz__buf_free(&j->b);
    cli_json_init(j);
}

static void newline(cli_json *j, unsigned depth)
{
    mtlsauthz__buf_append(&j->b, "\n", 1);
    for (unsigned i = 0; i < depth; i++) {
        mtlsauthz__buf_append(&j->b, "  ", 2);
    }
}

/* Starts a member of the innermost container: its comma and line break. */
static void next_member(cli_json *j)
{
    if (j->members[j->depth - 1]++ > 0) {
        mtlsauthz__buf_append(&j->b, ",", 1);
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
    mtlsauthz__buf_append(&j->b, &c, 1);
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
    mtlsauthz__buf_append(&j->b, j->open[j->depth] == '{' ? "}" : "]", 1);
}

void cli_json_key(cli_json *j, const char *key)
{
    if (j->depth == 0 || j->after_key || j->open[j->depth - 1] != '{') {
        j->misused = 1;
        return;
    }
    next_member(j);
    mtlsauthz__buf_json_string(&j->b, key, strlen(key));
    mtlsauthz__buf_append(&j->b, ": ", 2);
    j->after_key = 1;
}

void cli_json_string(cli_json *j, const char *p, size_t len)
{
    if (before_value(j) == 0) {
        mtlsauthz__buf_json_string(&j->b, p, len);
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
        mtlsauthz__buf_puts(&j->b, v ? "true" : "false");
    }
}

void cli_json_uint(cli_json *j, unsigned long v)
{
    if (before_value(j) == 0) {
        mtlsauthz__buf_printf(&j->b, "%lu", v);
    }
}

void cli_json_null(cli_json *j)
{
    if (before_value(j) == 0) {
        mtlsauthz__buf_puts(&j->b, "null");
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
