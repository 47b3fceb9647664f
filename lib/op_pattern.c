/*
 * What an operation pattern can match (op_pattern.h).
 *
 * The checks walk the compiled tokens, so escapes (`\*`, `\{`, `\\`) are already literal bytes
 * and captures are wildcards: "a unit" below is one literal byte or one wildcard. Each check
 * mirrors one refusal or rewrite of the canonical HTTP operation (http.c): a pattern that
 * asks for what the canonical form never produces can never match, and in a deny rule that
 * fails open in silence.
 */
#include <stdio.h>
#include <string.h>

#include "op_pattern.h"

/* A unit: a literal byte (kind TOK_LIT, byte c) or a wildcard (its token's kind). */
typedef struct unit {
    mtlsauthz__tok_kind kind;
    unsigned char c;
    const mtlsauthz__tok *tok;
} unit;

/* A position in the unit sequence: token t, byte i of a literal token. */
typedef struct cursor {
    const mtlsauthz__pattern *pat;
    size_t t;
    size_t i;
} cursor;

static void cursor_init(cursor *cur, const mtlsauthz__pattern *pat)
{
    cur->pat = pat;
    cur->t = 0;
    cur->i = 0;
    /* An empty literal token (the compiler never makes one) would read as the end. */
    while (cur->t < pat->ntoks && pat->toks[cur->t].kind == MTLSAUTHZ__TOK_LIT &&
           pat->toks[cur->t].lit_len == 0) {
        cur->t++;
    }
}

/* The unit at the cursor; 0 at the end. */
static int peek(const cursor *cur, unit *u)
{
    const mtlsauthz__tok *tok;
    if (cur->t >= cur->pat->ntoks) {
        return 0;
    }
    tok = &cur->pat->toks[cur->t];
    u->kind = tok->kind;
    u->tok = tok;
    u->c = tok->kind == MTLSAUTHZ__TOK_LIT ? (unsigned char)tok->lit[cur->i] : 0;
    return 1;
}

static void advance(cursor *cur)
{
    const mtlsauthz__tok *tok = &cur->pat->toks[cur->t];
    if (tok->kind == MTLSAUTHZ__TOK_LIT && cur->i + 1 < tok->lit_len) {
        cur->i++;
        return;
    }
    cur->t++;
    cur->i = 0;
    while (cur->t < cur->pat->ntoks && cur->pat->toks[cur->t].kind == MTLSAUTHZ__TOK_LIT &&
           cur->pat->toks[cur->t].lit_len == 0) {
        cur->t++;
    }
}

/* The unit `ahead` units after the cursor; 0 past the end. */
static int peek_at(const cursor *cur, unsigned ahead, unit *u)
{
    cursor c = *cur;
    for (unsigned k = 0; k < ahead; k++) {
        if (c.t >= c.pat->ntoks) {
            return 0;
        }
        advance(&c);
    }
    return peek(&c, u);
}

static int is_lit(const unit *u, unsigned char c)
{
    return u->kind == MTLSAUTHZ__TOK_LIT && u->c == c;
}

static int is_space(const unit *u)
{
    return u->kind == MTLSAUTHZ__TOK_LIT && (u->c == ' ' || u->c == '\t' || u->c == '\n' ||
                                             u->c == '\r' || u->c == '\v' || u->c == '\f');
}

static int is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* A wildcard that may match a '/': `**`, and any kind this file does not know. */
static int crosses_segments(const unit *u)
{
    return u->kind != MTLSAUTHZ__TOK_LIT && u->kind != MTLSAUTHZ__TOK_STAR &&
           u->kind != MTLSAUTHZ__TOK_CAPTURE;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Appends to a fixed buffer, cutting at its end. */
typedef struct text {
    char *p;
    size_t cap;
    size_t len;
} text;

static void put(text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n && t->len + 1 < t->cap; i++) {
        t->p[t->len++] = s[i];
    }
    t->p[t->len] = '\0';
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Appends a unit as pattern source: escapes and captures written back, control and non-ASCII
 * bytes as \xNN so the message stays one line of printable text. */
static void put_unit(text *t, const mtlsauthz__pattern *pat, const unit *u, int upper)
{
    char tmp[80];
    switch (u->kind) {
    case MTLSAUTHZ__TOK_LIT:
        if (u->c == '*' || u->c == '{' || u->c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)u->c;
            put(t, tmp, 2);
        } else if (is_control(u->c) || u->c >= 0x80) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", u->c);
            puts_(t, tmp);
        } else {
            tmp[0] = (char)(upper && u->c >= 'a' && u->c <= 'z' ? u->c - ('a' - 'A') : u->c);
            put(t, tmp, 1);
        }
        return;
    case MTLSAUTHZ__TOK_STAR:
        puts_(t, "*");
        return;
    case MTLSAUTHZ__TOK_CAPTURE:
        snprintf(tmp, sizeof(tmp), "{%.64s}",
                 u->tok->cap < pat->ncaps ? pat->cap_names[u->tok->cap] : "");
        puts_(t, tmp);
        return;
    default:
        puts_(t, "**");
        return;
    }
}

/* Appends the units in [from, to), uppercased if `upper`, cut at 64 units. */
static void put_range(text *t, const cursor *from, const cursor *to, int upper)
{
    cursor c = *from;
    unit u;
    unsigned n = 0;
    while ((c.t < to->t || (c.t == to->t && c.i < to->i)) && peek(&c, &u)) {
        if (n++ == 64) {
            puts_(t, "...");
            return;
        }
        put_unit(t, c.pat, &u, upper);
        advance(&c);
    }
}

static const char *say(char *buf, const char *s)
{
    snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE, "%s", s);
    return buf;
}

/* The method: `*`, or an uppercase token in which `*` or a capture may stand for a part. */
static const char *check_method(const cursor *start, const cursor *end, char *buf)
{
    cursor c = *start;
    unit u;
    int lower = 0, all_lit = 1;
    size_t len = 0;
    char lit[8];
    text t = {buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE, 0};

    buf[0] = '\0';
    while ((c.t < end->t || (c.t == end->t && c.i < end->i)) && peek(&c, &u)) {
        if (crosses_segments(&u)) {
            return say(buf, "'**' in the method can match across the space into the path; "
                            "write * for any method");
        }
        if (u.kind != MTLSAUTHZ__TOK_LIT) {
            all_lit = 0;
        } else if (!mtlsauthz__is_tchar(u.c)) {
            puts_(&t, "the method '");
            put_range(&t, start, end, 0);
            puts_(&t, "' is not an HTTP token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~), "
                      "so it matches no request; write an uppercase method such as GET, or * "
                      "for any");
            return buf;
        } else {
            lower |= u.c >= 'a' && u.c <= 'z';
            if (len < sizeof(lit)) {
                lit[len] = (char)u.c;
            }
        }
        len++;
        advance(&c);
    }
    if (lower) {
        puts_(&t, "methods are case-sensitive, and routers serve the uppercase ones, so this "
                  "never matches the requests it means; write ");
        put_range(&t, start, end, 1);
        return buf;
    }
    if (all_lit && len == 4 && memcmp(lit, "HEAD", 4) == 0) {
        return say(buf, "HEAD is decided as GET, so this matches no request; write GET (see "
                        "docs/policy.md, \"HTTP operations\")");
    }
    if (all_lit && len > MTLSAUTHZ_HTTP_METHOD_MAX) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "the method is longer than the %d bytes a request may have, so it matches no "
                 "request",
                 MTLSAUTHZ_HTTP_METHOD_MAX);
        return buf;
    }
    return NULL;
}

/* A `%XX` escape at the cursor (the '%' and two hex digits are literal bytes). */
static const char *check_escape(const cursor *c, char *buf)
{
    unit hi, lo;
    int v;
    char esc[4];
    if (!peek_at(c, 1, &hi) || !peek_at(c, 2, &lo) || hi.kind != MTLSAUTHZ__TOK_LIT ||
        lo.kind != MTLSAUTHZ__TOK_LIT || hex_value(hi.c) < 0 || hex_value(lo.c) < 0) {
        return NULL;
    }
    v = hex_value(hi.c) * 16 + hex_value(lo.c);
    snprintf(esc, sizeof(esc), "%%%c%c", hi.c, lo.c);
    if (v == '/') {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%s' in the path: the canonical operation is percent-decoded and an encoded "
                 "'/' is refused (400), so this matches no request; write '/' to match a "
                 "segment boundary",
                 esc);
    } else if (is_control((unsigned char)v)) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%s' in the path: the canonical operation is percent-decoded and a control "
                 "byte is refused (400), so this matches no request",
                 esc);
    } else if (v >= 0x80) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%s' in the path: the canonical operation is percent-decoded once, so this "
                 "matches only a request for '%%25%c%c'; write the decoded UTF-8 text instead",
                 esc, hi.c, lo.c);
    } else {
        const char *fix_prefix = (v == '*' || v == '{' || v == '\\') ? "\\" : "";
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%s' in the path: the canonical operation is percent-decoded once, so this "
                 "matches only a request for '%%25%c%c'; write '%s%c'",
                 esc, hi.c, lo.c, fix_prefix, v);
    }
    return buf;
}

/* The path, from its first unit (a literal '/', or `**` under protocol http). */
static const char *check_path(const cursor *start, char *buf)
{
    cursor c = *start;
    unit u, last = {MTLSAUTHZ__TOK_LIT, 0, NULL};
    size_t nunits = 0, seg_units = 0, seg_dots = 0;
    int at_boundary = 0; /* the previous unit is a literal '/' */

    while (peek(&c, &u)) {
        if (u.kind == MTLSAUTHZ__TOK_LIT) {
            if (u.c == '/') {
                if (at_boundary) {
                    return say(buf, "empty path segment ('//'): the canonical operation refuses "
                                    "empty segments (400), so this matches no request; remove "
                                    "the extra '/'");
                }
                if (nunits > 0 && seg_units > 0 && seg_units == seg_dots && seg_dots <= 2) {
                    goto dot_segment;
                }
                at_boundary = 1;
                seg_units = 0;
                seg_dots = 0;
                last = u;
                nunits++;
                advance(&c);
                continue;
            }
            if (u.c == '?') {
                return say(buf, "'?' in the path: the query is removed before matching (a "
                                "'?' in a canonical path only comes from an encoded '%3F'), so "
                                "this never matches the requests it means; remove the query");
            }
            if (u.c == '#') {
                return say(buf, "'#' in the path: a fragment never reaches the server (a '#' in "
                                "a canonical path only comes from an encoded '%23'), so this "
                                "never matches the requests it means; remove it");
            }
            if (is_control(u.c)) {
                snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                         "control byte 0x%02x in the path: the canonical operation refuses "
                         "control bytes (400), so this matches no request",
                         u.c);
                return buf;
            }
            if (u.c == '%' && check_escape(&c, buf) != NULL) {
                return buf;
            }
            if (u.c == '.') {
                seg_dots++;
            }
        }
        at_boundary = 0;
        seg_units++;
        last = u;
        nunits++;
        advance(&c);
    }
    if (at_boundary && nunits > 1) {
        return say(buf, "trailing '/': the canonical operation removes it, so this matches no "
                        "request; remove it (the pattern then matches the path with or without "
                        "it)");
    }
    if (seg_units > 0 && seg_units == seg_dots && seg_dots <= 2) {
        goto dot_segment;
    }
    if (is_space(&last)) {
        return say(buf, "the path ends in whitespace, which a canonical path has only from an "
                        "encoded '%20', so this never matches the requests it means; remove it");
    }
    return NULL;

dot_segment:
    return say(buf, "'.' or '..' path segment: the canonical operation refuses dot segments "
                    "(400), so this matches no request; write the path the router sees");
}

const char *mtlsauthz__op_pattern_check(const mtlsauthz__pattern *pat, int http, char *buf)
{
    cursor c, method_start, method_end, path_start;
    unit u;
    size_t lead = 0, method = 0, gap = 0;
    int gap_is_one_space, path_is_starstar;
    const char *why;

    buf[0] = '\0';
    cursor_init(&c, pat);
    while (peek(&c, &u) && is_space(&u)) {
        lead++;
        advance(&c);
    }
    method_start = c;
    while (peek(&c, &u) && !is_space(&u) && !is_lit(&u, '/')) {
        method++;
        advance(&c);
    }
    method_end = c;
    gap_is_one_space = peek(&c, &u) && is_lit(&u, ' ');
    while (peek(&c, &u) && is_space(&u)) {
        gap++;
        advance(&c);
    }
    path_start = c;
    path_is_starstar = peek(&c, &u) && u.kind == MTLSAUTHZ__TOK_STARSTAR;

    if (method == 0 || gap == 0 || !peek(&c, &u) ||
        !(is_lit(&u, '/') || (http && path_is_starstar))) {
        /* Not the shape of an HTTP operation: a named operation, unless the policy says
         * every operation is HTTP. `**` alone matches every operation, HTTP ones included. */
        cursor first;
        if (!http) {
            return NULL;
        }
        cursor_init(&first, pat);
        if (pat->ntoks == 1 && pat->toks[0].kind == MTLSAUTHZ__TOK_STARSTAR) {
            return NULL;
        }
        if (peek(&first, &u) && is_lit(&u, '/')) {
            return say(buf, "a path without a method: with 'protocol: http' an operation is "
                            "'METHOD /path'; write '* /...' for every method, or name one "
                            "(GET, POST, ...)");
        }
        return say(buf, "not an HTTP operation pattern: with 'protocol: http' every operation "
                        "is 'METHOD /path' (for example 'GET /containers/*' or '* /host/**'), "
                        "or '**' for every operation");
    }
    if (lead > 0) {
        return say(buf, "leading whitespace: a canonical operation begins with its method, so "
                        "this matches no request; remove it");
    }
    why = check_method(&method_start, &method_end, buf);
    if (why != NULL) {
        return why;
    }
    if (gap != 1 || !gap_is_one_space) {
        return say(buf, "the method and the path must be separated by exactly one space, as in "
                        "the canonical operation, or this matches no request");
    }
    return check_path(&path_start, buf);
}

int mtlsauthz__op_pattern_is_bare_path(const mtlsauthz__pattern *pat)
{
    cursor c;
    unit u, first = {MTLSAUTHZ__TOK_LIT, 0, NULL};
    unsigned seg = 1;
    size_t name_units = 0; /* units of the current name: a service name component or the method */

    cursor_init(&c, pat);
    if (!peek(&c, &u) || !is_lit(&u, '/')) {
        return 0;
    }
    advance(&c);
    /* gRPC over HTTP/2: Path is "/" Service-Name "/" method-name, the service name qualified by
     * its package. By the protobuf style guide services and methods are UpperCamelCase, which
     * is what tells "/pkg.Service/Method" from "/host/mount". */
    for (;;) {
        int more = peek(&c, &u);
        int ends_segment = !more || is_lit(&u, '/');
        if (ends_segment || (seg == 1 && is_lit(&u, '.'))) {
            if (name_units == 0) {
                return 1; /* an empty segment or package component */
            }
            if (ends_segment && first.kind == MTLSAUTHZ__TOK_LIT &&
                !(first.c >= 'A' && first.c <= 'Z')) {
                return 1;
            }
            if (!more) {
                return seg != 2;
            }
            if (ends_segment && ++seg > 2) {
                return 1;
            }
            name_units = 0;
            advance(&c);
            continue;
        }
        if (crosses_segments(&u)) {
            return 1;
        }
        if (u.kind == MTLSAUTHZ__TOK_LIT &&
            !((u.c >= 'a' && u.c <= 'z') || (u.c >= 'A' && u.c <= 'Z') ||
              (u.c >= '0' && u.c <= '9') || u.c == '_')) {
            return 1;
        }
        if (name_units == 0) {
            first = u;
        }
        name_units++;
        advance(&c);
    }
}
