/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Patterns: compile, match, and the two lint relations (may_overlap, covers).
 * Semantics and limits are in pattern.h and docs/policy.md ("Patterns").
 *
 * Matching (no allocation, ever):
 *
 *   - A value shorter than min_len cannot match; a literal pattern is a length check and a
 *     memcmp. A leading and a trailing literal are checked in place (anchored prefix and
 *     suffix), and what is left between them is matched only if the pattern has wildcards left.
 *     A pattern with one wildcard ("prefix" then a trailing wildcard, `*.example.com`) is then
 *     decided by a length check and at most one memchr.
 *
 *   - Otherwise a dynamic program over token boundaries runs over one bitset of value
 *     positions on the stack: bit p of row i says "tokens 0..i-1 can match value[0..p)". Each
 *     token rewrites the row in place: a literal shifts each set bit by its length where the
 *     bytes agree; `**` sets every position after the first set bit; `*` sets each position
 *     reachable from a set bit without crossing a separator. This costs O(len) bit steps per
 *     token plus, per literal, at most one memcmp per set bit: O(len * ntoks) steps and memcmp
 *     calls, so O(len * pattern bytes) byte comparisons at the very worst, however the
 *     wildcards nest. There is no backtracking, so no input makes it exponential. The row holds
 * DP_MAX_LEN + 1 bits (8 KiB of stack); a longer value with a pattern that needs the DP gives
 * MTLSAUTHZ_ELIMIT, which the engine turns into a deny.
 *
 *   - Wildcard classes (pattern.h). The simple ones (any byte; `*` stops at one separator
 *     byte, `**` at none) take the paths above unchanged. The others (uri: several stop bytes
 *     and a `**` that stops too; dn: escapes are units) take the same steps with a general
 *     wildcard step that walks the value unit by unit, reading the stop table: `*` and `**`
 *     both become "each unit boundary reachable from a set bit over units the wildcard takes".
 *     Every set bit of the row is a unit boundary of the value: bit 0 is, a wildcard sets only
 *     boundaries, and a literal that starts on one ends on one when a wildcard follows, since
 *     compile refuses a dn literal that ends inside an escape there. The unit that ends a
 *     wildcard may depend on the bytes after it (`\4` then `1` is the one unit `\41`), so the
 *     general step reads up to the end of the whole value, not of the window left between the
 *     anchored literals: a wildcard can only end where a unit of the whole value ends.
 *
 *   - Captures that matter (a callback wants their values, `bound` forces them, or one name
 *     appears twice) are matched by backtracking over the tokens up to the last such capture,
 *     with the dynamic program deciding the rest. Every step and every DP run is charged to the
 *     budget, so the worst case is bounded by the budget and ends in MTLSAUTHZ_ELIMIT.
 *     Captures that do not matter match like `*`, through the DP.
 *
 * may_overlap and covers view each pattern as a chain of "elements": one per literal byte, one
 * per wildcard. The NFA of a pattern has a state per element boundary; element e moves state e
 * to e+1, and state e+1 loops on the wildcard's bytes when element e is a wildcard (a wildcard
 * is one byte forward, then any number of loop steps). Adjacent wildcards are refused by
 * compile, so no state has two loops. Since every edge goes forward or loops, reachability in
 * a product of two such NFAs is a DP over (state of a, state of b) in row order, O(Ea * Eb)
 * with two bitset rows on the stack.
 *
 *   - may_overlap: reachability in the product automaton (both consume the same byte). Exact
 *     for the patterns' languages with captures read as `*`; a repeated capture name only
 *     shrinks a language, so the answer stays conservative (1 when unsure).
 *
 *   - covers(wide, narrow): a simulation in which each element of `narrow` is absorbed whole by
 *     one element of `wide`: a literal byte by the same byte, or by a wildcard that takes that
 *     byte; a narrow wildcard only by a wide wildcard that takes every byte the narrow one
 *     takes. A wide wildcard may absorb a run of narrow elements (its loop). Every alignment
 *     found is a proof, so a 1 is always right; a 0 may be a miss (e.g. when covering needs a
 *     narrow wildcard split across wide elements). A wide pattern that repeats a capture name
 *     matches less than its `*` reading, so it is only said to cover a narrow pattern identical
 *     to it.
 *
 *   - Escape units (dn) are not bytes, and the byte view above only bounds them from outside.
 *     may_overlap lets such a wildcard take any byte (a superset: 1 when unsure). covers needs
 *     every narrow element boundary to be a unit boundary of the value, so that the slices a
 *     wide wildcard absorbs are whole units: that holds when the narrow pattern has no literal
 *     backslash (each literal byte is then a unit of its own, and narrow wildcards take whole
 *     units). With one, a wide `*` could absorb the `\` of an escaped `,` and a wide literal
 *     `,` align with the rest of it, which the matcher never allows; covers then answers 0
 *     unless the two patterns are identical. Classes that differ are compared byte by byte
 *     only when neither has escapes.
 */
#include <string.h>

#include "pattern.h"

#define MAX_TOKS (2u * MTLSAUTHZ__PATTERN_MAX_WILDCARDS + 1u)
#define MAX_CAP_NAME 64u
#define DEFAULT_BUDGET 100000ul

/* The dynamic program's row: one bit per value position 0..len. */
#define DP_MAX_LEN 65536u
#define DP_WORDS (DP_MAX_LEN / 64u + 1u)

/* The DP's 8 KiB row must stay out of the recursive search's frames. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Lint elements: 0..255 a literal byte, ELEM_STAR a `*` (or capture), ELEM_ANY a `**`. */
#define ELEM_STAR 256u
#define ELEM_ANY 257u
#define ELEM_MAX (MTLSAUTHZ__PATTERN_MAX_LEN + MTLSAUTHZ__PATTERN_MAX_WILDCARDS)
#define ELEM_WORDS ((ELEM_MAX + 1u) / 64u + 1u)

/* ---- wildcard classes ---- */

/* Flags in a class's stop table: the byte, as a unit of its own, ends a `*` (or capture) or a
 * `**` there. */
#define STOP_STAR 1u
#define STOP_ANY 2u

struct wclass {
    char sep;              /* the index's segment byte; for simple classes the only stop */
    unsigned char simple;  /* `*` stops at `sep` alone (or nowhere), `**` nowhere, no escapes */
    unsigned char escapes; /* a backslash escape is one unit (RFC 4514 §2.4) */
    unsigned char stop[256];
};

static const struct wclass wclasses[MTLSAUTHZ__WC_COUNT] = {
    [MTLSAUTHZ__WC_ANY] = {0, 1, 0, {0}},
    [MTLSAUTHZ__WC_DOT] = {'.', 1, 0, {['.'] = STOP_STAR}},
    [MTLSAUTHZ__WC_SLASH] = {'/', 1, 0, {['/'] = STOP_STAR}},
    /* RFC 3986 §3: '/' ends a path segment, ':' the host before a port, '?' the path before
     * the query, '#' everything before the fragment, '@' the userinfo before the host. `*` stays
     * inside one of these pieces; `**` may cross segments (and a port) but never leaves the
     * authority and path for the query or fragment, nor the userinfo for the host. */
    [MTLSAUTHZ__WC_URI] = {'/',
                           0,
                           0,
                           {['/'] = STOP_STAR,
                            [':'] = STOP_STAR,
                            ['?'] = STOP_STAR | STOP_ANY,
                            ['#'] = STOP_STAR | STOP_ANY,
                            ['@'] = STOP_STAR | STOP_ANY}},
    /* The RFC 2253 / RFC 4514 string (lib/der.c): an unescaped ',' separates RDNs and an
     * unescaped '+' the attributes of a multi-valued RDN. An escaped one is a character of a
     * value, and its escape is one unit, so `*` takes it. */
    [MTLSAUTHZ__WC_DN] = {0, 0, 1, {[','] = STOP_STAR, ['+'] = STOP_STAR}},
};

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* The length of the unit at v[p], p < lim, reading nothing at or past lim: one byte, or under
 * an escaping class `\` and two hex digits (3) or `\` and any other byte (2), as RFC 4514
 * §2.4 reads a value. A `\` that ends the value is a unit of 1 that no wildcard takes. */
static size_t unit_len(const struct wclass *c, const char *v, size_t p, size_t lim)
{
    if (!c->escapes || v[p] != '\\') {
        return 1;
    }
    if (lim - p >= 3 && is_hex((unsigned char)v[p + 1]) && is_hex((unsigned char)v[p + 2])) {
        return 3;
    }
    return lim - p >= 2 ? 2 : 1;
}

/* Whether a wildcard with stop flag `stop` takes the unit v[p..p+u): an escape always (an
 * escaped ',' is a character of a value), a lone `\` never, another byte unless the class
 * stops the wildcard there. */
static int unit_ok(const struct wclass *c, unsigned stop, const char *v, size_t p, size_t u)
{
    unsigned char b = (unsigned char)v[p];
    if (u > 1) {
        return 1;
    }
    if (c->escapes && b == '\\') {
        return 0;
    }
    return (c->stop[b] & stop) == 0;
}

static unsigned tok_stop(mtlsauthz__tok_kind kind)
{
    return kind == MTLSAUTHZ__TOK_STARSTAR ? STOP_ANY : STOP_STAR;
}

/* v[from..to) is one match of a wildcard with stop flag `stop` starting at the unit boundary
 * `from`: non-empty, and whole units (v[0..lim) read for the last one) that it takes. */
static int span_ok(const struct wclass *c, unsigned stop, const char *v, size_t from, size_t to,
                   size_t lim)
{
    size_t p = from;
    if (to <= from) {
        return 0;
    }
    if (c->simple) {
        return c->sep == 0 || stop != STOP_STAR || memchr(v + from, c->sep, to - from) == NULL;
    }
    while (p < to) {
        size_t u = unit_len(c, v, p, lim);
        if (!unit_ok(c, stop, v, p, u)) {
            return 0;
        }
        p += u;
    }
    return p == to;
}

int mtlsauthz__pattern_wild_span(mtlsauthz__wclass wclass, mtlsauthz__tok_kind kind, const char *v,
                                 size_t from, size_t to, size_t lim)
{
    if ((unsigned)wclass >= MTLSAUTHZ__WC_COUNT || kind == MTLSAUTHZ__TOK_LIT || to > lim) {
        return 0;
    }
    return span_ok(&wclasses[wclass], tok_stop(kind), v, from, to, lim);
}

char mtlsauthz__wclass_sep(mtlsauthz__wclass wclass)
{
    return (unsigned)wclass < MTLSAUTHZ__WC_COUNT ? wclasses[wclass].sep : 0;
}

/* ---- compile ---- */

/* Writes `src` as a C-style quoted string body, non-printables as \xHH, cut with "..." so the
 * whole error message fits in mtlsauthz_error. */
static void quote(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char tmp[4];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            tmp[n++] = '\\';
            tmp[n++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[n++] = (char)c;
        } else {
            tmp[n++] = '\\';
            tmp[n++] = 'x';
            tmp[n++] = hex[c >> 4];
            tmp[n++] = hex[c & 0xf];
        }
        /* Keep room for "..." and the NUL. */
        if (o + n + 4 > cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(dst + o, tmp, n);
        o += n;
    }
    dst[o] = '\0';
}

static int compile_error(mtlsauthz_error *err, int code, const char *src, size_t len, size_t offset,
                         const char *what)
{
    char q[200];
    quote(q, sizeof(q), src, len);
    return mtlsauthz__error_set(err, code, "pattern \"%s\": %s at byte %zu", q, what, offset);
}

static int is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/*
 * Where folding starts, as a source offset (len + 1: nowhere).
 *
 * FOLD_AFTER_LAST_AT folds the literal bytes after the pattern's last '@' ('@' cannot be
 * escaped, so it is always a literal byte). The engine folds a value after the value's last
 * '@'. The two agree whenever the value's last '@' is the one the pattern's last '@' matched.
 * They differ only when a wildcard after the pattern's '@' swallows another '@' of the value
 * (a quoted local part, RFC 5321 §4.1.2): the folded literals between then face unfolded
 * local-part bytes and match only lowercase ones. We accept that rare edge rather than guess.
 * A pattern without '@' has no domain to fold; compile refuses uppercase literals in it.
 */
static size_t fold_start(const char *src, size_t len, mtlsauthz__fold fold)
{
    size_t i;
    if (fold == MTLSAUTHZ__FOLD_ALL) {
        return 0;
    }
    if (fold == MTLSAUTHZ__FOLD_AFTER_LAST_AT) {
        for (i = len; i > 0; i--) {
            if (src[i - 1] == '@') {
                return i;
            }
        }
    }
    return len + 1;
}

/*
 * Under an escaping class, 1 if the literal `lit` (`n` bytes, starting on a unit boundary)
 * ends inside a backslash escape: a lone `\`, or, when a wildcard follows, `\` and one hex
 * digit, which the wildcard's first byte could complete to `\XX`. A wildcard never starts inside
 * a unit, so such a pattern could never match (or, at the end, only a value the DN formatter
 * never prints); *at is the offset in `lit` of that `\`.
 */
static int ends_in_escape(const char *lit, size_t n, int wild_follows, size_t *at)
{
    size_t p = 0;
    while (p < n) {
        if (lit[p] != '\\') {
            p++;
            continue;
        }
        if (n - p >= 3 && is_hex((unsigned char)lit[p + 1]) && is_hex((unsigned char)lit[p + 2])) {
            p += 3;
            continue;
        }
        if (n - p == 1 || (n - p == 2 && wild_follows && is_hex((unsigned char)lit[p + 1]))) {
            *at = p;
            return 1;
        }
        p += 2;
    }
    return 0;
}

/* The compile error for a dn literal text[lit_start..tlen) that ends inside an escape, if it
 * does; `end` is the source offset just past the literal. Each byte of the text after that
 * `\` came from one source byte (a hex digit is never escaped), and the `\` from two. */
static int check_escape_cut(const struct wclass *c, const char *text, size_t lit_start, size_t tlen,
                            int wild_follows, const char *src, size_t len, size_t end,
                            mtlsauthz_error *err)
{
    size_t at;
    if (!c->escapes || !ends_in_escape(text + lit_start, tlen - lit_start, wild_follows, &at)) {
        return 0;
    }
    return compile_error(err, MTLSAUTHZ_EPOLICY, src, len, end - (tlen - lit_start - at) - 1u,
                         wild_follows ? "a DN escape cut short by a wildcard (a wildcard takes "
                                        "whole escapes; write the escape out in full, or let the "
                                        "wildcard take it)"
                                      : "a DN escape with nothing after it (in a DN a backslash "
                                        "escapes the character after it)");
}

int mtlsauthz__pattern_compile(mtlsauthz__pattern *out, const char *src, size_t len,
                               mtlsauthz__wclass wclass, mtlsauthz__fold fold, mtlsauthz_error *err)
{
    mtlsauthz__tok toks[MAX_TOKS];
    size_t ntoks = 0;
    size_t nwild = 0;
    size_t lit_start = 0; /* offset in text where the current literal run began */
    int in_lit = 0;
    int last_was_wild = 0;
    size_t fold_from;
    size_t i = 0;
    char *text = NULL;
    size_t tlen = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "pattern: no output");
    }
    memset(out, 0, sizeof(*out));
    if (src == NULL && len > 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "pattern: NULL source");
    }
    if (fold != MTLSAUTHZ__FOLD_NONE && fold != MTLSAUTHZ__FOLD_ALL &&
        fold != MTLSAUTHZ__FOLD_AFTER_LAST_AT) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "pattern: unknown fold mode");
    }
    if ((unsigned)wclass >= MTLSAUTHZ__WC_COUNT) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "pattern: unknown wildcard class");
    }
    if (len == 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "empty pattern");
    }
    if (len > MTLSAUTHZ__PATTERN_MAX_LEN) {
        char q[200];
        quote(q, sizeof(q), src, len);
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "pattern \"%s\": %zu bytes, more than the %u allowed", q, len,
                                    MTLSAUTHZ__PATTERN_MAX_LEN);
    }
    fold_from = fold_start(src, len, fold);

    text = mtlsauthz__malloc(len + 1);
    if (text == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory compiling a pattern");
        goto fail;
    }

    while (i < len) {
        unsigned char c = (unsigned char)src[i];
        mtlsauthz__tok_kind kind;
        unsigned cap_idx = 0;
        size_t start = i;

        if (c == '\0') {
            rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i, "NUL byte");
            goto fail;
        }
        if (c == '\\') {
            if (i + 1 >= len) {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i,
                                   "lone backslash at the end (escape it as \\\\)");
                goto fail;
            }
            c = (unsigned char)src[i + 1];
            if (c != '*' && c != '{' && c != '\\') {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i,
                                   "unknown escape (only \\*, \\{ and \\\\ are allowed)");
                goto fail;
            }
            i += 2;
            goto literal;
        }
        if (c != '*' && c != '{') {
            i++;
            goto literal;
        }

        /* A wildcard. */
        if (c == '*') {
            if (i + 2 < len && src[i + 1] == '*' && src[i + 2] == '*') {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i,
                                   "'***' is ambiguous (use * or **)");
                goto fail;
            }
            if (i + 1 < len && src[i + 1] == '*') {
                kind = MTLSAUTHZ__TOK_STARSTAR;
                i += 2;
            } else {
                kind = MTLSAUTHZ__TOK_STAR;
                i += 1;
            }
        } else {
            size_t n0 = i + 1;
            size_t n1 = n0;
            unsigned k;
            while (n1 < len && src[n1] != '}') {
                n1++;
            }
            if (n1 >= len) {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i,
                                   "unterminated '{' (escape a literal one as \\{)");
                goto fail;
            }
            if (n1 == n0) {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i, "empty capture name");
                goto fail;
            }
            if (n1 - n0 > MAX_CAP_NAME) {
                rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, i,
                                   "capture name longer than 64 bytes");
                goto fail;
            }
            for (k = 0; n0 + k < n1; k++) {
                unsigned char nc = (unsigned char)src[n0 + k];
                if (k == 0 ? !is_name_start(nc) : !is_name_char(nc)) {
                    rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, n0 + k,
                                       "invalid character in capture name (names are "
                                       "[A-Za-z_][A-Za-z0-9_]*)");
                    goto fail;
                }
            }
            for (k = 0; k < out->ncaps; k++) {
                if (strlen(out->cap_names[k]) == n1 - n0 &&
                    memcmp(out->cap_names[k], src + n0, n1 - n0) == 0) {
                    break;
                }
            }
            if (k == out->ncaps) {
                if (out->ncaps >= MTLSAUTHZ__PATTERN_MAX_CAPTURES) {
                    rc = compile_error(err, MTLSAUTHZ_ELIMIT, src, len, i,
                                       "more than 8 distinct capture names");
                    goto fail;
                }
                /* Most patterns have no capture: the names array comes with the first. */
                if (out->cap_names == NULL) {
                    out->cap_names =
                        mtlsauthz__calloc(MTLSAUTHZ__PATTERN_MAX_CAPTURES, sizeof(char *));
                    if (out->cap_names == NULL) {
                        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM,
                                                  "out of memory compiling a pattern");
                        goto fail;
                    }
                }
                out->cap_names[k] = mtlsauthz__memdup0(src + n0, n1 - n0);
                if (out->cap_names[k] == NULL) {
                    rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM,
                                              "out of memory compiling a pattern");
                    goto fail;
                }
                out->ncaps++;
            }
            kind = MTLSAUTHZ__TOK_CAPTURE;
            cap_idx = k;
            i = n1 + 1;
        }
        if (last_was_wild) {
            rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, start,
                               "wildcard right after another wildcard (ambiguous; put a literal "
                               "between them)");
            goto fail;
        }
        if (nwild >= MTLSAUTHZ__PATTERN_MAX_WILDCARDS) {
            rc = compile_error(err, MTLSAUTHZ_ELIMIT, src, len, start, "more than 16 wildcards");
            goto fail;
        }
        if (in_lit) {
            rc =
                check_escape_cut(&wclasses[wclass], text, lit_start, tlen, 1, src, len, start, err);
            if (rc < 0) {
                goto fail;
            }
            toks[ntoks].kind = MTLSAUTHZ__TOK_LIT;
            toks[ntoks].cap = 0;
            toks[ntoks].lit = text + lit_start;
            toks[ntoks].lit_len = tlen - lit_start;
            ntoks++;
            in_lit = 0;
        }
        toks[ntoks].kind = kind;
        toks[ntoks].cap = cap_idx;
        toks[ntoks].lit = NULL;
        toks[ntoks].lit_len = 0;
        ntoks++;
        nwild++;
        last_was_wild = 1;
        continue;

    literal:
        if (fold == MTLSAUTHZ__FOLD_AFTER_LAST_AT && fold_from > len && c >= 'A' && c <= 'Z') {
            /* Without an '@' nothing says which literals are the case-insensitive domain;
             * refuse uppercase rather than guess, so a deny pattern cannot silently miss. */
            rc = compile_error(err, MTLSAUTHZ_EPOLICY, src, len, start,
                               "uppercase letter in an email pattern without '@' (the domain "
                               "compares case-insensitively; write it in lowercase)");
            goto fail;
        }
        if (!in_lit) {
            in_lit = 1;
            lit_start = tlen;
        }
        /* `start` is the source offset of this byte (or of its escape). */
        text[tlen++] = (char)(start >= fold_from ? mtlsauthz__lower(c) : c);
        last_was_wild = 0;
    }
    if (in_lit) {
        rc = check_escape_cut(&wclasses[wclass], text, lit_start, tlen, 0, src, len, len, err);
        if (rc < 0) {
            goto fail;
        }
        toks[ntoks].kind = MTLSAUTHZ__TOK_LIT;
        toks[ntoks].cap = 0;
        toks[ntoks].lit = text + lit_start;
        toks[ntoks].lit_len = tlen - lit_start;
        ntoks++;
    }
    text[tlen] = '\0';

    out->toks = mtlsauthz__calloc(ntoks, sizeof(*out->toks));
    if (out->toks == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory compiling a pattern");
        goto fail;
    }
    memcpy(out->toks, toks, ntoks * sizeof(*out->toks));
    out->ntoks = ntoks;
    out->text = text;
    out->text_len = tlen;
    out->wclass = (unsigned char)wclass;
    out->is_literal = nwild == 0;
    out->min_len = tlen + nwild;
    return 0;

fail:
    mtlsauthz__free(text);
    mtlsauthz__pattern_clear(out);
    return rc;
}

void mtlsauthz__pattern_clear(mtlsauthz__pattern *p)
{
    unsigned i;
    if (p == NULL) {
        return;
    }
    for (i = 0; p->cap_names != NULL && i < p->ncaps; i++) {
        mtlsauthz__free(p->cap_names[i]);
    }
    mtlsauthz__free(p->cap_names);
    mtlsauthz__free(p->toks);
    mtlsauthz__free(p->text);
    memset(p, 0, sizeof(*p));
}

/* ---- matching: the dynamic program ---- */

#define BIT_GET(r, i) (((r)[(i) >> 6] >> ((i)&63u)) & 1u)
#define BIT_SET(r, i) ((r)[(i) >> 6] |= (uint64_t)1 << ((i)&63u))
#define BIT_CLR(r, i) ((r)[(i) >> 6] &= ~((uint64_t)1 << ((i)&63u)))

/*
 * The general wildcard step of dp_match(): each unit boundary p reachable from a set bit over
 * units the wildcard takes. Set bits are unit boundaries in [lo, hi]; units are read up to lim
 * (a unit that runs past n ends no match). Updates *nlo and *nhi as dp_match() does.
 */
static void dp_wild_units(uint64_t *row, const struct wclass *c, unsigned stop, const char *v,
                          size_t n, size_t lim, size_t lo, size_t hi, size_t *nlo, size_t *nhi)
{
    int carry = 0;
    size_t p = lo;
    for (;;) {
        int old = (int)BIT_GET(row, p);
        size_t u;
        if (carry) {
            BIT_SET(row, p);
            if (*nlo == SIZE_MAX) {
                *nlo = p;
            }
            *nhi = p;
        } else {
            BIT_CLR(row, p);
            if (p > hi) {
                return;
            }
        }
        if (p >= n) {
            return;
        }
        u = unit_len(c, v, p, lim);
        carry = (carry || old) && unit_ok(c, stop, v, p, u);
        p += u;
        if (p > n) {
            return;
        }
    }
}

/*
 * Anchored match of tokens t[0..k) against v[0..n), captures read as `*`; v[0..lim) is readable
 * (lim >= n) for the units of a general class. Returns 1, 0, or MTLSAUTHZ_ELIMIT when n exceeds
 * the row. See the file comment for the algorithm.
 */
static NOINLINE int dp_match(const mtlsauthz__tok *t, size_t k, const struct wclass *c,
                             const char *v, size_t n, size_t lim)
{
    char sep = c->sep;
    uint64_t row[DP_WORDS];
    size_t lo = 0; /* every set bit lies in [lo, hi] */
    size_t hi = 0;
    size_t i;

    if (n > DP_MAX_LEN) {
        return MTLSAUTHZ_ELIMIT;
    }
    memset(row, 0, (n / 64u + 1u) * sizeof(row[0]));
    row[0] = 1;
    for (i = 0; i < k; i++) {
        size_t nlo = SIZE_MAX;
        size_t nhi = 0;
        size_t p;
        if (t[i].kind == MTLSAUTHZ__TOK_LIT) {
            size_t l = t[i].lit_len;
            /* Descending, so a bit moved up to p + l is never read again in this pass. */
            for (p = hi + 1; p-- > lo;) {
                if (row[p >> 6] == 0) {
                    p &= ~(size_t)63; /* skip the rest of an empty word */
                    continue;
                }
                if (!BIT_GET(row, p)) {
                    continue;
                }
                BIT_CLR(row, p);
                if (l <= n - p && v[p] == t[i].lit[0] && memcmp(v + p, t[i].lit, l) == 0) {
                    BIT_SET(row, p + l);
                    nlo = p + l;
                    if (nhi == 0) {
                        nhi = p + l;
                    }
                }
            }
        } else if (!c->simple) {
            dp_wild_units(row, c, tok_stop(t[i].kind), v, n, lim, lo, hi, &nlo, &nhi);
        } else if (t[i].kind == MTLSAUTHZ__TOK_STARSTAR) {
            /* Every position after the first reachable one. */
            if (lo >= n) {
                return 0;
            }
            for (p = lo; p <= hi; p++) {
                BIT_CLR(row, p);
            }
            for (p = lo + 1; p <= n; p++) {
                if ((p & 63u) == 0 && n - p >= 63) {
                    row[p >> 6] = ~(uint64_t)0;
                    p += 63;
                    continue;
                }
                BIT_SET(row, p);
            }
            nlo = lo + 1;
            nhi = n;
        } else {
            /* `*`: carry says some set bit a < p reaches p over separator-free bytes. */
            int carry = 0;
            for (p = lo; p <= n; p++) {
                int old = (int)BIT_GET(row, p);
                if (carry) {
                    BIT_SET(row, p);
                    if (nlo == SIZE_MAX) {
                        nlo = p;
                    }
                    nhi = p;
                } else {
                    BIT_CLR(row, p);
                    if (p > hi) {
                        break;
                    }
                }
                carry = (carry || old) && p < n && (sep == 0 || v[p] != sep);
            }
        }
        if (nlo == SIZE_MAX) {
            return 0;
        }
        lo = nlo;
        hi = nhi;
    }
    return hi == n && BIT_GET(row, n) ? 1 : 0;
}

/*
 * Tokens [w0, L, w2], two wildcards around a literal: what is left of the example policy's
 * `* /host/` + `**`, or of `GET /a/` + `*` + `/b/` + `*` once plain_match() has taken the outer
 * literals. The same answer as dp_match(), without the row. v = a L b must hold with a and b
 * non-empty, and a (b) free of the separator when w0 (w2) is `*` or a capture. Each condition
 * bounds where L may start: a non-empty b gives p <= n - l - 1; a separator-free a gives p <= the
 * first separator; a separator-free b gives p + l > the last one. Any occurrence of L starting in
 * that window is a match, and none outside it is.
 */
static int wild_lit_wild(const mtlsauthz__tok *t, char sep, const char *v, size_t n)
{
    const char *lit = t[1].lit;
    size_t l = t[1].lit_len, lo = 1, hi, p;

    if (n < l + 2u) {
        return 0;
    }
    hi = n - l - 1u;
    if (sep != 0 && t[0].kind != MTLSAUTHZ__TOK_STARSTAR) {
        const char *first = memchr(v, sep, n);
        if (first != NULL && (size_t)(first - v) < hi) {
            hi = (size_t)(first - v);
        }
    }
    if (sep != 0 && t[2].kind != MTLSAUTHZ__TOK_STARSTAR) {
        size_t last = n;
        while (last > 0 && v[last - 1u] != sep) {
            last--;
        }
        /* last: one past the last separator, or 0 when there is none. */
        if (last > l && last - l > lo) {
            lo = last - l;
        }
    }
    for (p = lo; p <= hi; p++) {
        if (v[p] == lit[0] && memcmp(v + p, lit, l) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Anchored match of the rest of a value with captures read as `*`: anchored literals first,
 * then one wildcard by hand, then the DP. Sets *cost to a rough step count for the budget.
 */
static int plain_match(const mtlsauthz__tok *t, size_t k, const struct wclass *c, const char *v,
                       size_t n, unsigned long *cost)
{
    char sep = c->sep;
    size_t lim;
    *cost = 1;
    if (k > 0 && t[0].kind == MTLSAUTHZ__TOK_LIT) {
        if (n < t[0].lit_len || memcmp(v, t[0].lit, t[0].lit_len) != 0) {
            return 0;
        }
        v += t[0].lit_len;
        n -= t[0].lit_len;
        t++;
        k--;
    }
    lim = n; /* the window below may stop short of the value's end; units do not */
    if (k > 0 && t[k - 1].kind == MTLSAUTHZ__TOK_LIT) {
        if (n < t[k - 1].lit_len ||
            memcmp(v + n - t[k - 1].lit_len, t[k - 1].lit, t[k - 1].lit_len) != 0) {
            return 0;
        }
        n -= t[k - 1].lit_len;
        k--;
    }
    if (k == 0) {
        return n == 0;
    }
    if (k == 1) {
        if (n == 0) {
            return 0;
        }
        if (!c->simple) {
            *cost = 1 + (unsigned long)(n / 64u);
            return span_ok(c, tok_stop(t[0].kind), v, 0, n, lim);
        }
        if (t[0].kind == MTLSAUTHZ__TOK_STARSTAR || sep == 0) {
            return 1;
        }
        return memchr(v, sep, n) == NULL;
    }
    *cost = 1 + (unsigned long)(n / 64u + 1u) * (unsigned long)k;
    if (k == 3 && t[1].kind == MTLSAUTHZ__TOK_LIT && t[1].lit_len > 0 &&
        t[0].kind != MTLSAUTHZ__TOK_LIT && t[2].kind != MTLSAUTHZ__TOK_LIT && n <= DP_MAX_LEN &&
        c->simple) {
        return wild_lit_wild(t, sep, v, n);
    }
    return dp_match(t, k, c, v, n, lim);
}

/* ---- matching: backtracking over captures that matter ---- */

struct bt {
    const mtlsauthz__pattern *p;
    const struct wclass *c;
    const char *s;
    size_t len;
    const mtlsauthz__str *bound;
    mtlsauthz__pattern_cb cb;
    void *ctx;
    unsigned long *budget;
    size_t tail;                     /* tokens from here on go to plain_match */
    size_t suffix_min[MAX_TOKS + 1]; /* least bytes tokens i.. can match */
    unsigned char care[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    unsigned char set[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
    mtlsauthz__str caps[MTLSAUTHZ__PATTERN_MAX_CAPTURES];
};

static int bt_charge(struct bt *b, unsigned long n)
{
    if (*b->budget < n) {
        *b->budget = 0;
        return MTLSAUTHZ_ELIMIT;
    }
    *b->budget -= n;
    return 0;
}

static int bt_accept(struct bt *b)
{
    if (b->cb == NULL) {
        return 1;
    }
    return b->cb(b->ctx, b->caps, b->p->ncaps) != 0 ? 1 : 0;
}

/*
 * Returns 1 (accepted), 0 (no accepted match from here), or MTLSAUTHZ_ELIMIT.
 *
 * Each distinct set of capture extents is reached once, except when two free wildcards that
 * bind nothing sit before a capture and can split the same bytes two ways (`**-**-{a}`): the
 * callback then sees the same values again. That costs budget, never correctness.
 */
static int bt_match(struct bt *b, size_t i, size_t pos)
{
    const mtlsauthz__tok *t;
    const mtlsauthz__tok *next;
    size_t q;
    size_t qmax;
    unsigned stop;
    int rc;

    if (bt_charge(b, 1) != 0) {
        return MTLSAUTHZ_ELIMIT;
    }
    if (b->len - pos < b->suffix_min[i]) {
        return 0;
    }
    if (i >= b->tail) {
        unsigned long cost;
        rc = plain_match(b->p->toks + i, b->p->ntoks - i, b->c, b->s + pos, b->len - pos, &cost);
        if (bt_charge(b, cost) != 0) {
            return MTLSAUTHZ_ELIMIT;
        }
        if (rc != 1) {
            return rc;
        }
        return bt_accept(b);
    }

    t = &b->p->toks[i];
    if (t->kind == MTLSAUTHZ__TOK_LIT) {
        if (memcmp(b->s + pos, t->lit, t->lit_len) != 0) {
            return 0;
        }
        return bt_match(b, i + 1, pos + t->lit_len);
    }
    if (t->kind == MTLSAUTHZ__TOK_CAPTURE && b->care[t->cap]) {
        const mtlsauthz__str *fixed = NULL;
        if (b->bound != NULL && b->bound[t->cap].ptr != NULL) {
            fixed = &b->bound[t->cap];
        } else if (b->set[t->cap]) {
            fixed = &b->caps[t->cap];
        }
        if (fixed != NULL) {
            /* A simple class's check before the search (non-empty, separator-free) holds
             * anywhere. Units depend on what follows, so a general class checks in place. */
            if (b->len - pos < fixed->len || memcmp(b->s + pos, fixed->ptr, fixed->len) != 0) {
                return 0;
            }
            if (!b->c->simple && !span_ok(b->c, STOP_STAR, b->s, pos, pos + fixed->len, b->len)) {
                return 0;
            }
            if (!b->set[t->cap]) {
                b->caps[t->cap].ptr = b->s + pos;
                b->caps[t->cap].len = fixed->len;
                b->set[t->cap] = 1;
                rc = bt_match(b, i + 1, pos + fixed->len);
                b->set[t->cap] = 0;
                return rc;
            }
            return bt_match(b, i + 1, pos + fixed->len);
        }
    }

    /* A free wildcard: try every extent, shortest first. Wildcards are never adjacent, so what
     * follows is a literal (whose first byte must come next) or the end of the pattern. */
    next = i + 1 < b->p->ntoks ? &b->p->toks[i + 1] : NULL;
    qmax = b->len - b->suffix_min[i + 1];
    stop = tok_stop(t->kind);
    q = pos;
    while (q < qmax) {
        size_t u = unit_len(b->c, b->s, q, b->len);
        if (!unit_ok(b->c, stop, b->s, q, u)) {
            break;
        }
        q += u;
        if (q > qmax) {
            break;
        }
        if (next == NULL ? q != b->len
                         : next->kind == MTLSAUTHZ__TOK_LIT && b->s[q] != next->lit[0]) {
            continue;
        }
        if (t->kind == MTLSAUTHZ__TOK_CAPTURE) {
            b->caps[t->cap].ptr = b->s + pos;
            b->caps[t->cap].len = q - pos;
            b->set[t->cap] = 1;
        }
        rc = bt_match(b, i + 1, q);
        if (t->kind == MTLSAUTHZ__TOK_CAPTURE) {
            b->set[t->cap] = 0;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* What a callback sees for a pattern without captures: a valid pointer, zero entries. */
static const mtlsauthz__str no_caps[1];

int mtlsauthz__pattern_match(const mtlsauthz__pattern *p, const char *s, size_t len,
                             const mtlsauthz__str *bound, mtlsauthz__pattern_cb cb, void *ctx,
                             unsigned long *budget)
{
    unsigned char count[MTLSAUTHZ__PATTERN_MAX_CAPTURES] = {0};
    unsigned long local_budget = DEFAULT_BUDGET;
    const struct wclass *wc;
    int any_care = 0;
    unsigned c;
    size_t i;
    int rc;

    /* A bad call is an error, never a "no match" that would let a deny rule be skipped. */
    if (p == NULL || p->toks == NULL || p->ntoks == 0 || (s == NULL && len > 0) ||
        p->wclass >= MTLSAUTHZ__WC_COUNT) {
        return MTLSAUTHZ_EINVAL;
    }
    if (len < p->min_len) {
        return 0;
    }
    if (p->is_literal) {
        if (len != p->text_len || memcmp(s, p->text, len) != 0) {
            return 0;
        }
        return cb == NULL || cb(ctx, no_caps, 0) != 0 ? 1 : 0;
    }

    if (p->ncaps > 0) {
        for (i = 0; i < p->ntoks; i++) {
            if (p->toks[i].kind == MTLSAUTHZ__TOK_CAPTURE) {
                count[p->toks[i].cap]++;
            }
        }
        for (c = 0; c < p->ncaps; c++) {
            if (cb != NULL || count[c] > 1 || (bound != NULL && bound[c].ptr != NULL)) {
                any_care = 1;
            }
            /* A forced value that `*` could never match means no match at all. */
            if (bound != NULL && bound[c].ptr != NULL &&
                !span_ok(&wclasses[p->wclass], STOP_STAR, bound[c].ptr, 0, bound[c].len,
                         bound[c].len)) {
                return 0;
            }
        }
    }

    wc = &wclasses[p->wclass];
    if (!any_care) {
        unsigned long cost;
        rc = plain_match(p->toks, p->ntoks, wc, s, len, &cost);
        if (rc != 1) {
            return rc;
        }
        return cb == NULL || cb(ctx, no_caps, 0) != 0 ? 1 : 0;
    }

    {
        struct bt b;
        memset(&b, 0, sizeof(b));
        b.p = p;
        b.c = wc;
        b.s = s;
        b.len = len;
        b.bound = bound;
        b.cb = cb;
        b.ctx = ctx;
        b.budget = budget != NULL ? budget : &local_budget;
        for (c = 0; c < p->ncaps; c++) {
            b.care[c] = cb != NULL || count[c] > 1 || (bound != NULL && bound[c].ptr != NULL);
        }
        b.tail = 0;
        b.suffix_min[p->ntoks] = 0;
        for (i = p->ntoks; i-- > 0;) {
            const mtlsauthz__tok *t = &p->toks[i];
            b.suffix_min[i] =
                b.suffix_min[i + 1] + (t->kind == MTLSAUTHZ__TOK_LIT ? t->lit_len : 1);
            if (b.tail == 0 && t->kind == MTLSAUTHZ__TOK_CAPTURE && b.care[t->cap]) {
                b.tail = i + 1;
            }
        }
        return bt_match(&b, 0, 0);
    }
}

/* ---- lint relations ---- */

/* Element j of `p` in the lint view, walked in order without building an array. */
struct walk {
    const mtlsauthz__pattern *p;
    size_t tok;
    size_t off;
};

static void walk_init(struct walk *w, const mtlsauthz__pattern *p)
{
    w->p = p;
    w->tok = 0;
    w->off = 0;
}

static unsigned walk_next(struct walk *w)
{
    const mtlsauthz__tok *t = &w->p->toks[w->tok];
    unsigned e;
    if (t->kind == MTLSAUTHZ__TOK_LIT) {
        e = (unsigned char)t->lit[w->off++];
        if (w->off == t->lit_len) {
            w->tok++;
            w->off = 0;
        }
        return e;
    }
    w->tok++;
    return t->kind == MTLSAUTHZ__TOK_STARSTAR ? ELEM_ANY : ELEM_STAR;
}

static size_t elem_count(const mtlsauthz__pattern *p)
{
    size_t i;
    size_t n = 0;
    for (i = 0; i < p->ntoks; i++) {
        n += p->toks[i].kind == MTLSAUTHZ__TOK_LIT ? p->toks[i].lit_len : 1;
    }
    return n;
}

static int is_wild(unsigned e)
{
    return e >= ELEM_STAR;
}

static unsigned elem_stop(unsigned e)
{
    return e == ELEM_ANY ? STOP_ANY : STOP_STAR;
}

/* The byte b may be one byte of what wildcard element e of class c matches. Under escapes any
 * byte may (inside an escape), so the answer is the byte view's superset. */
static int elem_may_take(const struct wclass *c, unsigned e, unsigned b)
{
    return c->escapes || (c->stop[b] & elem_stop(e)) == 0;
}

/* Some byte is allowed by both element x (of a pattern of class cx) and y (cy). */
static int elem_meet(unsigned x, const struct wclass *cx, unsigned y, const struct wclass *cy)
{
    if (!is_wild(x) && !is_wild(y)) {
        return x == y;
    }
    if (!is_wild(x)) {
        return elem_may_take(cy, y, x);
    }
    if (!is_wild(y)) {
        return elem_may_take(cx, x, y);
    }
    return 1; /* every class stops a wildcard at a handful of bytes at most */
}

/* Every string narrow element n stands for is one wide element w allows (covers() has checked
 * that the byte view is exact for these classes). sub[i][j]: a narrow wildcard of kind i (0 `*`,
 * 1 `**`) takes only what a wide wildcard of kind j takes. */
static int elem_sub(unsigned n, unsigned w, const struct wclass *cw, const unsigned char sub[2][2])
{
    if (!is_wild(w)) {
        return n == w;
    }
    if (!is_wild(n)) {
        return !(cw->escapes && n == '\\') && (cw->stop[n] & elem_stop(w)) == 0;
    }
    return sub[n == ELEM_ANY][w == ELEM_ANY];
}

static int valid_for_lint(const mtlsauthz__pattern *p)
{
    return p != NULL && p->toks != NULL && p->ntoks > 0 && p->wclass < MTLSAUTHZ__WC_COUNT &&
           elem_count(p) <= ELEM_MAX;
}

int mtlsauthz__pattern_may_overlap(const mtlsauthz__pattern *a, const mtlsauthz__pattern *b)
{
    uint64_t prev[ELEM_WORDS];
    uint64_t cur[ELEM_WORDS];
    struct walk wa;
    size_t ea;
    size_t eb;
    size_t s;
    size_t t;
    size_t words;

    if (!valid_for_lint(a) || !valid_for_lint(b)) {
        return 1; /* unsure */
    }
    if (a->min_len > 0 && b->is_literal && b->text_len < a->min_len) {
        return 0;
    }
    ea = elem_count(a);
    eb = elem_count(b);
    words = eb / 64u + 1u;
    memset(prev, 0, words * sizeof(prev[0]));
    prev[0] = 1; /* R(0, 0); R(0, t > 0) = 0 */
    walk_init(&wa, a);
    for (s = 1; s <= ea; s++) {
        unsigned x = walk_next(&wa);
        struct walk wb;
        int any = 0;
        walk_init(&wb, b);
        memset(cur, 0, words * sizeof(cur[0])); /* R(s > 0, 0) = 0 */
        for (t = 1; t <= eb; t++) {
            unsigned y = walk_next(&wb);
            int r;
            if (!elem_meet(x, &wclasses[a->wclass], y, &wclasses[b->wclass])) {
                continue;
            }
            /* Both step forward; or b's wildcard loops while a steps; or a's loops. */
            r = BIT_GET(prev, t - 1) || (is_wild(y) && BIT_GET(prev, t)) ||
                (is_wild(x) && BIT_GET(cur, t - 1));
            if (r) {
                BIT_SET(cur, t);
                any = 1;
            }
        }
        if (!any) {
            return 0;
        }
        memcpy(prev, cur, words * sizeof(prev[0]));
    }
    return BIT_GET(prev, eb) ? 1 : 0;
}

static int same_pattern(const mtlsauthz__pattern *a, const mtlsauthz__pattern *b)
{
    size_t i;
    if (a->ntoks != b->ntoks || a->wclass != b->wclass) {
        return 0;
    }
    for (i = 0; i < a->ntoks; i++) {
        const mtlsauthz__tok *x = &a->toks[i];
        const mtlsauthz__tok *y = &b->toks[i];
        if (x->kind != y->kind) {
            return 0;
        }
        /* Capture indices follow first appearance, so equal index sequences mean the same
         * names-are-equal structure. */
        if (x->kind == MTLSAUTHZ__TOK_CAPTURE && x->cap != y->cap) {
            return 0;
        }
        if (x->kind == MTLSAUTHZ__TOK_LIT &&
            (x->lit_len != y->lit_len || memcmp(x->lit, y->lit, x->lit_len) != 0)) {
            return 0;
        }
    }
    return 1;
}

/* 1 if a literal of `p` has a backslash byte. */
static int has_literal_backslash(const mtlsauthz__pattern *p)
{
    size_t i;
    for (i = 0; i < p->ntoks; i++) {
        if (p->toks[i].kind == MTLSAUTHZ__TOK_LIT &&
            memchr(p->toks[i].lit, '\\', p->toks[i].lit_len) != NULL) {
            return 1;
        }
    }
    return 0;
}

int mtlsauthz__pattern_covers(const mtlsauthz__pattern *wide, const mtlsauthz__pattern *narrow)
{
    uint64_t prev[ELEM_WORDS];
    uint64_t cur[ELEM_WORDS];
    unsigned char count[MTLSAUTHZ__PATTERN_MAX_CAPTURES] = {0};
    unsigned char sub[2][2];
    const struct wclass *cw;
    const struct wclass *cn;
    struct walk ww;
    size_t ew;
    size_t en;
    size_t s;
    size_t t;
    size_t i;
    size_t words;

    if (!valid_for_lint(wide) || !valid_for_lint(narrow)) {
        return 0; /* unsure */
    }
    for (i = 0; i < wide->ntoks; i++) {
        if (wide->toks[i].kind == MTLSAUTHZ__TOK_CAPTURE && ++count[wide->toks[i].cap] > 1) {
            return same_pattern(wide, narrow);
        }
    }
    cw = &wclasses[wide->wclass];
    cn = &wclasses[narrow->wclass];
    /* See the file comment: the byte view is exact only without escapes, or with the same
     * escaping class on both sides and no literal backslash in `narrow`. */
    if ((cw->escapes || cn->escapes) &&
        (wide->wclass != narrow->wclass || has_literal_backslash(narrow))) {
        return same_pattern(wide, narrow);
    }
    if (narrow->min_len < wide->min_len) {
        return 0; /* narrow matches a string too short for wide */
    }
    for (i = 0; i < 4; i++) {
        unsigned sn = i & 1u ? STOP_ANY : STOP_STAR;
        unsigned sw = i & 2u ? STOP_ANY : STOP_STAR;
        unsigned b;
        sub[i & 1u][i >> 1] = 1;
        for (b = 0; b < 256; b++) {
            if ((cn->stop[b] & sn) == 0 && (cw->stop[b] & sw) != 0) {
                sub[i & 1u][i >> 1] = 0;
            }
        }
    }
    ew = elem_count(wide);
    en = elem_count(narrow);
    words = en / 64u + 1u;
    memset(prev, 0, words * sizeof(prev[0]));
    prev[0] = 1;
    walk_init(&ww, wide);
    for (s = 1; s <= ew; s++) {
        unsigned w = walk_next(&ww);
        struct walk wn;
        int any = 0;
        walk_init(&wn, narrow);
        memset(cur, 0, words * sizeof(cur[0]));
        for (t = 1; t <= en; t++) {
            unsigned n = walk_next(&wn);
            if (!elem_sub(n, w, cw, sub)) {
                continue;
            }
            /* Wide element s-1 takes narrow element t-1 alone, or its loop takes it too. */
            if (BIT_GET(prev, t - 1) || (is_wild(w) && BIT_GET(cur, t - 1))) {
                BIT_SET(cur, t);
                any = 1;
            }
        }
        if (!any) {
            return 0;
        }
        memcpy(prev, cur, words * sizeof(prev[0]));
    }
    return BIT_GET(prev, en) ? 1 : 0;
}
