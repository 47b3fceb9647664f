/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an operation pattern can match (op_pattern.h).
 *
 * The checks read the compiled tokens, so escapes (`\*`, `\{`, `\\`) are already literal bytes
 * and captures are wildcards. The tokens are first laid out as "units", one per literal byte
 * (0..255) and one per wildcard (WILD + its index), so that each check is a plain loop over an
 * array; every policy load runs this once per operation pattern. Each check mirrors one
 * refusal or rewrite of the canonical HTTP operation (http.c): a pattern that asks for what
 * the canonical form never produces can never match, and in a deny rule that fails open in
 * silence.
 */
#include <stdio.h>
#include <string.h>

#include "op_pattern.h"

#define WILD 256u
#define MAX_UNITS (MTLSAUTHZ__PATTERN_MAX_LEN + MTLSAUTHZ__PATTERN_MAX_WILDCARDS)
#define MAX_WILD (MTLSAUTHZ__PATTERN_MAX_WILDCARDS + 1u)

typedef struct units {
    const mtlsauthz__pattern *pat;
    unsigned short u[MAX_UNITS];
    size_t n;
    const mtlsauthz__tok *wild[MAX_WILD]; /* unit WILD + i is wild[i] */
} units;

/* 0 if the pattern has more units than a compiled pattern can (it then is not checked). */
static int units_init(units *us, const mtlsauthz__pattern *pat)
{
    size_t nwild = 0;
    us->pat = pat;
    us->n = 0;
    for (size_t t = 0; t < pat->ntoks; t++) {
        const mtlsauthz__tok *tok = &pat->toks[t];
        if (tok->kind == MTLSAUTHZ__TOK_LIT) {
            if (tok->lit_len > MAX_UNITS - us->n) {
                return 0;
            }
            for (size_t i = 0; i < tok->lit_len; i++) {
                us->u[us->n++] = (unsigned char)tok->lit[i];
            }
            continue;
        }
        if (nwild == MAX_WILD || us->n == MAX_UNITS) {
            return 0;
        }
        us->wild[nwild] = tok;
        us->u[us->n++] = (unsigned short)(WILD + nwild++);
    }
    return 1;
}

static int is_wild(unsigned u)
{
    return u >= WILD;
}

static mtlsauthz__tok_kind wild_kind(const units *us, unsigned u)
{
    return us->wild[u - WILD]->kind;
}

/* A wildcard that may match a '/': `**`, and any kind this file does not know. */
static int crosses_segments(const units *us, unsigned u)
{
    mtlsauthz__tok_kind k;
    if (!is_wild(u)) {
        return 0;
    }
    k = wild_kind(us, u);
    return k != MTLSAUTHZ__TOK_STAR && k != MTLSAUTHZ__TOK_CAPTURE;
}

static int is_space(unsigned u)
{
    return u == ' ' || u == '\t' || u == '\n' || u == '\r' || u == '\v' || u == '\f';
}

static int is_control(unsigned u)
{
    return u < 0x20 || u == 0x7f;
}

static int hex_value(unsigned c)
{
    if (c >= '0' && c <= '9') {
        return (int)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (int)(c - 'a' + 10);
    }
    if (c >= 'A' && c <= 'F') {
        return (int)(c - 'A' + 10);
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

static void put_str(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Appends units [from, to) as pattern source, cut at 64 units: escapes and captures written
 * back, uppercased if `upper`, control and non-ASCII bytes as \xNN so the message stays one
 * line of printable text. */
static void put_units(text *t, const units *us, size_t from, size_t to, int upper)
{
    char tmp[80];
    for (size_t i = from; i < to; i++) {
        unsigned u = us->u[i];
        if (i - from == 64) {
            put_str(t, "...");
            return;
        }
        if (is_wild(u)) {
            const mtlsauthz__tok *tok = us->wild[u - WILD];
            if (tok->kind == MTLSAUTHZ__TOK_STAR) {
                put_str(t, "*");
            } else if (tok->kind == MTLSAUTHZ__TOK_CAPTURE) {
                snprintf(tmp, sizeof(tmp), "{%.64s}",
                         tok->cap < us->pat->ncaps ? us->pat->cap_names[tok->cap] : "");
                put_str(t, tmp);
            } else {
                put_str(t, "**");
            }
        } else if (u == '*' || u == '{' || u == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)u;
            put(t, tmp, 2);
        } else if (is_control(u) || u >= 0x80) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", u);
            put_str(t, tmp);
        } else {
            tmp[0] = (char)(upper && u >= 'a' && u <= 'z' ? u - ('a' - 'A') : u);
            put(t, tmp, 1);
        }
    }
}

static const char *say(char *buf, const char *s)
{
    snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE, "%s", s);
    return buf;
}

/* The method, units [from, to): `*`, or an uppercase token in which `*` or a capture may stand
 * for a part. */
static const char *check_method(const units *us, size_t from, size_t to, char *buf)
{
    text t = {buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE, 0};
    int lower = 0, all_lit = 1;

    buf[0] = '\0';
    for (size_t i = from; i < to; i++) {
        unsigned u = us->u[i];
        if (crosses_segments(us, u)) {
            return say(buf, "'**' in the method can match across the space into the path; "
                            "write * for any method");
        }
        if (is_wild(u)) {
            all_lit = 0;
        } else if (!mtlsauthz__is_tchar((unsigned char)u)) {
            put_str(&t, "the method '");
            put_units(&t, us, from, to, 0);
            put_str(&t, "' is not an HTTP token (RFC 9110: letters, digits and "
                        "!#$%&'*+-.^_`|~), so it matches no request; write an uppercase method "
                        "such as GET, or * for any");
            return buf;
        } else if (u >= 'a' && u <= 'z') {
            lower = 1;
        }
    }
    if (lower) {
        put_str(&t, "methods are case-sensitive, and routers serve the uppercase ones, so this "
                    "never matches the requests it means; write ");
        put_units(&t, us, from, to, 1);
        return buf;
    }
    if (all_lit && to - from == 4 && us->u[from] == 'H' && us->u[from + 1] == 'E' &&
        us->u[from + 2] == 'A' && us->u[from + 3] == 'D') {
        return say(buf, "HEAD is decided as GET, so this matches no request; write GET (see "
                        "docs/policy.md, \"HTTP operations\")");
    }
    if (all_lit && to - from > MTLSAUTHZ_HTTP_METHOD_MAX) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "the method is longer than the %d bytes a request may have, so it matches no "
                 "request",
                 MTLSAUTHZ_HTTP_METHOD_MAX);
        return buf;
    }
    return NULL;
}

/* A `%XX` escape at unit i (the '%' and two hex digits are literal bytes), or NULL. */
static const char *check_escape(const units *us, size_t i, char *buf)
{
    unsigned hi, lo;
    int v;
    if (us->n - i < 3 || is_wild(us->u[i + 1]) || is_wild(us->u[i + 2]) ||
        hex_value(us->u[i + 1]) < 0 || hex_value(us->u[i + 2]) < 0) {
        return NULL;
    }
    hi = us->u[i + 1];
    lo = us->u[i + 2];
    v = hex_value(hi) * 16 + hex_value(lo);
    if (v == '/') {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%%%c%c' in the path: the canonical operation is percent-decoded and an "
                 "encoded '/' is refused (400), so this matches no request; write '/' to match "
                 "a segment boundary",
                 hi, lo);
    } else if (is_control((unsigned)v)) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%%%c%c' in the path: the canonical operation is percent-decoded and a "
                 "control byte is refused (400), so this matches no request",
                 hi, lo);
    } else if (v >= 0x80) {
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%%%c%c' in the path: the canonical operation is percent-decoded once, so "
                 "this matches only a request for '%%25%c%c'; write the decoded UTF-8 text "
                 "instead",
                 hi, lo, hi, lo);
    } else {
        /* The decoded byte as pattern source: `*`, `{` and `\` need their escape. */
        const char *esc = (v == '*' || v == '{' || v == '\\') ? "\\" : "";
        snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                 "'%%%c%c' in the path: the canonical operation is percent-decoded once, so "
                 "this matches only a request for '%%25%c%c'; write '%s%c'",
                 hi, lo, hi, lo, esc, v);
    }
    return buf;
}

static const char *dot_segment(char *buf)
{
    return say(buf, "'.' or '..' path segment: the canonical operation refuses dot segments "
                    "(400), so this matches no request; write the path the router sees");
}

/* The path, units [from, n): it starts with a literal '/', or with `**` under protocol http. */
static const char *check_path(const units *us, size_t from, char *buf)
{
    size_t seg_units = 0, seg_dots = 0; /* units of the current segment, and its literal '.'s */
    int at_boundary = 0;                /* the previous unit is a literal '/' */

    for (size_t i = from; i < us->n; i++) {
        unsigned u = us->u[i];
        /* Most path bytes are letters: from '@' up, only DEL and wildcards need a look. */
        if (u >= '@' && u != 0x7f && u < WILD) {
            seg_units++;
            at_boundary = 0;
            continue;
        }
        if (u == '/') {
            if (at_boundary) {
                return say(buf, "empty path segment ('//'): the canonical operation refuses "
                                "empty segments (400), so this matches no request; remove the "
                                "extra '/'");
            }
            if (seg_units > 0 && seg_units == seg_dots && seg_dots <= 2) {
                return dot_segment(buf);
            }
            at_boundary = 1;
            seg_units = 0;
            seg_dots = 0;
            continue;
        }
        if (u == '?') {
            return say(buf, "'?' in the path: the query is removed before matching (a '?' in a "
                            "canonical path only comes from an encoded '%3F'), so this never "
                            "matches the requests it means; remove the query");
        }
        if (u == '#') {
            return say(buf, "'#' in the path: a fragment never reaches the server (a '#' in a "
                            "canonical path only comes from an encoded '%23'), so this never "
                            "matches the requests it means; remove it");
        }
        if (is_control(u)) {
            snprintf(buf, MTLSAUTHZ__OP_PATTERN_WHY_SIZE,
                     "control byte 0x%02x in the path: the canonical operation refuses control "
                     "bytes (400), so this matches no request",
                     u);
            return buf;
        }
        if (u == '%' && check_escape(us, i, buf) != NULL) {
            return buf;
        }
        seg_dots += u == '.';
        seg_units++;
        at_boundary = 0;
    }
    if (at_boundary && us->n - from > 1) {
        return say(buf, "trailing '/': the canonical operation removes it, so this matches no "
                        "request; remove it (the pattern then matches the path with or without "
                        "it)");
    }
    if (seg_units > 0 && seg_units == seg_dots && seg_dots <= 2) {
        return dot_segment(buf);
    }
    if (us->n > from && is_space(us->u[us->n - 1])) {
        return say(buf, "the path ends in whitespace, which a canonical path has only from an "
                        "encoded '%20', so this never matches the requests it means; remove it");
    }
    return NULL;
}

const char *mtlsauthz__op_pattern_check(const mtlsauthz__pattern *pat, int http, char *buf)
{
    units us;
    size_t i = 0, lead, method_start, method_end, gap_end;
    int shaped;

    buf[0] = '\0';
    if (!units_init(&us, pat)) {
        return say(buf, "the pattern is too long to check");
    }
    while (i < us.n && is_space(us.u[i])) {
        i++;
    }
    lead = i;
    method_start = i;
    while (i < us.n && !is_space(us.u[i]) && us.u[i] != '/') {
        i++;
    }
    method_end = i;
    while (i < us.n && is_space(us.u[i])) {
        i++;
    }
    gap_end = i;
    shaped = method_end > method_start && gap_end > method_end && i < us.n &&
             (us.u[i] == '/' ||
              (http && is_wild(us.u[i]) && wild_kind(&us, us.u[i]) == MTLSAUTHZ__TOK_STARSTAR));

    if (!shaped) {
        /* Not the shape of an HTTP operation: a named operation, unless the policy says every
         * operation is HTTP. `**` alone matches every operation, HTTP ones included. */
        if (!http) {
            return NULL;
        }
        if (us.n == 1 && is_wild(us.u[0]) && wild_kind(&us, us.u[0]) == MTLSAUTHZ__TOK_STARSTAR) {
            return NULL;
        }
        if (us.n > 0 && us.u[0] == '/') {
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
    if (check_method(&us, method_start, method_end, buf) != NULL) {
        return buf;
    }
    if (gap_end - method_end != 1 || us.u[method_end] != ' ') {
        return say(buf, "the method and the path must be separated by exactly one space, as in "
                        "the canonical operation, or this matches no request");
    }
    return check_path(&us, gap_end, buf);
}

int mtlsauthz__op_pattern_is_bare_path(const mtlsauthz__pattern *pat)
{
    units us;
    unsigned seg = 1, first = 0;
    size_t name_units = 0; /* units of the current name: a service name component or the method */

    if (!units_init(&us, pat) || us.n == 0 || us.u[0] != '/') {
        return 0;
    }
    /* gRPC over HTTP/2: Path is "/" Service-Name "/" method-name, the service name qualified by
     * its package. By the protobuf style guide services and methods are UpperCamelCase, which
     * is what tells "/pkg.Service/Method" from "/host/mount". */
    for (size_t i = 1;; i++) {
        int more = i < us.n;
        unsigned u = more ? us.u[i] : 0;
        int ends_segment = !more || u == '/';
        if (ends_segment || (seg == 1 && u == '.')) {
            if (name_units == 0) {
                return 1; /* an empty segment or package component */
            }
            if (ends_segment && !is_wild(first) && !(first >= 'A' && first <= 'Z')) {
                return 1;
            }
            if (!more) {
                return seg != 2;
            }
            if (ends_segment && ++seg > 2) {
                return 1;
            }
            name_units = 0;
            continue;
        }
        if (crosses_segments(&us, u)) {
            return 1;
        }
        if (!is_wild(u) && !((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                             (u >= '0' && u <= '9') || u == '_')) {
            return 1;
        }
        if (name_units++ == 0) {
            first = u;
        }
    }
}
